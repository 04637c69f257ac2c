#!/bin/sh
# NSD 4, an authoritative-only DNS server, as Debian packages it (port 53 on every address,
# its unit already confined: ProtectSystem=strict, a bounding set, a syscall filter; chroot-less,
# workers as user nsd, logs to syslog), run inside the pack's guest systemd. Clients: dig.
#   setup: a zone pack.test (SOA, NS, A, AAAA, MX, TXT, 50 hosts) in
#          /etc/nsd/pack.test.zone, zone transfers to 127.0.0.1 allowed, nsd-control enabled
#          on its default 127.0.0.1:8952 with the keys the postinst made; the unit started.
#   load:  600 queries over UDP and 100 over TCP (A, AAAA, MX, TXT, SOA, NS), NXDOMAINs, a
#          refused query for a zone it does not serve, two AXFRs, nsd-control status, stats and
#          zonestatus, the zone's serial raised and `nsd-control reload pack.test`, a reload
#          (HUP), for about 4 s.
#   check: www.pack.test answers 192.0.2.80 over UDP and TCP, a missing name NXDOMAIN with the
#          zone's SOA, an AXFR ends with the SOA, nsd-control status answers.
set -eu
q() { dig +time=2 +tries=1 @127.0.0.1 "$@"; }
up() {
    i=0
    until q +short pack.test SOA | grep -q .; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "nsd does not answer for pack.test" >&2; return 1; }; sleep 0.2
    done
}
zone() {
    printf '$ORIGIN pack.test.\n$TTL 300\n'
    printf '@ IN SOA ns1.pack.test. hostmaster.pack.test. %s 3600 600 86400 300\n' "$1"
    printf '@ IN NS ns1\n@ IN MX 10 mail\n@ IN TXT "learner pack"\n'
    printf 'ns1 IN A 192.0.2.53\nmail IN A 192.0.2.25\nwww IN A 192.0.2.80\nwww IN AAAA 2001:db8::80\n'
    for i in $(seq 50); do printf 'host%s IN A 192.0.2.%s\n' "$i" "$((100 + i))"; done
}
case "${1:-}" in
setup)
    zone 1 >/etc/nsd/pack.test.zone
    cat >/etc/nsd/nsd.conf.d/pack.conf <<'CONF'
remote-control:
    control-enable: yes
zone:
    name: pack.test
    zonefile: /etc/nsd/pack.test.zone
    provide-xfr: 127.0.0.1 NOKEY
CONF
    systemctl start nsd.service
    up
    ;;
load)
    up
    for i in $(seq 50); do
        for t in A AAAA MX TXT SOA NS; do q +short www.pack.test $t >/dev/null || true; done
        q +short host$i.pack.test A >/dev/null || true
        q +short missing$i.pack.test A >/dev/null || true
        q +short +tcp host$i.pack.test A >/dev/null || true
        q +short +tcp pack.test MX >/dev/null || true
    done
    q +short example.org A >/dev/null || true
    q pack.test AXFR >/dev/null || true
    nsd-control status >/dev/null || true
    nsd-control stats_noreset >/dev/null || true
    nsd-control zonestatus pack.test >/dev/null || true
    zone 2 >/etc/nsd/pack.test.zone
    nsd-control reload pack.test >/dev/null || true
    systemctl reload nsd.service || true
    up || true
    q pack.test AXFR >/dev/null || true
    for i in $(seq 20); do q +short host$i.pack.test A >/dev/null || true; done
    ;;
check)
    up
    [ "$(q +short www.pack.test A)" = 192.0.2.80 ] || { echo "www.pack.test A over UDP" >&2; exit 1; }
    [ "$(q +short +tcp www.pack.test A)" = 192.0.2.80 ] || { echo "www.pack.test A over TCP" >&2; exit 1; }
    q missing.pack.test A | grep -q "status: NXDOMAIN" || { echo "no NXDOMAIN for a missing name" >&2; exit 1; }
    q pack.test AXFR | grep -v '^;' | grep . | tail -n1 | grep -q "IN[[:space:]]*SOA" \
        || { echo "the AXFR does not end with the SOA" >&2; exit 1; }
    nsd-control status | grep -q "^version: " || { echo "nsd-control status does not answer" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
