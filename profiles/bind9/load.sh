#!/bin/sh
# BIND 9.18 as Debian packages it (named.service, named as user bind, rndc on 127.0.0.1:953
# with the key the package generated), run inside the pack's guest systemd, which has only
# loopback: every answer comes from local zones.
#   setup: two zones in /etc/bind/named.conf.local: pack.test, static (A, AAAA, MX, TXT from
#          /etc/bind/db.pack.test), and dyn.pack.test, dynamic (`update-policy local`, its file
#          and journal under /var/lib/bind); the unit restarted.
#   load:  600 queries over UDP and 100 over TCP (NXDOMAINs among them), an AXFR, dynamic
#          updates with `nsupdate -l` (journal writes), `rndc stats`, `rndc sync`,
#          `rndc reload`.
#   check: www.pack.test A is 192.0.2.10 over UDP and TCP, a missing name is NXDOMAIN, a fresh
#          name added with `nsupdate -l` is answered, and `rndc status` answers.
set -eu
q() { dig +time=2 +tries=1 @127.0.0.1 "$@"; }
up() {
    i=0
    until [ "$(q +short www.pack.test A 2>/dev/null)" = 192.0.2.10 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
# nsupdate -l reads the session key named writes to /run/named/session.key at start.
add() {
    printf 'update add %s.dyn.pack.test. 300 IN A %s\nsend\n' "$1" "$2" | nsupdate -l
}
case "${1:-}" in
setup)
    cat >/etc/bind/db.pack.test <<'ZONE'
$TTL 300
@       IN SOA ns.pack.test. hostmaster.pack.test. ( 1 3600 600 86400 300 )
        IN NS  ns.pack.test.
        IN MX  10 mail.pack.test.
        IN TXT "learner pack"
ns      IN A   127.0.0.1
www     IN A   192.0.2.10
www     IN AAAA 2001:db8::10
mail    IN A   192.0.2.25
ZONE
    cat >/var/lib/bind/db.dyn.pack.test <<'ZONE'
$TTL 300
@       IN SOA ns.pack.test. hostmaster.pack.test. ( 1 3600 600 86400 300 )
        IN NS  ns.pack.test.
first   IN A   192.0.2.100
ZONE
    chown bind:bind /var/lib/bind/db.dyn.pack.test
    cat >>/etc/bind/named.conf.local <<'CONF'
zone "pack.test" {
    type primary;
    file "/etc/bind/db.pack.test";
    allow-transfer { 127.0.0.1; };
};
zone "dyn.pack.test" {
    type primary;
    file "/var/lib/bind/db.dyn.pack.test";
    update-policy local;
};
CONF
    systemctl restart named.service
    up
    ;;
load)
    up
    for i in $(seq 100); do
        for t in "www.pack.test A" "www.pack.test AAAA" "pack.test MX" "pack.test TXT" "mail.pack.test A" "missing$i.pack.test A"; do
            q +short $t >/dev/null || true
        done
        q +tcp +short www.pack.test A >/dev/null || true
    done
    q pack.test AXFR >/dev/null || true
    for i in $(seq 20); do add "load$i" "192.0.2.$i" || true; done
    rndc stats || true
    rndc sync || true
    rndc reload || true
    q +short www.pack.test A >/dev/null || true
    ;;
check)
    up
    [ "$(q +short +tcp www.pack.test A)" = 192.0.2.10 ]
    q missing.pack.test A | grep -q NXDOMAIN
    name=check$(date +%s%N)
    add "$name" 192.0.2.99
    [ "$(q +short "$name.dyn.pack.test" A)" = 192.0.2.99 ]
    rndc status >/dev/null
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
