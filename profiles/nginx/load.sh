#!/bin/sh
# nginx as Debian packages it (its default site on port 80), run inside the pack's guest systemd.
#   setup: nothing to prepare (the package's site is served as installed).
#   load:  wrk on / for 3 s, then pages, the Debian index page and a 404, a reload, more wrk.
#   check: / answers 200 with Debian's page and a missing page 404.
set -eu
url=http://127.0.0.1
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup) systemctl start nginx.service ;;
load)
    up
    wrk -t1 -c4 -d3s "$url/" || true
    for p in / /index.nginx-debian.html /no-such-page; do
        curl -s -o /dev/null --max-time 2 "$url$p" || true
    done
    systemctl reload nginx.service || true
    wrk -t1 -c4 -d1s "$url/" || true
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q "Welcome to nginx"
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/no-such-page")" = 404 ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
