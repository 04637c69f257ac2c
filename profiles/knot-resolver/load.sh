#!/bin/sh
# Knot Resolver 5.6 as Debian 12 packages it (kresd@.service: Type=notify, WatchdogSec=10s,
# user knot-resolver with CAP_NET_BIND_SERVICE and CAP_SETPCAP as ambient capabilities,
# WorkingDirectory=/var/lib/knot-resolver, Restart=on-abnormal, no ExecReload; kresd reads
# Debian's distro-preconfig.lua (syslog, its control socket /run/knot-resolver/control/INSTANCE,
# the LMDB cache in /var/cache/knot-resolver) then /etc/knot-resolver/kresd.conf), instance 1 as
# kresd.systemd(7) says to run it (`systemctl enable --now kresd@1.service`), inside the pack's
# guest systemd. Debian 12 ships no kresd.socket (Knot Resolver 5 dropped socket activation:
# kresd binds the addresses its config names) and masks kresd.service (a link to /dev/null, the
# init script's name); kresd@1 wants kres-cache-gc.service, a unit of its own, not recorded.
# The guest has loopback only: a resolver's recursion reaches no root server, so every answer
# checked is local data. Clients: kdig (knot-dnsutils, UDP, TCP, TLS), socat on the control socket.
#   setup: Debian's kresd.conf kept whole (DNS on 127.0.0.1 and ::1 port 53, DNS over TLS on
#          853 with the ephemeral certificate kresd makes, modules hints, stats, predict, a
#          100 MB cache), with lines appended: hints.add_hosts() of /etc/knot-resolver/pack.hosts
#          (mail.pack.lan, db.pack.lan), hints.set() of www.pack.lan (A and AAAA), a policy
#          ANSWER for txt.pack.lan TXT and a policy DENY (NXDOMAIN) of blocked.pack.lan and
#          below. The names are under .lan, not .test: kresd refuses the special-use domains
#          (.test, .example, .invalid) before hints answer. The unit enabled and started.
#   load:  100 rounds of queries over UDP (A, AAAA, TXT, names from the hosts file, blocked
#          names), every 5th over TCP and over ::1, 10 over TLS (port 853); 6 names outside
#          (recursion attempted: root servers unreachable, SERVFAIL or no answer); the control
#          socket: worker.stats(), cache.stats(), stats.list(), hints.get(), a hint added with
#          hints.set(), cache.clear() of pack.lan; for about 10 s.
#   check: www.pack.lan A is 192.0.2.10 over UDP, TCP and TLS, its AAAA over ::1, mail.pack.lan
#          is 192.0.2.25 (the hosts file), txt.pack.lan TXT is "learner pack" (policy ANSWER), a
#          name under blocked.pack.lan is NXDOMAIN (policy DENY), and a hint with a fresh name
#          set over the control socket is answered at once.
set -eu
ctl=/run/knot-resolver/control/1
q() { kdig +time=2 +retry=0 @127.0.0.1 "$@"; }
control() { echo "$1" | timeout 5 socat - "UNIX-CONNECT:$ctl"; }
up() {
    i=0
    until [ "$(q +short www.pack.lan A 2>/dev/null)" = 192.0.2.10 ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "kresd does not answer www.pack.lan" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    printf '192.0.2.25 mail.pack.lan\n192.0.2.26 db.pack.lan\n' >/etc/knot-resolver/pack.hosts
    conf=/etc/knot-resolver/kresd.conf
    grep -q 'pack.lan' $conf || cat >>$conf <<'CONF'

-- Local answers (the learner pack's setup): a hosts file, hints, a policy answer and a block.
hints.add_hosts('/etc/knot-resolver/pack.hosts')
hints.set('www.pack.lan 192.0.2.10')
hints.set('www.pack.lan 2001:db8::10')
policy.add(policy.domains(policy.ANSWER({
	[kres.type.TXT] = { rdata = kres.parse_rdata({ 'TXT "learner pack"' }), ttl = 300 },
}), { todname('txt.pack.lan.') }))
policy.add(policy.suffix(policy.DENY, { todname('blocked.pack.lan.') }))
CONF
    systemctl enable --now kresd@1.service
    up
    ;;
load)
    up
    for i in $(seq 100); do
        q +short www.pack.lan A www.pack.lan AAAA mail.pack.lan A db.pack.lan A txt.pack.lan TXT \
            "x$i.blocked.pack.lan" A >/dev/null || true
        if [ $((i % 5)) = 0 ]; then
            q +tcp +short www.pack.lan A db.pack.lan A >/dev/null || true
            kdig +time=2 +retry=0 @::1 +short www.pack.lan AAAA >/dev/null || true
        fi
        [ $((i % 10)) = 0 ] && { kdig +time=2 +retry=0 +tls @127.0.0.1 +short www.pack.lan A >/dev/null || true; }
    done
    for n in debian.org example.com knot-resolver.cz; do
        kdig +time=1 +retry=0 @127.0.0.1 "$n" A >/dev/null &
        kdig +time=1 +retry=0 @::1 "www.$n" AAAA >/dev/null &
    done
    control 'worker.stats()' >/dev/null || true
    control 'cache.stats()' >/dev/null || true
    control 'stats.list()' >/dev/null || true
    control "hints.get('www.pack.lan')" >/dev/null || true
    control "hints.set('load.pack.lan 192.0.2.50')" >/dev/null || true
    q +short load.pack.lan A >/dev/null || true
    control "cache.clear('pack.lan')" >/dev/null || true
    wait
    up
    ;;
check)
    up
    [ "$(q +tcp +short www.pack.lan A)" = 192.0.2.10 ] || { echo "no answer over TCP" >&2; exit 1; }
    [ "$(kdig +time=2 +retry=0 +tls @127.0.0.1 +short www.pack.lan A)" = 192.0.2.10 ] ||
        { echo "no answer over TLS (853)" >&2; exit 1; }
    [ "$(kdig +time=2 +retry=0 @::1 +short www.pack.lan AAAA)" = 2001:db8::10 ] ||
        { echo "no AAAA over ::1" >&2; exit 1; }
    [ "$(q +short mail.pack.lan A)" = 192.0.2.25 ] || { echo "mail.pack.lan (hosts file) lost" >&2; exit 1; }
    [ "$(q +short txt.pack.lan TXT)" = '"learner pack"' ] || { echo "txt.pack.lan TXT lost" >&2; exit 1; }
    q "x.blocked.pack.lan" A | grep -q 'status: NXDOMAIN' || { echo "blocked.pack.lan is not NXDOMAIN" >&2; exit 1; }
    name=c$$-$(date +%s%N).pack.lan
    control "hints.set('$name 192.0.2.99')" | grep -q true ||
        { echo "the control socket did not set a hint" >&2; exit 1; }
    [ "$(q +short "$name" A)" = 192.0.2.99 ] || { echo "the hint set over the control socket is not answered" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
