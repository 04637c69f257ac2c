#!/bin/sh
# PowerDNS Authoritative Server 4.7 as Debian packages it (pdns.service, Type=notify, user
# pdns, a unit hardened already: ProtectSystem=full, CapabilityBoundingSet=CAP_NET_BIND_SERVICE
# CAP_CHOWN, a SystemCallFilter= deny-list, ...), with the BIND backend (pdns-backend-bind),
# run inside the pack's guest systemd. Clients: pdns_control, pdnsutil, kdig (knot-dnsutils).
#   setup: a zone pack.test (SOA, NS, A, AAAA, MX, TXT) in /etc/powerdns/zones/, listed in
#          Debian's /etc/powerdns/named.conf; the BIND backend's DNSSEC database
#          /var/lib/powerdns/dnssec/bind-dnssec-db.sqlite3 (pdnsutil create-bind-db, in a
#          directory of pdns's own) with the zone
#          secured (pdnsutil secure-zone: keys made there); the server on 127.0.0.1:53; the
#          unit started.
#   load:  400 queries over UDP and TCP (A, AAAA, MX, TXT, NXDOMAINs, with DNSSEC records),
#          pdns_control rping, show *, ccounts, purge, bind-domain-status, a zone change (a
#          record added, the serial raised) loaded with bind-reload-now, for about 3 s.
#   check: www.pack.test A is 192.0.2.10 over UDP and TCP with its RRSIG (signed with the
#          keys from the database), a missing name is NXDOMAIN, kept.pack.test TXT is "kept
#          since setup", and pdns_control answers PONG.
set -eu
zone=/etc/powerdns/zones/pack.test.zone
db=/var/lib/powerdns/dnssec/bind-dnssec-db.sqlite3
q() { kdig +time=2 +retry=0 @127.0.0.1 "$@"; }
up() {
    i=0
    until [ "$(q +short www.pack.test A 2>/dev/null)" = 192.0.2.10 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "pdns does not answer www.pack.test" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    mkdir -p /etc/powerdns/zones
    cat >$zone <<ZONE
\$TTL 300
@ IN SOA ns1.pack.test. hostmaster.pack.test. 1 3600 600 86400 300
@ IN NS ns1.pack.test.
ns1 IN A 127.0.0.1
www IN A 192.0.2.10
www IN AAAA 2001:db8::10
@ IN MX 10 mail.pack.test.
mail IN A 192.0.2.25
kept IN TXT "kept since setup"
ZONE
    printf '\n// The pack'"'"'s zone.\nzone "pack.test" { type master; file "%s"; };\n' $zone \
        >>/etc/powerdns/named.conf
    cat >/etc/powerdns/pdns.d/pack.conf <<CONF
# The pack's server: loopback, DNSSEC keys of the BIND backend in SQLite.
local-address=127.0.0.1
local-port=53
bind-dnssec-db=$db
CONF
    # SQLite writes its journal beside the database: a directory of pdns's own.
    install -d -o pdns -g pdns /var/lib/powerdns/dnssec
    pdnsutil create-bind-db $db >/dev/null
    chown pdns:pdns $db
    pdnsutil secure-zone pack.test >/dev/null
    systemctl start pdns.service
    up
    ;;
load)
    up
    for i in $(seq 1 20); do
        q www.pack.test A www.pack.test AAAA pack.test MX kept.pack.test TXT \
            "none$i.pack.test" A +dnssec >/dev/null || true
        q +tcp www.pack.test A pack.test SOA "gone$i.pack.test" TXT +dnssec >/dev/null || true
    done
    pdns_control rping >/dev/null || true
    pdns_control show '*' >/dev/null || true
    pdns_control ccounts >/dev/null || true
    pdns_control purge 'pack.test$' >/dev/null || true
    pdns_control bind-domain-status pack.test >/dev/null || true
    serial=$(( $(date +%s) % 1000000 + 2 ))
    sed -i "s/hostmaster.pack.test. [0-9]*/hostmaster.pack.test. $serial/" $zone
    grep -q '^new ' $zone || echo 'new IN A 192.0.2.99' >>$zone
    pdns_control bind-reload-now pack.test >/dev/null || true
    q +short new.pack.test A >/dev/null || true
    ;;
check)
    up
    [ "$(q +short +tcp www.pack.test A)" = 192.0.2.10 ] || { echo "no answer over TCP" >&2; exit 1; }
    q +dnssec www.pack.test A | grep -q 'RRSIG' || { echo "www.pack.test is not signed" >&2; exit 1; }
    q nope.pack.test A | grep -q 'status: NXDOMAIN' || { echo "no NXDOMAIN" >&2; exit 1; }
    [ "$(q +short kept.pack.test TXT)" = '"kept since setup"' ] || { echo "kept.pack.test TXT lost" >&2; exit 1; }
    [ "$(pdns_control rping)" = PONG ] || { echo "pdns_control got no PONG" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
