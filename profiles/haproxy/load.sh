#!/bin/sh
# haproxy as Debian packages it, in front of the guest's nginx (127.0.0.1:80), run inside the
# pack's guest systemd.
#   setup: a frontend on 127.0.0.1:8080 with a backend of two servers (nginx twice, health
#          checked) and a stats page appended to Debian's /etc/haproxy/haproxy.cfg; nginx
#          started; the unit restarted.
#   load:  wrk through haproxy for 3 s, pages and a 404 passed through, the stats page and
#          `show stat` on its admin socket, a reload.
#   check: / through haproxy is nginx's page, a missing page 404, the stats page answers.
set -eu
url=http://127.0.0.1:8080
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start nginx.service
    cat >>/etc/haproxy/haproxy.cfg <<'CONF'

frontend pack
	bind 127.0.0.1:8080
	default_backend nginx
	stats enable
	stats uri /haproxy-stats

backend nginx
	balance roundrobin
	option httpchk GET /
	server a 127.0.0.1:80 check inter 1s
	server b 127.0.0.1:80 check inter 1s
CONF
    systemctl restart haproxy.service
    up
    ;;
load)
    up
    wrk -t1 -c4 -d3s "$url/" || true
    for p in / /no-such-page /haproxy-stats; do
        curl -s -o /dev/null --max-time 2 "$url$p" || true
    done
    # Debian's config puts the admin socket at /run/haproxy/admin.sock.
    echo "show stat" | timeout 2 socat - unix-connect:/run/haproxy/admin.sock >/dev/null 2>&1 || true
    systemctl reload haproxy.service || true
    wrk -t1 -c4 -d1s "$url/" || true
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q "Welcome to nginx"
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/no-such-page")" = 404 ]
    curl -fsS --max-time 5 "$url/haproxy-stats" | grep -q nginx
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
