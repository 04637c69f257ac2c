#!/bin/sh
# Kea 2.2's DHCPv4 server as Debian packages it (kea-dhcp4-server.service, user _kea with
# CAP_NET_RAW and CAP_NET_BIND_SERVICE as ambient capabilities, raw sockets, memfile leases in
# /var/lib/kea, the control socket /run/kea/kea4-ctrl-socket), run inside the pack's guest
# systemd, which has only loopback: the server gets a veth pair made here.
#   setup: a veth pair, pk0 (10.77.0.1/24) in the guest's network namespace for Kea and pk1 in
#          a network namespace `packc` of its own for the client (busybox udhcpc);
#          /etc/kea/kea-dhcp4.conf as a user writes it from Debian's example: interface pk0,
#          subnet 10.77.0.0/24 with a pool .100-.150, a router and DNS option, a reservation of
#          10.77.0.99 for the MAC 02:77:00:00:00:99, the lease_cmds hook loaded, Debian's
#          control socket, memfile and logging kept; the lease file cleanup (kea-lfc, run by
#          Kea every lfc-interval: 3600 s as packaged) every 4 s, so that a recording of a few
#          seconds sees it; the unit started; a lease for the MAC 02:77:00:00:00:01, its
#          address kept in /var/tmp/pack-kea-lease.
#   load:  leases for 12 clients (MACs of their own), a release, the reserved client, over
#          the control socket status-get, statistics, lease4-get-all, config-reload and
#          leases-reclaim, a SIGHUP (configuration re-read), for about 8 s.
#   check: the reserved client gets 10.77.0.99; a client with a new MAC gets an address of
#          the pool, and lease4-get over the control socket (lease_cmds) knows it; the client
#          from setup gets its address back (the memfile lease database kept through restarts
#          and crashes).
set -eu
ctl() { # COMMAND [ARGUMENTS-JSON]
    if [ $# -gt 1 ]; then body="{\"command\": \"$1\", \"arguments\": $2}"; else body="{\"command\": \"$1\"}"; fi
    printf '%s' "$body" | timeout 5 socat -t 5 - UNIX-CONNECT:/run/kea/kea4-ctrl-socket
}
up() {
    i=0
    until ctl status-get 2>/dev/null | grep -q '"result": 0'; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "kea does not answer on its control socket" >&2; return 1; }; sleep 0.2
    done
}
# lease MAC: one DHCP exchange from packc with that MAC; prints the address leased.
lease() {
    ip netns exec packc ip link set pk1 address "$1"
    ip netns exec packc timeout 15 busybox udhcpc -i pk1 -n -q -f -t 5 -T 1 -s /bin/true 2>&1 |
        sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p'
}
case "${1:-}" in
setup)
    ip link add pk0 type veth peer name pk1
    ip netns add packc
    ip link set pk1 netns packc
    ip addr add 10.77.0.1/24 dev pk0
    ip link set pk0 up
    ip netns exec packc ip link set lo up
    ip netns exec packc ip link set pk1 up
    cat >/etc/kea/kea-dhcp4.conf <<'CONF'
{
"Dhcp4": {
    "interfaces-config": { "interfaces": [ "pk0" ] },
    "control-socket": { "socket-type": "unix", "socket-name": "/run/kea/kea4-ctrl-socket" },
    "lease-database": { "type": "memfile", "lfc-interval": 4 },
    "hooks-libraries": [
        { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so" }
    ],
    "expired-leases-processing": {
        "reclaim-timer-wait-time": 10,
        "flush-reclaimed-timer-wait-time": 25,
        "hold-reclaimed-time": 3600,
        "max-reclaim-leases": 100,
        "max-reclaim-time": 250,
        "unwarned-reclaim-cycles": 5
    },
    "renew-timer": 900,
    "rebind-timer": 1800,
    "valid-lifetime": 3600,
    "option-data": [
        { "name": "domain-name-servers", "data": "10.77.0.1" },
        { "name": "domain-name", "data": "pack.test" }
    ],
    "subnet4": [
        {
            "id": 1,
            "subnet": "10.77.0.0/24",
            "pools": [ { "pool": "10.77.0.100 - 10.77.0.150" } ],
            "option-data": [ { "name": "routers", "data": "10.77.0.1" } ],
            "reservations": [
                { "hw-address": "02:77:00:00:00:99", "ip-address": "10.77.0.99", "hostname": "reserved" }
            ]
        }
    ],
    "loggers": [
        {
            "name": "kea-dhcp4",
            "output_options": [ { "output": "stdout", "pattern": "%-5p %m\n" } ],
            "severity": "INFO",
            "debuglevel": 0
        }
    ]
}
}
CONF
    systemctl start kea-dhcp4-server.service
    up
    got=$(lease 02:77:00:00:00:01)
    case "$got" in 10.77.0.*) ;; *) echo "no lease at setup: '$got'" >&2; exit 1 ;; esac
    echo "$got" >/var/tmp/pack-kea-lease
    ;;
load)
    up
    for i in $(seq 10 21); do lease "02:77:00:00:01:$i" >/dev/null || true; done
    # A release: udhcpc -R sends DHCPRELEASE when it quits.
    ip netns exec packc ip link set pk1 address 02:77:00:00:02:01
    ip netns exec packc timeout 15 busybox udhcpc -i pk1 -n -q -R -t 5 -T 1 -s /bin/true >/dev/null 2>&1 || true
    lease 02:77:00:00:00:99 >/dev/null || true
    for c in status-get statistic-get-all lease4-get-all config-get; do ctl $c >/dev/null 2>&1 || true; done
    ctl config-reload >/dev/null 2>&1 || true
    up || true
    ctl leases-reclaim '{"remove": false}' >/dev/null 2>&1 || true
    systemctl kill -s HUP kea-dhcp4-server.service || true
    sleep 1
    up
    for i in $(seq 30 33); do lease "02:77:00:00:01:$i" >/dev/null || true; done
    # The lease file cleanup (kea-lfc) runs every 4 s.
    sleep 4
    ;;
check)
    up
    got=$(lease 02:77:00:00:00:99)
    [ "$got" = 10.77.0.99 ] || { echo "the reserved client got '$got', not 10.77.0.99" >&2; exit 1; }
    mac=$(printf '02:78:%02x:%02x:%02x:%02x' $(od -An -N4 -tu1 /dev/urandom))
    got=$(lease "$mac")
    case "$got" in
    10.77.0.1[0-4][0-9] | 10.77.0.150) ;;
    *) echo "a new client ($mac) got '$got', not an address of the pool" >&2; exit 1 ;;
    esac
    ctl lease4-get "{\"ip-address\": \"$got\"}" | grep -q "\"hw-address\": \"$mac\"" ||
        { echo "lease4-get does not know $got for $mac" >&2; ctl lease4-get "{\"ip-address\": \"$got\"}" >&2; exit 1; }
    kept=$(cat /var/tmp/pack-kea-lease)
    got=$(lease 02:77:00:00:00:01)
    [ "$got" = "$kept" ] || { echo "the client from setup got '$got', not its lease $kept" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
