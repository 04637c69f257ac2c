#!/bin/sh
# lighttpd 1.4 as Debian packages it (port 80 on every address, IPv4 and IPv6, workers as
# www-data), run inside the pack's guest systemd.
#   setup: nginx stopped (this machine enables it, so it starts in every guest and holds port
#          80; a host serving with lighttpd would not run it too); a site page (/var/www/html/pack.html; the host's /var/www/html belongs to nginx's
#          guests), the modules a user enables with lighttpd-enable-mod: accesslog, cgi (for
#          /usr/lib/cgi-bin), status (its page on /server-status), and a CGI script,
#          /usr/lib/cgi-bin/notes, that appends a POSTed note to /var/lib/pack-lighttpd/notes
#          (www-data's) and lists them; the unit started; a note from setup.
#   load:  ab on the page for 3 s (4 clients), pages, a 404, notes POSTed and read through the
#          CGI, /server-status, a reload (SIGUSR1, its graceful restart), more ab.
#   check: the page answers, a missing page 404, a fresh note POSTed through the CGI is read
#          back, the setup note still there, /server-status answers.
set -eu
url=http://127.0.0.1
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/pack.html"; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "lighttpd does not answer on :80" >&2; return 1; }; sleep 0.2
    done
}
note() { curl -fsS --max-time 5 --data-binary "$1" "$url/cgi-bin/notes"; }
case "${1:-}" in
setup)
    systemctl stop nginx.service
    echo '<html><body><h1>pack site on lighttpd</h1></body></html>' >/var/www/html/pack.html
    lighttpd-enable-mod accesslog cgi status >/dev/null
    echo 'status.status-url = "/server-status"' >/etc/lighttpd/conf-enabled/50-pack-status.conf
    install -d -o www-data -g www-data -m 750 /var/lib/pack-lighttpd
    install -d /usr/lib/cgi-bin
    cat >/usr/lib/cgi-bin/notes <<'CGI'
#!/bin/sh
# POST: append the body as a note; GET: every note.
notes=/var/lib/pack-lighttpd/notes
printf 'Content-Type: text/plain\r\n\r\n'
if [ "$REQUEST_METHOD" = POST ]; then
    head -c "${CONTENT_LENGTH:-0}" | tr -d '\n' >>"$notes"
    echo >>"$notes"
    echo stored
else
    cat "$notes" 2>/dev/null || true
fi
CGI
    chmod 755 /usr/lib/cgi-bin/notes
    systemctl start lighttpd.service
    up
    note "note from setup" >/dev/null
    ;;
load)
    up
    ab -q -c 4 -t 3 "$url/pack.html" >/dev/null 2>&1 || true
    for p in / /pack.html /no-such-page /server-status /javascript/; do
        curl -s -o /dev/null --max-time 2 "$url$p" || true
    done
    for i in $(seq 30); do note "load note $i" >/dev/null || true; done
    curl -s -o /dev/null --max-time 2 "$url/cgi-bin/notes" || true
    systemctl reload lighttpd.service || true
    up || true
    ab -q -c 4 -n 300 "$url/pack.html" >/dev/null 2>&1 || true
    for i in $(seq 5); do note "after reload $i" >/dev/null || true; done
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/pack.html" | grep -q "pack site on lighttpd" \
        || { echo "/pack.html is not the site's page" >&2; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/no-such-page")
    [ "$code" = 404 ] || { echo "a missing page answered $code" >&2; exit 1; }
    token="note $(date +%s%N)"
    [ "$(note "$token")" = stored ] || { echo "the CGI did not store a note" >&2; exit 1; }
    notes=$(curl -fsS --max-time 5 "$url/cgi-bin/notes")
    echo "$notes" | grep -qx "$token" || { echo "the note '$token' is not read back" >&2; exit 1; }
    echo "$notes" | grep -qx "note from setup" || { echo "the setup note is gone" >&2; exit 1; }
    curl -fsS --max-time 5 "$url/server-status" | grep -q "Server-Status" \
        || { echo "/server-status does not answer" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
