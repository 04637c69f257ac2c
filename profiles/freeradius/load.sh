#!/bin/sh
# FreeRADIUS 3.2.1 as Debian packages it (freeradius.service: Type=notify with a watchdog, User=
# freerad, the unit's own NoNewPrivileges, PrivateTmp, ReadOnlyDirectories=/etc/freeradius/;
# `freeradius -Cx` as ExecStartPre, ExecReload a config check then SIGHUP; its modules rlm_*.so
# loaded at start from /usr/lib/freeradius), Debian's default configuration (sites default and
# inner-tunnel, auth on port 1812 and accounting on 1813 on every IPv4 and IPv6 address, the
# clients localhost and localhost_ipv6 with secret testing123, status_server = yes, accounting
# written to detail files under /var/log/freeradius/radacct), run inside the pack's guest
# systemd. Clients: radtest and radclient (freeradius-utils).
#   setup: a user packuser (Cleartext-Password packpass, a Reply-Message) put first in
#          /etc/freeradius/3.0/mods-config/files/authorize; the unit started.
#   load:  Access-Requests over 127.0.0.1 and ::1, for about 4 s in a loop: batches of 50 PAP
#          requests (radclient, 10 in parallel) and 20 CHAP ones over 127.0.0.1, 10 PAP over ::1,
#          an MS-CHAP one (radtest -t mschap), Status-Server to 1812 and 1813, a wrong password;
#          18 rejected ones sent in parallel at the start (a wrong password, an unknown user, over
#          both addresses: each answered after Debian's reject_delay of 1 s); Accounting-Requests
#          to port 1813 over 127.0.0.1 and ::1 (Start, Interim-Update, Stop for 20 sessions,
#          written to the detail files); then a user added to the authorize file and a reload
#          (the files module re-reads it on SIGHUP), that user then accepted; about 8 s in all.
#   check: packuser with the right password gets Access-Accept with its Reply-Message (PAP over
#          127.0.0.1 and ::1, and CHAP), a wrong password gets Access-Reject, an Accounting-Request
#          with a fresh session id is answered and written to the detail file, Status-Server is
#          answered.
set -eu
authorize=/etc/freeradius/3.0/mods-config/files/authorize
secret=testing123
reply="Hello, packuser, from the pack"
up() {
    i=0
    until radtest packuser packpass 127.0.0.1 0 $secret 2>/dev/null | grep -q 'Received Access-Accept'; do
        i=$((i + 1)); [ $i -lt 60 ] || { echo "freeradius does not accept packuser on 127.0.0.1:1812" >&2; return 1; }; sleep 0.3
    done
}
rc() { radclient -t 3 -r 1 "$@"; }
case "${1:-}" in
setup)
    if ! grep -q '^packuser ' $authorize; then
        { printf 'packuser Cleartext-Password := "packpass"\n\tReply-Message := "Hello, %%{User-Name}, from the pack"\n\n'
          cat $authorize; } >/tmp/pack-authorize
        cat /tmp/pack-authorize >$authorize   # keeps the file's owner and mode
        rm -f /tmp/pack-authorize
    fi
    systemctl start freeradius.service
    up
    ;;
