#!/bin/sh
# keepalived 2.2.7 as Debian packages it (keepalived.service: Type=notify, root, `keepalived
# --dont-fork`, ExecReload=kill -HUP), run inside the pack's guest systemd, which has only
# loopback: keepalived gets a veth pair made here. VRRP only (no virtual servers).
#   setup: a veth pair, pack0 (10.79.0.1/24) in the guest's network namespace for keepalived and
#          pack1 in a network namespace `packk` of its own (up, silent: no other router);
#          /run/pack-healthy (the health file); /etc/keepalived/notify.sh, which writes the
#          instance's state to /run/keepalived.state; /etc/keepalived/keepalived.conf: script
#          security on, scripts as root, a vrrp_script `healthy` (`/usr/bin/test -e
#          /run/pack-healthy` every second, fall 1, rise 1), one vrrp_instance PACK on pack0
#          (state MASTER, priority 150, virtual_router_id 79, PASS authentication) with the
#          VIP 10.79.0.100/24, a virtual route 10.79.1.0/24 via 10.79.0.2, the script tracked
#          and the notify script; the unit started; the VIP awaited.
#   load:  the health file removed (the instance goes to FAULT, the VIP and route go away)
#          and put back (BACKUP, then MASTER again, the VIP back), twice; a reload (SIGHUP)
#          while MASTER; a data dump (SIGUSR1, /tmp/keepalived.data) and a stats dump
#          (SIGUSR2, /tmp/keepalived.stats); `ip addr`/`ip route` queries; for about 14 s.
#   check: with the health file, 10.79.0.100 is on pack0, the route 10.79.1.0/24 is there and
#          the notify file says MASTER; with it removed, the VIP leaves pack0 and the notify
#          file says FAULT; put back, the VIP returns and the notify file says MASTER again.
set -eu
VIP=10.79.0.100
STATE=/run/keepalived.state
has_vip() { ip -4 -o addr show dev pack0 | grep -q " $VIP/24 "; }
# wait_for WHAT SECONDS COMMAND...: polls the command every 0.2 s.
wait_for() {
    what=$1 secs=$2; shift 2
    i=0
    until "$@"; do
        i=$((i + 1)); [ $i -lt $((secs * 5)) ] || { echo "$what: not within $secs s" >&2; return 1; }; sleep 0.2
    done
}
state_is() { [ "$(cat "$STATE" 2>/dev/null)" = "$1" ]; }
no_vip() { ! has_vip; }
has_route() { ip -4 route show 10.79.1.0/24 | grep -q "via 10.79.0.2 dev pack0"; }
master() {
    wait_for "VIP $VIP on pack0" 20 has_vip
    wait_for "the notify file $STATE saying MASTER" 5 state_is MASTER ||
        { echo "it says: $(cat "$STATE" 2>/dev/null)" >&2; return 1; }
}
kpid() { systemctl show -P MainPID keepalived.service; }
case "${1:-}" in
setup)
    ip link add pack0 type veth peer name pack1
    ip netns add packk
    ip link set pack1 netns packk
    ip addr add 10.79.0.1/24 dev pack0
    ip link set pack0 up
    ip netns exec packk ip link set lo up
    ip netns exec packk ip addr add 10.79.0.2/24 dev pack1
    ip netns exec packk ip link set pack1 up
    touch /run/pack-healthy
    cat >/etc/keepalived/notify.sh <<'SH'
#!/bin/sh
# keepalived notify: TYPE NAME STATE PRIORITY
printf '%s\n' "$3" >/run/keepalived.state
SH
    chmod 755 /etc/keepalived/notify.sh
    cat >/etc/keepalived/keepalived.conf <<'CONF'
global_defs {
    router_id pack
    enable_script_security
    script_user root
}

vrrp_script healthy {
    script "/usr/bin/test -e /run/pack-healthy"
    interval 1
    fall 1
    rise 1
}

vrrp_instance PACK {
    state MASTER
    interface pack0
    virtual_router_id 79
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass pack79
    }
    virtual_ipaddress {
        10.79.0.100/24 dev pack0
    }
    virtual_routes {
        10.79.1.0/24 via 10.79.0.2 dev pack0
    }
    track_script {
        healthy
    }
    notify /etc/keepalived/notify.sh
}
CONF
    systemctl start keepalived.service
    master
    ;;
load)
    touch /run/pack-healthy
    master
    end=$(($(date +%s) + 14))
    n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        ip addr show dev pack0 >/dev/null; ip route show dev pack0 >/dev/null
        case $n in
        1 | 4)
            rm -f /run/pack-healthy
            wait_for "VIP gone" 5 no_vip || true
            cat "$STATE" 2>/dev/null || true
            touch /run/pack-healthy
            wait_for "VIP back" 10 has_vip || true
            ;;
        2)
            systemctl reload keepalived.service || true
            sleep 1
            ;;
        *)
            pid=$(kpid)
            kill -s "$(keepalived --signum=DATA)" "$pid" 2>/dev/null || true
            kill -s "$(keepalived --signum=STATS)" "$pid" 2>/dev/null || true
            sleep 0.5
            head -n 5 /tmp/keepalived.data 2>/dev/null || true
            head -n 5 /tmp/keepalived.stats 2>/dev/null || true
            sleep 0.5
            ;;
        esac
    done
    touch /run/pack-healthy
    master
    ;;
check)
    touch /run/pack-healthy
    master
    wait_for "route 10.79.1.0/24 via 10.79.0.2 on pack0" 5 has_route
    rm -f /run/pack-healthy
    wait_for "VIP $VIP leaving pack0 once the health file is gone" 10 no_vip ||
        { touch /run/pack-healthy; exit 1; }
    wait_for "the notify file $STATE saying FAULT" 5 state_is FAULT ||
        { echo "it says: $(cat "$STATE" 2>/dev/null)" >&2; touch /run/pack-healthy; exit 1; }
    touch /run/pack-healthy
    master
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
