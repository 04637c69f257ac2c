#!/bin/sh
# Privoxy 3.0.34 as Debian packages it (privoxy.service: Type=forking, started as root, running
# as user privoxy; /etc/privoxy/config: listen on localhost:8118, logs in /var/log/privoxy),
# run inside the pack's guest systemd. Client: curl through the proxy.
#   setup: nothing changed; the unit started.
#   load:  privoxy's own pages through the proxy (http://p.p/: status, the action files,
#          show-url-info for several URLs, the user manual), over 127.0.0.1 and ::1, requests
#          to hosts that do not resolve here (answered by privoxy with an error page), a reload,
#          for about 8 s.
#   check: http://p.p/ through the proxy answers privoxy's main page, show-status lists its
#          config file, and a request to an unresolvable host gets privoxy's own 404 "No such domain" page.
set -eu
px() { curl -sS --max-time 10 -x "${PROXY:-http://127.0.0.1:8118}" "$@"; }
up() {
    i=0
    until px -o /dev/null http://p.p/ 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "privoxy does not answer on 127.0.0.1:8118" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start privoxy.service
    up
    ;;
load)
    up
    end=$(($(date +%s) + 8))
    while [ "$(date +%s)" -lt "$end" ]; do
        px -o /dev/null http://p.p/ || true
        px -o /dev/null http://p.p/show-status || true
        px -o /dev/null "http://p.p/show-url-info?url=www.example.com%2Fads%2Fbanner.gif" || true
        px -o /dev/null "http://p.p/show-url-info?url=https%3A%2F%2Fdoubleclick.net%2F" || true
        PROXY=http://[::1]:8118 px -o /dev/null http://p.p/show-status || true
        px -o /dev/null http://no-such-host.invalid/ || true
    done
    systemctl reload privoxy.service 2>/dev/null || true
    up
    ;;
check)
    up
    px http://p.p/ | grep -q "Privoxy"
    px http://p.p/show-status | grep -q "/etc/privoxy/config"
    code=$(px -o /tmp/pack-privoxy-nohost -w '%{http_code}' http://no-such-host.invalid/ || true)
    [ "$code" = 404 ] && grep -q "No such domain" /tmp/pack-privoxy-nohost || {
        echo "an unresolvable host got $code, not privoxy's 'No such domain' page" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
