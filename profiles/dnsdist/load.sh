#!/bin/sh
# dnsdist 1.7 as Debian packages it (dnsdist.service: Type=notify, runs as _dnsdist, config in
# Lua at /etc/dnsdist/dnsdist.conf), run inside the pack's guest systemd, which has only
# loopback: its backend is the guest's unbound serving a static local zone.
#   setup: unbound gets /etc/unbound/unbound.conf.d/pack.conf (a static zone pack.test on
#          127.0.0.1:53) and is restarted; /etc/dnsdist/dnsdist.conf keeps Debian's
#          setSecurityPollSuffix("") and adds: listeners on 127.0.0.1:5353 and [::1]:5353, the
#          backend 127.0.0.1:53 health checked on www.pack.test (mustResolve), a packet cache,
#          a rule answering REFUSED for blocked.pack.test and below, a rule truncating ANY
#          queries, a Lua rule run on every query (LuaAction: a function matching the first
#          label against a list, spoofing lua.pack.test to 192.0.2.53; LuaJIT compiles it
#          into machine code once hot), the console on 127.0.0.1:5199 with a fresh key, the web server on
#          127.0.0.1:8083 with a (hashed) password and API key; the unit restarted.
#   load:  about 8 s of dig through dnsdist: names and types of the zone over UDP (v4 and v6)
#          and TCP, NXDOMAINs, the blocked name, the Lua rule's name, ANY (truncated, retried over TCP); the console
#          (`dnsdist -c`: showServers, showRules, dumpStats, getPool("""):getCache():printStats,
#          showResponseLatency); the web server with its password (the UI, /jsonstat, /metrics) and the API
#          (/api/v1/servers/localhost, its config and statistics); a restart of the unit.
#   check: www.pack.test A is 192.0.2.10 through dnsdist over UDP (127.0.0.1 and ::1) and TCP,
#          blocked.pack.test gets REFUSED, after 300 queries through the Lua rule (hot, so
#          JIT-compiled) lua.pack.test is its 192.0.2.53 (UDP and TCP), the API lists the backend 127.0.0.1:53 as up, and
#          the console's showServers lists it.
set -eu
q() { dig +time=2 +tries=1 -p 5353 "$@"; }
api() { curl -fsS --max-time 5 -H 'X-API-Key: packapikey' "http://127.0.0.1:8083$1"; }
backend_up() {
    api /api/v1/servers/localhost | jq -e \
        '[.servers[] | select(.address == "127.0.0.1:53" and .state == "up")] | length == 1' >/dev/null
}
up() {
    i=0
    until [ "$(q +short @127.0.0.1 www.pack.test A 2>/dev/null)" = 192.0.2.10 ] && backend_up 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 75 ] || { echo "dnsdist does not answer www.pack.test on 127.0.0.1:5353 with its backend up" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    cat >/etc/unbound/unbound.conf.d/pack.conf <<'CONF'
server:
    interface: 127.0.0.1
    local-zone: "pack.test." static
    local-data: "www.pack.test. 300 IN A 192.0.2.10"
    local-data: "www.pack.test. 300 IN AAAA 2001:db8::10"
    local-data: "pack.test. 300 IN MX 10 mail.pack.test."
    local-data: "mail.pack.test. 300 IN A 192.0.2.25"
    local-data: "pack.test. 300 IN TXT \"learner pack\""
    local-data: "blocked.pack.test. 300 IN A 192.0.2.66"
CONF
    systemctl restart unbound.service
    key=$(head -c 32 /dev/urandom | base64)
    cat >>/etc/dnsdist/dnsdist.conf <<CONF

-- learner pack: a load balancer on port 5353 in front of unbound on 127.0.0.1:53
setLocal("127.0.0.1:5353")
addLocal("[::1]:5353")
newServer{address="127.0.0.1:53", name="unbound", checkName="www.pack.test.", mustResolve=true, checkInterval=1}
pc = newPacketCache(10000, {maxTTL=86400, minTTL=0})
getPool(""):setCache(pc)
addAction("blocked.pack.test.", RCodeAction(DNSRCode.REFUSED))
addAction(QTypeRule(DNSQType.ANY), TCAction())
controlSocket("127.0.0.1:5199")
setKey("$key")
webserver("127.0.0.1:8083")
setWebserverConfig({password=hashPassword("packpass"), apiKey=hashPassword("packapikey"), acl="127.0.0.1/32, ::1/128"})
-- a rule in Lua, run for every query: the first label against a small list; lua.pack.test
-- is answered from here (LuaJIT compiles it into machine code once it is hot)
packList = { "ads", "tracker", "malware", "phish", "spam", "lua" }
function packLua(dq)
  local first = dq.qname:toString():match("^([^.]+)%.")
  for _, label in ipairs(packList) do
    if first == label and label == "lua" then
      return DNSAction.Spoof, "192.0.2.53"
    end
  end
  return DNSAction.None, ""
end
addAction(AllRule(), LuaAction(packLua))
CONF
    systemctl restart dnsdist.service
    up
    ;;
load)
    up
    end=$(($(date +%s) + 7))
    i=0
    while [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        for t in "www.pack.test A" "www.pack.test AAAA" "pack.test MX" "pack.test TXT" "mail.pack.test A" "missing$i.pack.test A" "blocked.pack.test A" "x$i.blocked.pack.test AAAA"; do
            q +short @127.0.0.1 $t >/dev/null || true
        done
        q +short @::1 www.pack.test AAAA >/dev/null || true
        q +tcp +short @127.0.0.1 www.pack.test A >/dev/null || true
        q +tcp +short @::1 pack.test MX >/dev/null || true
        q @127.0.0.1 pack.test ANY >/dev/null || true
        q +short @127.0.0.1 lua.pack.test A >/dev/null || true
        if [ $((i % 10)) = 1 ]; then
            for c in 'showServers()' 'showRules()' 'dumpStats()' 'getPool(""):getCache():printStats()' 'showResponseLatency()'; do
                dnsdist -c -e "$c" >/dev/null || true
            done
            curl -fsS --max-time 5 -u admin:packpass -o /dev/null http://127.0.0.1:8083/ || true
            curl -fsS --max-time 5 -u admin:packpass -o /dev/null 'http://127.0.0.1:8083/jsonstat?command=stats' || true
            curl -fsS --max-time 5 -u admin:packpass -o /dev/null http://127.0.0.1:8083/metrics || true
            api /api/v1/servers/localhost >/dev/null || true
            api /api/v1/servers/localhost/config >/dev/null || true
            api /api/v1/servers/localhost/statistics >/dev/null || true
        fi
    done
    systemctl restart dnsdist.service
    up
    q +short @127.0.0.1 www.pack.test A >/dev/null
    ;;
check)
    up
    [ "$(q +short @127.0.0.1 www.pack.test A)" = 192.0.2.10 ] || { echo "UDP 127.0.0.1: wrong answer" >&2; exit 1; }
    [ "$(q +short @::1 www.pack.test A)" = 192.0.2.10 ] || { echo "UDP ::1: wrong answer" >&2; exit 1; }
    [ "$(q +tcp +short @127.0.0.1 www.pack.test A)" = 192.0.2.10 ] || { echo "TCP: wrong answer" >&2; exit 1; }
    q @127.0.0.1 blocked.pack.test A | grep -q 'status: REFUSED' || { echo "blocked.pack.test not REFUSED" >&2; exit 1; }
    # 300 queries through the Lua rule (hot: LuaJIT compiles it), then its answer
    for i in $(seq 300); do q +short @127.0.0.1 "lua.pack.test" A >/dev/null 2>&1 || true; done
    [ "$(q +short @127.0.0.1 lua.pack.test A)" = 192.0.2.53 ] || { echo "the Lua rule did not answer lua.pack.test" >&2; exit 1; }
    [ "$(q +short +tcp @::1 lua.pack.test A)" = 192.0.2.53 ] || { echo "the Lua rule did not answer lua.pack.test over TCP" >&2; exit 1; }
    backend_up || { echo "the API does not list 127.0.0.1:53 as up" >&2; exit 1; }
    dnsdist -c -e 'showServers()' | grep -q '127.0.0.1:53 *up' || { echo "the console does not list the backend up" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
