#!/bin/sh
# Apache 2.4 as Debian packages it (mpm_event, its default site on port 80, every address),
# run inside the pack's guest systemd.
#   setup: nginx stopped (this machine enables it, so it starts in every guest and holds port
#          80; a host serving with apache2 would not run it too); Debian's page put in /var/www/html as apache2's postinst does on a fresh install
#          (the pack's host has it removed: nginx's guests serve that directory too); mod_cgid
#          enabled (`a2enmod cgid`, for Debian's serve-cgi-bin.conf) and a CGI script,
#          /usr/lib/cgi-bin/notes, that appends a POSTed note to /var/lib/pack-apache/notes
#          (www-data's) and lists them; the unit started; a note from setup.
#   load:  ab on / for 3 s (4 clients), pages, a 404, notes POSTed and read through the CGI,
#          /server-status (mod_status, local only as Debian allows it), a reload (graceful),
#          more ab.
#   check: / is Debian's page, a missing page 404, a fresh note POSTed through the CGI is
#          read back, the setup note still there, /server-status?auto counts accesses.
set -eu
url=http://127.0.0.1
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "apache2 does not answer on :80" >&2; return 1; }; sleep 0.2
    done
}
note() { curl -fsS --max-time 5 --data-binary "$1" "$url/cgi-bin/notes"; }
case "${1:-}" in
setup)
    systemctl stop nginx.service
    [ -e /var/www/html/index.html ] || cp /usr/share/apache2/default-site/index.html /var/www/html/index.html
    a2enmod -q cgid
    install -d -o www-data -g www-data -m 750 /var/lib/pack-apache
    cat >/usr/lib/cgi-bin/notes <<'CGI'
#!/bin/sh
# POST: append the body as a note; GET: every note.
notes=/var/lib/pack-apache/notes
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
    systemctl start apache2.service
    up
    note "note from setup" >/dev/null
    ;;
load)
    up
    ab -q -c 4 -t 3 "$url/" >/dev/null 2>&1 || true
    for p in / /index.html /no-such-page /icons/ /server-status /server-status?auto; do
        curl -s -o /dev/null --max-time 2 "$url$p" || true
    done
    for i in $(seq 30); do note "load note $i" >/dev/null || true; done
    curl -s -o /dev/null --max-time 2 "$url/cgi-bin/notes" || true
    systemctl reload apache2.service || true
    up || true
    ab -q -c 4 -n 300 "$url/" >/dev/null 2>&1 || true
    for i in $(seq 5); do note "after reload $i" >/dev/null || true; done
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q "Apache2 Debian Default Page" \
        || { echo "/ is not Debian's page" >&2; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/no-such-page")
    [ "$code" = 404 ] || { echo "a missing page answered $code" >&2; exit 1; }
    token="note $(date +%s%N)"
    [ "$(note "$token")" = stored ] || { echo "the CGI did not store a note" >&2; exit 1; }
    notes=$(curl -fsS --max-time 5 "$url/cgi-bin/notes")
    echo "$notes" | grep -qx "$token" || { echo "the note '$token' is not read back" >&2; exit 1; }
    echo "$notes" | grep -qx "note from setup" || { echo "the setup note is gone" >&2; exit 1; }
    curl -fsS --max-time 5 "$url/server-status?auto" | grep -q "^Total Accesses: " \
        || { echo "/server-status does not count accesses" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
