#!/bin/sh
# Radicale 3.1 (Python CalDAV/CardDAV server) as Debian packages it (localhost:5232,
# collections in /var/lib/radicale/collections, user radicale), run inside the pack's guest
# systemd.
#   setup: listening as packaged (localhost:5232: 127.0.0.1 and ::1); authentication by
#          a plain htpasswd file with the user `pack` (Debian's default,
#          remote_user, needs a front-end web server), the collections directory given to
#          user radicale (the package leaves it root's), the unit started, a calendar
#          /pack/cal/ made (MKCALENDAR) with an event `setup` in it.
#   load:  about 3 s of CalDAV: events PUT, fetched, listed (PROPFIND depth 1), queried
#          (REPORT calendar-query), deleted; an address book made (MKCOL) with a vCard; a
#          wrong password (401), a missing item (404), the web interface.
#   check: a fresh event PUT is read back by its UID, and the `setup` event is listed in
#          the calendar (PROPFIND, 207).
set -eu
url=http://127.0.0.1:5232
c() { curl -sS --max-time 5 -u pack:packpass "$@"; }
up() {
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/.web/")" = 200 ]; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
event() {
    printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//learner//pack//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20261205T100000Z\r\nDTSTART:20261206T090000Z\r\nDTEND:20261206T100000Z\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$1" "$2"
}
put() { event "$1" "$2" | c -f -o /dev/null -X PUT -H 'Content-Type: text/calendar' --data-binary @- "$url/pack/cal/$1.ics"; }
case "${1:-}" in
setup)
    sed -i 's/^type = remote_user$/type = htpasswd\nhtpasswd_filename = \/etc\/radicale\/users\nhtpasswd_encryption = plain/' /etc/radicale/config
    grep -q '^htpasswd_filename' /etc/radicale/config
    echo pack:packpass >/etc/radicale/users
    chgrp radicale /etc/radicale/users && chmod 640 /etc/radicale/users
    # The package leaves the collections root's (0755), where the service (user radicale)
    # cannot write: "Permission denied: '/var/lib/radicale/collections/.Radicale.lock'".
    chown radicale:radicale /var/lib/radicale/collections
    systemctl restart radicale.service
    up
    c -f -o /dev/null -X MKCALENDAR "$url/pack/cal/"
    put setup "set up"
    ;;
load)
    up
    end=$(($(date +%s) + 3))
    n=0
    while [ "$(date +%s)" -lt $end ]; do
        n=$((n + 1))
        put "load-$n" "load $n" || true
        c -o /dev/null "$url/pack/cal/load-$n.ics" || true
        c -o /dev/null -X PROPFIND -H 'Depth: 1' "$url/pack/cal/" || true
        c -o /dev/null -X REPORT -H 'Depth: 1' -H 'Content-Type: application/xml' --data-binary \
            '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20261201T000000Z" end="20261231T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>' \
            "$url/pack/cal/" || true
        [ $((n % 3)) != 0 ] || c -o /dev/null -X DELETE "$url/pack/cal/load-$n.ics" || true
    done
    c -o /dev/null -X MKCOL -H 'Content-Type: application/xml' --data-binary \
        '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>' \
        "$url/pack/contacts/" || true
    printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Pack User\r\nN:User;Pack;;;\r\nEND:VCARD\r\n' |
        c -o /dev/null -X PUT -H 'Content-Type: text/vcard' --data-binary @- "$url/pack/contacts/card-1.vcf" || true
    curl -s -o /dev/null --max-time 2 -u pack:wrong "$url/pack/" || true
    c -o /dev/null "$url/pack/cal/no-such-item.ics" || true
    curl -s -o /dev/null --max-time 2 "$url/.web/" || true
    ;;
check)
    up
    uid=check-$(date +%s%N)
    put "$uid" "check"
    c -f "$url/pack/cal/$uid.ics" | grep -q "^UID:$uid"
    c -f -X PROPFIND -H 'Depth: 1' "$url/pack/cal/" | grep -q '/pack/cal/setup\.ics'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
