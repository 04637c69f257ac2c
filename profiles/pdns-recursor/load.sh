#!/bin/sh
# PowerDNS Recursor 4.8 as Debian packages it (pdns-recursor.service, Type=notify, user pdns, a
# unit hardened already: ProtectSystem=full, ProtectHome=yes, CapabilityBoundingSet= and
# AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_CHOWN, a SystemCallFilter= deny-list, ...),
# Debian's /etc/powerdns/recursor.conf kept (127.0.0.1:53, dnssec=process as 4.8's default:
# it validates, with the root's trust anchor from Debian's recursor.lua), run inside the pack's
# guest systemd, which has loopback only: what it answers comes from a local authoritative
# server it forwards to and from a zone of its own. Clients: dig (bind9-dnsutils), rec_control.
#   setup: an authoritative server for it to ask: pdns-server (pdns.service) with the BIND
#          backend on 127.0.0.1:5300 serving pack.test (SOA, NS, A, AAAA, MX, TXT, a wildcard
#          *.fresh TXT), signed (pdnsutil secure-zone, keys in the backend's SQLite database),
#          as profiles/pdns-server sets it up but on port 5300. For the recursor, the only
#          changes to Debian's configuration, each needed to answer without the Internet:
#          /etc/powerdns/recursor.d/pack.conf forwards pack.test to 127.0.0.1:5300
#          (forward-zones) and serves home.test (A, CNAME) from a zone file of its own
#          (auth-zones); recursor.lua gets a trust anchor for pack.test (addTA with the
#          zone's DS from pdnsutil export-zone-ds), so pack.test is validated, not Bogus (no
#          root server proves .test insecure here). One feature sites use, added: a per-query
#          Lua hook (lua-dns-script=/etc/powerdns/pack-hooks.lua, preresolve: names starting
#          with ads., tracker. or malware. get NXDOMAIN, lua.pack.test TXT is answered by
#          Lua), which pdns-recursor runs in LuaJIT, whose JIT compiles hot Lua to machine
#          code. Then the unit's first start.
#   load:  for about 10 s: queries over UDP and TCP with and without DNSSEC records: the
#          forwarded zone's names and types, fresh names under the wildcard (each a cache miss,
#          asked upstream and validated), NXDOMAINs, the auth zone's names, two names of the
#          Internet (the recursor tries the root servers: unreachable here, SERVFAIL), names
#          through the Lua hook (blocked ones, lua.pack.test);
#          rec_control ping, get-all, get cache-entries, top-remotes, wipe-cache, add-nta and
#          clear-nta, dump-cache, a change to the auth zone (a record added, the serial
#          raised) loaded with reload-zones, reload-lua-config.
#   check: www.pack.test A is 192.0.2.10 over UDP and TCP, validated (the AD flag); a fresh
#          name under *.fresh.pack.test (never asked before: forwarded now) gets its TXT; a
#          missing name in pack.test is NXDOMAIN; router.home.test is 192.168.1.1 and
#          printer.home.test a CNAME to nas.home.test from the auth zone; after 300 fresh
#          queries through the Lua hook (enough for LuaJIT to compile it), lua.pack.test TXT is
#          "from lua", a blocked name is NXDOMAIN, the recursor's MainPID is unchanged (it did
#          not die and get restarted) and rec_control ping answers pong.
set -eu
auth_zone=/etc/powerdns/zones/pack.test.zone
home_zone=/etc/powerdns/home.test.zone
lua_script=/etc/powerdns/pack-hooks.lua
db=/var/lib/powerdns/dnssec/bind-dnssec-db.sqlite3
q() { dig +time=2 +tries=1 @127.0.0.1 "$@"; }
up() {
    i=0
    until [ "$(q +short www.pack.test A 2>/dev/null)" = 192.0.2.10 ]; do
        i=$((i + 1)); [ $i -lt 75 ] || { echo "the recursor does not answer www.pack.test" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    # The authoritative server the recursor forwards pack.test to (not the recorded unit).
    mkdir -p /etc/powerdns/zones
    cat >$auth_zone <<'ZONE'
$TTL 300
@ IN SOA ns1.pack.test. hostmaster.pack.test. 1 3600 600 86400 60
@ IN NS ns1.pack.test.
ns1 IN A 127.0.0.1
www IN A 192.0.2.10
www IN AAAA 2001:db8::10
@ IN MX 10 mail.pack.test.
mail IN A 192.0.2.25
kept IN TXT "kept since setup"
*.fresh IN TXT "fresh"
ZONE
    printf '\n// The pack'"'"'s zone.\nzone "pack.test" { type master; file "%s"; };\n' $auth_zone \
        >>/etc/powerdns/named.conf
    cat >/etc/powerdns/pdns.d/pack.conf <<CONF
# The pack's authoritative server for pdns-recursor: loopback, port 5300.
local-address=127.0.0.1
local-port=5300
bind-dnssec-db=$db
CONF
    install -d -o pdns -g pdns /var/lib/powerdns/dnssec
    pdnsutil create-bind-db $db >/dev/null
    chown pdns:pdns $db
    pdnsutil secure-zone pack.test >/dev/null
    systemctl start pdns.service
    i=0
    until [ "$(dig +time=1 +tries=1 -p 5300 @127.0.0.1 +short www.pack.test A 2>/dev/null)" = 192.0.2.10 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "pdns-server does not answer on 5300" >&2; exit 1; }; sleep 0.2
    done
    ds=$(pdnsutil export-zone-ds pack.test |
        awk '{ for (i = 1; i < NF - 3; i++) if ($i == "DS" && $(i + 3) == 2) { print $(i + 1), $(i + 2), $(i + 3), $(i + 4); exit } }')
    [ -n "$ds" ] || { echo "no SHA-256 DS for pack.test: $(pdnsutil export-zone-ds pack.test)" >&2; exit 1; }

    # The recursor: Debian's configuration plus what it needs to answer here.
    cat >$home_zone <<'ZONE'
$TTL 300
@ IN SOA ns.home.test. hostmaster.home.test. 1 3600 600 86400 60
@ IN NS ns.home.test.
ns IN A 127.0.0.1
router IN A 192.168.1.1
nas IN A 192.168.1.10
printer IN CNAME nas
ZONE
    cat >$lua_script <<'LUA'
-- The pack: a per-query hook as sites write them (a small blocklist and a name answered by
-- Lua), run by the recursor's LuaJIT for every query that is not answered from its caches.
local blocked = { "ads.", "tracker.", "malware." }
function preresolve(dq)
  local name = dq.qname:toStringNoDot()
  for _, prefix in ipairs(blocked) do
    if name:sub(1, #prefix) == prefix then
      dq.rcode = pdns.NXDOMAIN
      return true
    end
  end
  if name == "lua.pack.test" and dq.qtype == pdns.TXT then
    dq:addAnswer(pdns.TXT, '"from lua"')
    return true
  end
  return false
end
LUA
    mkdir -p /etc/powerdns/recursor.d
    cat >/etc/powerdns/recursor.d/pack.conf <<CONF
# The pack: pack.test from the local authoritative server, home.test from a zone file, a
# per-query Lua hook.
forward-zones=pack.test=127.0.0.1:5300
auth-zones=home.test=$home_zone
lua-dns-script=$lua_script
CONF
    printf '\n-- The pack: pack.test is signed by the local pdns-server (export-zone-ds).\naddTA("pack.test", "%s")\n' "$ds" \
        >>/etc/powerdns/recursor.lua
    systemctl start pdns-recursor.service
    up
    ;;
load)
    up
    end=$(( $(date +%s) + 9 ))
    # Two names of the Internet: the recursor asks the root servers, unreachable here.
    q +time=4 example.com A >/dev/null 2>&1 &
    q +time=4 +tcp debian.org MX >/dev/null 2>&1 &
    i=0
    while [ "$(date +%s)" -lt $end ]; do
        i=$((i + 1))
        q www.pack.test A www.pack.test AAAA pack.test MX kept.pack.test TXT \
            "r$i-$$.fresh.pack.test" TXT "none$i.pack.test" A +dnssec >/dev/null || true
        q +tcp www.pack.test A pack.test SOA "t$i-$$.fresh.pack.test" TXT "gone$i.pack.test" TXT >/dev/null || true
        q router.home.test A printer.home.test A "nope$i.home.test" A home.test SOA >/dev/null || true
        q +tcp nas.home.test A +dnssec >/dev/null || true
        q lua.pack.test TXT "ads.x$i.pack.test" A "tracker$i.home.test" A >/dev/null || true
        case $i in
        3)
            rec_control ping >/dev/null || true
            rec_control get-all >/dev/null || true
            rec_control get cache-entries >/dev/null || true
            rec_control top-remotes >/dev/null || true
            ;;
        5)
            rec_control wipe-cache 'pack.test$' >/dev/null || true
            rec_control add-nta example.com pack >/dev/null || true
            rec_control clear-nta example.com >/dev/null || true
            ;;
        7)
            mkdir -p /var/lib/learner-pack-pdns-recursor
            rec_control dump-cache /var/lib/learner-pack-pdns-recursor/cache.dump >/dev/null || true
            serial=$(( $(date +%s) % 1000000 + 2 ))
            sed -i "s/hostmaster.home.test. [0-9]*/hostmaster.home.test. $serial/" $home_zone
            grep -q '^tv ' $home_zone || echo 'tv IN A 192.168.1.20' >>$home_zone
            rec_control reload-zones >/dev/null || true
            q +short tv.home.test A >/dev/null || true
            ;;
        9)
            rec_control reload-lua-config >/dev/null || true
            ;;
        esac
        sleep 0.2
    done
    wait
    ;;
