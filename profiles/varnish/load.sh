#!/bin/sh
# Varnish Cache 7.1 as Debian packages it (varnishd's manager as root, its cache child jailed
# as vcache; each VCL is compiled to C and built with gcc at run time, then loaded), in front of
# the guest's nginx (127.0.0.1:80), run inside the pack's guest systemd.
#   setup: /etc/varnish/default.vcl's backend pointed at nginx, with an X-Cache header saying
#          HIT or MISS; nginx started; varnish started (its first VCL compiled at start).
#   load:  200 requests through varnish (hits, misses, 404s, a PURGE refused), varnishadm's
#          status, vcl.list and ban, a reload (ExecReload=, varnishreload: a new VCL compiled,
#          loaded and made active).
#   check: nginx's page through varnish on :6081; a page under a new name a MISS then a HIT;
#          varnishadm answers (`status`: the child is running).
set -eu
url=http://127.0.0.1:6081
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start nginx.service
    cat >/etc/varnish/default.vcl <<'VCL'
vcl 4.1;

backend default {
    .host = "127.0.0.1";
    .port = "80";
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
VCL
    systemctl start varnish.service
    up
    ;;
load)
    up
    i=0
    while [ $i -lt 50 ]; do
        curl -fsS -o /dev/null "$url/" || true
        curl -fsS -o /dev/null "$url/index.nginx-debian.html" || true
        curl -sS -o /dev/null "$url/missing-$i" || true
        curl -sS -o /dev/null -X PURGE "$url/" || true
        i=$((i + 1))
    done
    varnishadm status >/dev/null || true
    varnishadm vcl.list >/dev/null || true
    varnishadm ban req.url '~' '^/missing' >/dev/null || true
    systemctl reload varnish.service
    up
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q 'Welcome to nginx' || { echo "no nginx page through varnish" >&2; exit 1; }
    name="c$(date +%s%N).html"
    cp /var/www/html/index.nginx-debian.html "/var/www/html/$name"
    first=$(curl -fsS -o /dev/null -D - --max-time 5 "$url/$name" | tr -d '\r' | grep -i '^X-Cache:' || true)
    second=$(curl -fsS -o /dev/null -D - --max-time 5 "$url/$name" | tr -d '\r' | grep -i '^X-Cache:' || true)
    rm -f "/var/www/html/$name"
    echo "$first" | grep -q MISS || { echo "first fetch of $name not a MISS: $first" >&2; exit 1; }
    echo "$second" | grep -q HIT || { echo "second fetch of $name not a HIT: $second" >&2; exit 1; }
    varnishadm status | grep -q 'running' || { echo "varnishadm: the child is not running" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
