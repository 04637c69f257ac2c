#!/bin/sh
# dnsmasq 2.90 as Debian packages it (dnsmasq.service through /etc/init.d/dnsmasq, dropping to
# user dnsmasq), run inside the pack's guest systemd, which has only loopback: DNS answers come
# from local data, DHCP is served on a veth pair made here.
#   setup: a veth pair, pk0 (10.77.0.1/24) in the guest's network namespace for dnsmasq and
#          pk1 in a network namespace `packc` of its own for the client (busybox udhcpc);
#          /etc/dnsmasq.d/pack.conf: local domain pack.test, names from /etc/pack.hosts, an
#          address rule, a DHCP range on pk0 that registers clients' names; the unit restarted.
#   load:  DHCP leases for 10 client names, 300 queries (UDP and TCP, NXDOMAINs), a reload
#          (SIGHUP: hosts files and leases re-read).
#   check: host1.pack.test is 192.0.2.20 (UDP and TCP), a missing name is NXDOMAIN, a DHCP
#          client in packc gets a lease in 10.77.0.0/24 and its name answers with that address.
set -eu
q() { dig +time=2 +tries=1 @127.0.0.1 "$@"; }
up() {
    i=0
    until [ "$(q +short host1.pack.test A 2>/dev/null)" = 192.0.2.20 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
# lease NAME: one DHCP exchange from packc; prints the address leased.
lease() {
    ip netns exec packc timeout 15 busybox udhcpc -i pk1 -n -q -f -t 5 -T 1 \
        -s /bin/true -x "hostname:$1" 2>&1 | sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p'
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
    printf '192.0.2.20 host1.pack.test host1\n192.0.2.21 host2.pack.test host2\n' >/etc/pack.hosts
    cat >/etc/dnsmasq.d/pack.conf <<'CONF'
domain-needed
bogus-priv
local=/pack.test/
domain=pack.test
expand-hosts
addn-hosts=/etc/pack.hosts
address=/wild.pack.test/192.0.2.30
dhcp-range=pk0,10.77.0.100,10.77.0.150,255.255.255.0,1h
dhcp-option=option:router,10.77.0.1
dhcp-authoritative
CONF
    systemctl restart dnsmasq.service
    up
    ;;
load)
    up
    # DHCP first: the recording's window is short.
    for i in $(seq 10); do lease "load$i" >/dev/null || true; done
    for i in $(seq 50); do
        for t in "host1.pack.test A" "host2.pack.test A" "a$i.wild.pack.test A" "missing$i.pack.test A" "host1 A"; do
            q +short $t >/dev/null || true
        done
        q +tcp +short host2.pack.test A >/dev/null || true
    done
    systemctl reload dnsmasq.service || true
    for i in $(seq 20); do q +short host1.pack.test A >/dev/null || true; done
    ;;
check)
    up
    [ "$(q +short +tcp host1.pack.test A)" = 192.0.2.20 ]
    q missing.pack.test A | grep -q NXDOMAIN
    name=c$(date +%s%N)
    addr=$(lease "$name")
    case "$addr" in 10.77.0.*) ;; *) echo "no DHCP lease: '$addr'" >&2; exit 1 ;; esac
    i=0
    until [ "$(q +short "$name.pack.test" A)" = "$addr" ]; do
        i=$((i + 1)); [ $i -lt 25 ] || { echo "$name.pack.test is not $addr" >&2; exit 1; }; sleep 0.2
    done
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
