#!/bin/sh
# unbound as Debian packages it (a resolver on 127.0.0.1:53), run inside the pack's guest
# systemd, which has only loopback: every answer comes from a local zone.
#   setup: /etc/unbound/unbound.conf.d/pack.conf adds a static zone pack.test (A, AAAA, TXT,
#          MX records) and enables unbound-control on its local socket; starts the unit.
#   load:  600 queries of the zone's names and types over UDP and 100 over TCP, NXDOMAINs
#          for missing names, `unbound-control stats_noreset` and `reload`.
#   check: www.pack.test A is 192.0.2.10 (UDP and TCP), a missing name is NXDOMAIN, and
#          unbound-control status answers.
set -eu
q() { dig +time=2 +tries=1 @127.0.0.1 "$@"; }
up() {
    i=0
    until [ "$(q +short www.pack.test A 2>/dev/null)" = 192.0.2.10 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    cat >/etc/unbound/unbound.conf.d/pack.conf <<'CONF'
server:
    interface: 127.0.0.1
    do-not-query-localhost: no
    local-zone: "pack.test." static
    local-data: "www.pack.test. 300 IN A 192.0.2.10"
    local-data: "www.pack.test. 300 IN AAAA 2001:db8::10"
    local-data: "pack.test. 300 IN MX 10 mail.pack.test."
    local-data: "mail.pack.test. 300 IN A 192.0.2.25"
    local-data: "pack.test. 300 IN TXT \"learner pack\""
remote-control:
    control-enable: yes
    control-interface: /run/unbound.ctl
CONF
    systemctl restart unbound.service
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
    unbound-control stats_noreset >/dev/null || true
    unbound-control reload >/dev/null || true
    ;;
check)
    up
    [ "$(q +short +tcp www.pack.test A)" = 192.0.2.10 ]
    q missing.pack.test A | grep -q NXDOMAIN
    unbound-control status >/dev/null
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
