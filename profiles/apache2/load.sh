#!/bin/sh
# Apache 2.4 as Debian packages it (mpm_event: a root parent, www-data children, started and
# stopped through apachectl), with mod_cgid (its own CGI daemon) and a CGI script that
# writes, run inside the pack's guest systemd.
#   setup: mod_cgid enabled; /usr/lib/cgi-bin/pack (a shell CGI: POST appends a note to
#          /var/lib/pack-apache/notes, owned by www-data; GET lists them); apache2 started.
#   load:  300 requests (Debian's page, 404s, server-status, CGI notes written and read), a
#          reload (apachectl graceful: children replaced).
#   check: Debian's default page, a fresh note POSTed to the CGI is read back, server-status
#          answers from localhost.
set -eu
url=http://127.0.0.1
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 75 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    a2enmod -q cgid >/dev/null
    mkdir -p /var/lib/pack-apache
    chown www-data:www-data /var/lib/pack-apache
    cat >/usr/lib/cgi-bin/pack <<'CGI'
#!/bin/sh
notes=/var/lib/pack-apache/notes
printf 'Content-Type: text/plain\r\n\r\n'
if [ "$REQUEST_METHOD" = POST ]; then
    head -c "${CONTENT_LENGTH:-0}" >>"$notes"
    echo >>"$notes"
    echo saved
else
    cat "$notes" 2>/dev/null || true
fi
CGI
    chmod 755 /usr/lib/cgi-bin/pack
    systemctl start apache2.service
    up
    ;;
load)
    up
    i=0
    while [ $i -lt 60 ]; do
        curl -fsS -o /dev/null "$url/" || true
        curl -sS -o /dev/null "$url/missing-$i" || true
        curl -fsS -o /dev/null -d "note-$i" "$url/cgi-bin/pack" || true
        curl -fsS -o /dev/null "$url/cgi-bin/pack" || true
        curl -fsS -o /dev/null "$url/server-status?auto" || true
        i=$((i + 1))
    done
    systemctl reload apache2.service
    up
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q 'Apache2 Debian Default Page' || { echo "no Debian default page" >&2; exit 1; }
    token="check-$(date +%s%N)"
    curl -fsS --max-time 5 -d "$token" "$url/cgi-bin/pack" | grep -q saved || { echo "the CGI did not save" >&2; exit 1; }
    curl -fsS --max-time 5 "$url/cgi-bin/pack" | grep -q "$token" || { echo "the note was not read back" >&2; exit 1; }
    curl -fsS --max-time 5 "$url/server-status?auto" | grep -q '^ServerVersion' || { echo "no server-status" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
