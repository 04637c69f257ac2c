#!/bin/sh
# Caddy 2.6 as Debian packages it (a Go server running as user caddy; its unit grants
# CAP_NET_BIND_SERVICE through AmbientCapabilities=), run inside the pack's guest systemd.
#   setup: a Caddyfile serving Debian's static page on :81 (a privileged port: the unit's
#          ambient capability is what lets it bind), /proxy/* reverse-proxied to the guest's
#          nginx (127.0.0.1:80), an access log in /var/log/caddy, the admin API on
#          localhost:2019; nginx started; caddy started.
#   load:  300 requests (static pages, gzip, a 404, through the proxy), the admin API's
#          config, a reload (`caddy reload` through the admin API, ExecReload=).
#   check: Debian's "Caddy works!" page on :81, nginx's page through /proxy/, the admin API
#          holds the :81 server, and the request is in the access log.
set -eu
url=http://127.0.0.1:81
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 75 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start nginx.service
    cat >/etc/caddy/Caddyfile <<'CONF'
{
	admin localhost:2019
}

:81 {
	root * /usr/share/caddy
	encode gzip
	handle_path /proxy/* {
		reverse_proxy 127.0.0.1:80
	}
	file_server
	log {
		output file /var/log/caddy/access.log
	}
}
CONF
    systemctl start caddy.service
    up
    ;;
load)
    up
    i=0
    while [ $i -lt 75 ]; do
        curl -fsS -o /dev/null "$url/" || true
        curl -fsS -o /dev/null --compressed "$url/index.html" || true
        curl -sS -o /dev/null "$url/missing-$i" || true
        curl -fsS -o /dev/null "$url/proxy/" || true
        i=$((i + 1))
    done
    curl -fsS -o /dev/null http://localhost:2019/config/ || true
    systemctl reload caddy.service
    up
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q 'Caddy works!' || { echo "no Caddy page on :81" >&2; exit 1; }
    curl -fsS --max-time 5 "$url/proxy/" | grep -q 'Welcome to nginx' || { echo "no nginx page through /proxy/" >&2; exit 1; }
    curl -fsS --max-time 5 http://localhost:2019/config/ | grep -q ':81' || { echo "the admin API does not hold the :81 server" >&2; exit 1; }
    token="check-$(date +%s%N)"
    curl -sS -o /dev/null --max-time 5 "$url/$token" || true
    sleep 0.5
    grep -q "$token" /var/log/caddy/access.log || { echo "the request is not in the access log" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