check)
    up
    [ "$(q +short +tcp www.pack.test A)" = 192.0.2.10 ] || { echo "no answer over TCP" >&2; exit 1; }
    q +dnssec www.pack.test A | grep -q '^;; flags:.* ad[ ;]' || {
        echo "www.pack.test is not validated (no AD flag): $(q +dnssec www.pack.test A)" >&2; exit 1; }
    fresh=c$(date +%s%N).fresh.pack.test
    [ "$(q +short "$fresh" TXT)" = '"fresh"' ] || { echo "$fresh TXT not answered: $(q "$fresh" TXT)" >&2; exit 1; }
    q nope.pack.test A | grep -q 'status: NXDOMAIN' || { echo "no NXDOMAIN in pack.test" >&2; exit 1; }
    [ "$(q +short router.home.test A)" = 192.168.1.1 ] || { echo "router.home.test A lost" >&2; exit 1; }
    q +short printer.home.test A | grep -qx 'nas.home.test.' || { echo "printer.home.test CNAME lost" >&2; exit 1; }
    # Enough queries through the Lua hook for LuaJIT to compile it (its loop and function get
    # hot after a few dozen calls per worker thread): the recursor must survive that.
    pid=$(systemctl show -P MainPID pdns-recursor.service)
    seq 1 300 | awk -v t="$(date +%s%N)" '{ printf "j%s-%d.home.test A\n", t, $1 }' >/run/pack-recursor-burst
    dig +time=2 +tries=1 @127.0.0.1 -f /run/pack-recursor-burst >/dev/null 2>&1 || true
    [ "$(q +short lua.pack.test TXT)" = '"from lua"' ] || { echo "lua.pack.test TXT (the Lua hook) not answered: $(q lua.pack.test TXT)" >&2; exit 1; }
    q ads.c.pack.test A | grep -q 'status: NXDOMAIN' || { echo "the Lua hook's blocklist does not answer NXDOMAIN" >&2; exit 1; }
    [ "$(systemctl show -P MainPID pdns-recursor.service)" = "$pid" ] || {
        echo "the recursor restarted during 300 queries through its Lua hook (MainPID $pid -> $(systemctl show -P MainPID pdns-recursor.service))" >&2; exit 1; }
    rec_control ping | grep -q "^pong" || { echo "rec_control ping got no pong: $(rec_control ping 2>&1)" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