load)
    up
    printf 'User-Name = "packuser", User-Password = "packpass"\n' >/tmp/pack-pap
    printf 'User-Name = "packuser", CHAP-Password = "packpass"\n' >/tmp/pack-chap
    : >/tmp/pack-acct
    for s in $(seq 1 20); do
        for t in Start Interim-Update Stop; do
            printf 'Acct-Status-Type = %s, Acct-Session-Id = "load-%s-%s", User-Name = "packuser", NAS-IP-Address = 127.0.0.1, NAS-Port = %s, Framed-IP-Address = 10.0.0.%s, Acct-Session-Time = %s\n\n' \
                $t $$ $s $s $s $s >>/tmp/pack-acct
        done
    done
    # Rejections come back after reject_delay (1 s): sent in parallel, in the background.
    for i in $(seq 1 6); do
        radtest packuser wrong 127.0.0.1 0 $secret >/dev/null 2>&1 &
        radtest nosuchuser pw 127.0.0.1 0 $secret >/dev/null 2>&1 &
        printf 'User-Name = "packuser", User-Password = "bad"\n' | rc -q "[::1]:1812" auth $secret >/dev/null 2>&1 &
    done
    end=$(($(date +%s) + 4))
    while [ "$(date +%s)" -lt "$end" ]; do
        rc -q -c 50 -p 10 -f /tmp/pack-pap 127.0.0.1 auth $secret || true
        rc -q -c 20 -f /tmp/pack-chap 127.0.0.1 auth $secret || true
        rc -q -c 10 -f /tmp/pack-pap "[::1]:1812" auth $secret || true
        radtest -t mschap packuser packpass 127.0.0.1 0 $secret >/dev/null 2>&1 || true
        printf 'Message-Authenticator = 0x00\n' | rc -q 127.0.0.1 status $secret || true
        printf 'Message-Authenticator = 0x00\n' | rc -q 127.0.0.1:1813 status $secret || true
        radtest packuser wrong 127.0.0.1 0 $secret >/dev/null 2>&1 &
    done
    rc -q -f /tmp/pack-acct 127.0.0.1 acct $secret || true
    rc -q -f /tmp/pack-acct "[::1]:1813" acct $secret || true
    wait
    # A user added while running, read by the files module on reload (SIGHUP).
    grep -q '^reloaduser ' $authorize ||
        printf '\nreloaduser Cleartext-Password := "reloadpass"\n' >>$authorize
    systemctl reload freeradius.service
    up
    i=0
    until radtest reloaduser reloadpass 127.0.0.1 0 $secret 2>/dev/null | grep -q 'Received Access-Accept'; do
        i=$((i + 1)); [ $i -lt 20 ] || { echo "reloaduser not accepted after the reload" >&2; exit 1; }; sleep 0.3
    done
    rm -f /tmp/pack-pap /tmp/pack-chap /tmp/pack-acct
    ;;
check)
    up
    out=$(radtest packuser packpass 127.0.0.1 0 $secret 2>&1 || true)
    echo "$out" | grep -q 'Received Access-Accept' && echo "$out" | grep -q "Reply-Message = \"$reply\"" || {
        echo "PAP over 127.0.0.1: no Access-Accept with the Reply-Message:" >&2; echo "$out" >&2; exit 1; }
    out=$(printf 'User-Name = "packuser", User-Password = "packpass"\n' | rc -x "[::1]:1812" auth $secret 2>&1 || true)
    echo "$out" | grep -q 'Received Access-Accept' && echo "$out" | grep -q "Reply-Message = \"$reply\"" || {
        echo "PAP over ::1: no Access-Accept with the Reply-Message:" >&2; echo "$out" >&2; exit 1; }
    out=$(radtest -t chap packuser packpass 127.0.0.1 0 $secret 2>&1 || true)
    echo "$out" | grep -q 'Received Access-Accept' || {
        echo "CHAP: no Access-Accept:" >&2; echo "$out" >&2; exit 1; }
    out=$(radtest packuser wrongpass 127.0.0.1 0 $secret 2>&1 || true)
    echo "$out" | grep -q 'Received Access-Reject' || {
        echo "a wrong password did not get Access-Reject:" >&2; echo "$out" >&2; exit 1; }
    token="check-$(date +%s)-$$"
    out=$(printf 'Acct-Status-Type = Start, Acct-Session-Id = "%s", User-Name = "packuser", NAS-IP-Address = 127.0.0.1, NAS-Port = 7\n' "$token" |
        rc -x 127.0.0.1 acct $secret 2>&1 || true)
    echo "$out" | grep -q 'Received Accounting-Response' || {
        echo "an Accounting-Request got no Accounting-Response:" >&2; echo "$out" >&2; exit 1; }
    grep -rqs "Acct-Session-Id = \"$token\"" /var/log/freeradius/radacct/127.0.0.1/ || {
        echo "session $token not written under /var/log/freeradius/radacct/127.0.0.1/" >&2; exit 1; }
    out=$(printf 'Message-Authenticator = 0x00\n' | rc -x 127.0.0.1 status $secret 2>&1 || true)
    echo "$out" | grep -q 'Received Access-Accept' || {
        echo "Status-Server not answered:" >&2; echo "$out" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
