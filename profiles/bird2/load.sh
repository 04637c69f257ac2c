#!/bin/sh
# BIRD 2.0 as Debian packages it (bird.service), run inside the pack's guest systemd, whose
# network namespace is its own (loopback only), so the routes it installs are the guest's.
#   setup: /etc/bird/bird.conf with device, direct, kernel (export all, learning the kernel's
#          own routes) and static protocols, a BGP session (192.0.2.1 to 192.0.2.2, both on
#          the guest's lo) to a second BIRD on port 1790 (a unit of its own,
#          pack-bird-peer.service, its socket in /run/pack-bird) that announces
#          10.98.0.0/24; static routes come from /etc/bird/pack-static.conf, which load and
#          check rewrite; bird.service started, the BGP session Established.
#   load:  rounds of birdc show status/protocols/route/interfaces/memory/symbols; static
#          routes added and removed by rewriting pack-static.conf and `birdc configure`
#          (systemctl reload too); a protocol disabled and enabled; BGP routes counted.
#   check: a static route to a prefix chosen now, added by a reload, is in the kernel's table
#          as `proto bird`; the BGP peer's 10.98.0.0/24 is in the kernel's table; birdc says
#          the BGP session is Established.
set -eu
birdc() { /usr/sbin/birdc "$@"; }
statics() {
    {
        echo "protocol static packstatic {"
        echo "    ipv4;"
        for p in "$@"; do echo "    route $p blackhole;"; done
        echo "}"
    } > /etc/bird/pack-static.conf.new
    chown bird:bird /etc/bird/pack-static.conf.new
    chmod 640 /etc/bird/pack-static.conf.new
    mv /etc/bird/pack-static.conf.new /etc/bird/pack-static.conf
}
wait_for() {
    i=0
    until eval "$1" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "timed out: $1" >&2; eval "$1" || true; return 1; }; sleep 0.2
    done
}
established() { birdc show protocols packbgp | grep -q Established; }
in_kernel() { ip -4 route show "$1" | grep -q 'proto bird'; }
case "${1:-}" in
setup)
    # BIRD takes no BGP neighbour on 127.0.0.0/8: two addresses of the guest's own on lo.
    ip link set lo up
    for a in 192.0.2.1 192.0.2.2; do
        ip -4 addr show dev lo | grep -q "inet $a/" || ip addr add "$a/32" dev lo
    done
    cat > /etc/bird/bird.conf <<'CONF'
log syslog all;
router id 192.0.2.1;
protocol device { }
protocol direct { ipv4; interface "lo"; }
protocol kernel { learn; ipv4 { import all; export where source != RTS_DEVICE; }; }
protocol kernel { ipv6 { export all; }; }
protocol bgp packbgp {
    local 192.0.2.1 as 65001;
    neighbor 192.0.2.2 port 1790 as 65002;
    multihop;
    ipv4 { import all; export none; };
}
include "/etc/bird/pack-static.conf";
CONF
    chown bird:bird /etc/bird/bird.conf
    statics 10.97.0.0/24
    mkdir -p /etc/pack-bird /run/pack-bird
    cat > /etc/pack-bird/peer.conf <<'CONF'
log stderr all;
router id 192.0.2.2;
protocol device { }
protocol static { ipv4; route 10.98.0.0/24 blackhole; }
protocol bgp {
    local 192.0.2.2 port 1790 as 65002;
    neighbor 192.0.2.1 port 179 as 65001;
    multihop;
    ipv4 { import none; export all; };
}
CONF
    systemctl is-active --quiet pack-bird-peer.service ||
        systemd-run --unit pack-bird-peer --property=Restart=always \
            /usr/sbin/bird -f -c /etc/pack-bird/peer.conf -s /run/pack-bird/peer.ctl \
            -P /run/pack-bird/peer.pid >/dev/null
    systemctl start bird.service
    wait_for 'birdc show status'
    wait_for established
    wait_for 'in_kernel 10.98.0.0/24'
    ;;
load)
    wait_for 'birdc show status'
    for r in 1 2 3; do
        birdc show status >/dev/null
        birdc show protocols all >/dev/null
        birdc show route all >/dev/null
        birdc show route count >/dev/null
        birdc show interfaces >/dev/null
        birdc show memory >/dev/null
        birdc show symbols >/dev/null
        statics 10.97.0.0/24 "10.96.$r.0/24" "10.95.$r.0/24"
        birdc configure >/dev/null
        wait_for "in_kernel 10.96.$r.0/24"
        statics 10.97.0.0/24 "10.95.$r.0/24"
        systemctl reload bird.service
        wait_for "! in_kernel 10.96.$r.0/24"
        birdc disable packstatic >/dev/null
        wait_for '! in_kernel 10.97.0.0/24'
        birdc enable packstatic >/dev/null
        wait_for 'in_kernel 10.97.0.0/24'
        birdc show route protocol packbgp >/dev/null
    done
    wait_for established
    ;;
check)
    wait_for 'birdc show status'
    n=$(( $(od -An -tu1 -N1 /dev/urandom) % 200 + 10 ))
    statics 10.97.0.0/24 "10.94.$n.0/24"
    birdc configure | grep -q 'Reconfigured\|Reconfiguration in progress'
    wait_for "in_kernel 10.94.$n.0/24"
    wait_for established
    wait_for 'in_kernel 10.98.0.0/24'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
