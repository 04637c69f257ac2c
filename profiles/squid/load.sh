#!/bin/sh
# squid 5.7 as Debian packages it (a caching forward proxy on 127.0.0.1:3128; started as root,
# its kid processes run as proxy), in front of the guest's nginx (127.0.0.1:80), run inside the
# pack's guest systemd.
#   setup: a disk cache (cache_dir ufs /var/spool/squid, created by the unit's own
#          `squid -z` ExecStartPre= on the first start) in /etc/squid/conf.d/pack.conf; nginx
#          started; squid started.
#   load:  200 requests through the proxy (cache hits and misses, 404s, a POST), the cache
#          manager's info and counters pages, a reload (SIGHUP: the configuration re-read).
#   check: nginx's page fetched through squid, a second fetch of a fresh URL is a cache HIT,
#          the cache manager answers and names the disk cache.
set -eu
proxy=http://127.0.0.1:3128
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$proxy/squid-internal-mgr/info"; do
        i=$((i + 1)); [ $i -lt 75 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start nginx.service
    cat >/etc/squid/conf.d/pack.conf <<'CONF'
cache_dir ufs /var/spool/squid 64 16 256
# nginx's pages carry Last-Modified: cache them for the check's HIT.
refresh_pattern -i \.html$ 1 50% 10
CONF
    systemctl start squid.service
    up
    ;;
load)
    up
    i=0
    while [ $i -lt 50 ]; do
        curl -fsS -o /dev/null -x "$proxy" "http://127.0.0.1/index.nginx-debian.html?" || true
        curl -fsS -o /dev/null -x "$proxy" "http://127.0.0.1/index.nginx-debian.html" || true
        curl -sS -o /dev/null -x "$proxy" "http://127.0.0.1/missing-$i" || true
        curl -sS -o /dev/null -x "$proxy" -d "n=$i" "http://127.0.0.1/post" || true
        i=$((i + 1))
    done
    curl -fsS -o /dev/null "$proxy/squid-internal-mgr/info" || true
    curl -fsS -o /dev/null "$proxy/squid-internal-mgr/counters" || true
    systemctl reload squid.service
    sleep 1
    up
    ;;
check)
    up
    body=$(curl -fsS --max-time 5 -x "$proxy" http://127.0.0.1/)
    echo "$body" | grep -q 'Welcome to nginx' || { echo "no nginx page through squid" >&2; exit 1; }
    # A page under a new name: the first fetch is a MISS, the second a HIT.
    name="c$(date +%s%N).html"
    cp /var/www/html/index.nginx-debian.html "/var/www/html/$name"
    curl -fsS -o /dev/null --max-time 5 -x "$proxy" "http://127.0.0.1/$name"
    hit=$(curl -fsS -o /dev/null -D - --max-time 5 -x "$proxy" "http://127.0.0.1/$name" | tr -d '\r' | grep -i '^X-Cache:' || true)
    rm -f "/var/www/html/$name"
    echo "$hit" | grep -q HIT || { echo "second fetch of $name not a cache HIT: $hit" >&2; exit 1; }
    curl -fsS --max-time 5 "$proxy/squid-internal-mgr/storedir" | grep -q '/var/spool/squid' || { echo "cache manager does not name the disk cache" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
