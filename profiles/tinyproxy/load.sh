#!/bin/sh
# tinyproxy as Debian packages it (tinyproxy.service: HTTP proxy on port 8888 of every address,
# clients from 127.0.0.1 and ::1 allowed, workers as the tinyproxy user), run inside the pack's
# guest systemd. The proxied site is the guest's nginx (enabled on this machine), and a page of
# its own under /var/www/html.
#   setup: a page /var/www/html/pack-proxy.txt with a token; the unit started.
#   load:  200 requests through the proxy (the page, Debian's index, a 404, a CONNECT that
#          is refused), tinyproxy's stats page, a reload (HUP).
#   check: the page comes back through the proxy with its token, and a missing page is a 404
#          through it.
set -eu
proxy=http://127.0.0.1:8888
get() { curl -sS --max-time 5 -x "$proxy" "$@"; }
up() {
    i=0
    until get -o /dev/null http://127.0.0.1/pack-proxy.txt 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "no answer through tinyproxy" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl is-active -q nginx.service || systemctl start nginx.service
    install -d /var/www/html
    echo "pack-proxy token-$(hostname)" >/var/www/html/pack-proxy.txt
    systemctl start tinyproxy.service
    up
    ;;
load)
    up
    for i in $(seq 50); do
        get -o /dev/null http://127.0.0.1/pack-proxy.txt || true
        get -o /dev/null http://127.0.0.1/ || true
        get -o /dev/null http://127.0.0.1/missing-$i || true
        get -o /dev/null http://tinyproxy.stats/ || true
    done
    get -o /dev/null -p https://127.0.0.1:443/ 2>/dev/null || true
    systemctl reload tinyproxy.service || true
    sleep 1
    up
    ;;
check)
    up
    get http://127.0.0.1/pack-proxy.txt | grep -q '^pack-proxy token-'
    [ "$(get -o /dev/null -w '%{http_code}' http://127.0.0.1/missing-check)" = 404 ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
