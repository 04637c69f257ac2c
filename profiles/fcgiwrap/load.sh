#!/bin/sh
# fcgiwrap as Debian packages it: socket-activated (fcgiwrap.socket, /run/fcgiwrap.socket,
# 0660 www-data), running as www-data and running a CGI program for every request, here
# behind the guest's nginx, as Debian's nginx documents it (/usr/share/doc/fcgiwrap/examples).
# The unit under test is fcgiwrap.service: a drop-in on it confines every CGI program too.
#   setup: nginx gets a server on 127.0.0.1:8081 passing /cgi-bin/ to fcgiwrap; two CGI
#          programs in /usr/lib/cgi-bin: pack.cgi (sh: echoes its query, appends it to
#          /var/lib/pack-cgi/log, counts the lines with wc, reads /etc/os-release) and
#          env.py (Python: the CGI environment, a POST body echoed back); the socket started.
#   load:  requests to both (GET with query strings, a POST, a missing program: 403/404),
#          concurrent with xargs, a restart of fcgiwrap.service (the socket keeps listening).
#   check: a fresh token through pack.cgi comes back with the count, and is in
#          /var/lib/pack-cgi/log; a POST with a fresh token through env.py comes back; a
#          request of a program that is not there is refused.
set -eu
url=http://127.0.0.1:8081/cgi-bin
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 5 "$url/pack.cgi?up"; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    cat >/etc/nginx/sites-enabled/pack-cgi <<'CONF'
server {
    listen 127.0.0.1:8081;
    location /cgi-bin/ {
        gzip off;
        fastcgi_pass unix:/run/fcgiwrap.socket;
        include /etc/nginx/fastcgi_params;
        fastcgi_param SCRIPT_FILENAME /usr/lib$fastcgi_script_name;
    }
}
CONF
    mkdir -p /usr/lib/cgi-bin /var/lib/pack-cgi
    chown www-data:www-data /var/lib/pack-cgi
    cat >/usr/lib/cgi-bin/pack.cgi <<'CGI'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "query=$QUERY_STRING"
echo "$QUERY_STRING" >>/var/lib/pack-cgi/log
echo "lines=$(wc -l </var/lib/pack-cgi/log)"
. /etc/os-release
echo "os=$ID"
CGI
    cat >/usr/lib/cgi-bin/env.py <<'CGI'
#!/usr/bin/python3
import os, sys
n = int(os.environ.get("CONTENT_LENGTH") or 0)
body = sys.stdin.read(n) if n else ""
print("Content-Type: text/plain")
print()
print("method=" + os.environ.get("REQUEST_METHOD", ""))
print("body=" + body)
print("server=" + os.environ.get("SERVER_SOFTWARE", ""))
CGI
    chmod 755 /usr/lib/cgi-bin/pack.cgi /usr/lib/cgi-bin/env.py
    systemctl start fcgiwrap.socket
    systemctl restart nginx.service
    up
    ;;
load)
    up
    for i in 1 2 3 4 5 6 7 8 9 10; do
        curl -fsS "$url/pack.cgi?load-$i" >/dev/null || true
        curl -fsS --data "body-$i" "$url/env.py" >/dev/null || true
    done
    seq 1 40 | xargs -P 8 -I{} curl -fsS -o /dev/null "$url/pack.cgi?par-{}" || true
    curl -sS -o /dev/null "$url/missing.cgi" || true
    systemctl restart fcgiwrap.service || true
    up || true
    curl -fsS "$url/pack.cgi?after-restart" >/dev/null || true
    ;;
check)
    up
    tok="t$(date +%s%N)"
    out=$(curl -fsS "$url/pack.cgi?$tok")
    echo "$out" | grep -qx "query=$tok"
    echo "$out" | grep -q '^lines=[0-9]'
    echo "$out" | grep -qx 'os=debian'
    grep -qx "$tok" /var/lib/pack-cgi/log
    curl -fsS --data "p$tok" "$url/env.py" | grep -qx "body=p$tok"
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/missing.cgi")
    [ "$code" = 403 ] || [ "$code" = 404 ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
