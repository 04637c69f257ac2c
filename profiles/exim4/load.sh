#!/bin/sh
# Exim 4 as Debian packages it (exim4-daemon-light, its init script: the unit is systemd's
# generated exim4.service; Debian's default configuration: local delivery only, SMTP on
# 127.0.0.1 and ::1 port 25, mail to /var/mail/USER delivered as the recipient); run inside the
# pack's guest systemd. The SMTP client is swaks.
#   setup: a user packmail; the unit started; a message from setup delivered over SMTP.
#   load:  60 messages to packmail@localhost over SMTP (plain and 8-bit bodies, several
#          recipients, one 200 kB), a recipient that does not exist (refused at RCPT), a
#          relay attempt to another domain (refused), for about 4 s.
#   check: a message with a fresh token sent over SMTP on port 25 lands in
#          /var/mail/packmail within 20 s; the setup message is still there.
set -eu
h=127.0.0.1
mbox=/var/mail/packmail
up() {
    i=0
    until swaks --quit-after EHLO --server $h:25 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "exim4 does not answer on 127.0.0.1:25" >&2; return 1; }; sleep 0.2
    done
}
send() { swaks --silent 2 --server $h:25 --from root@localhost "$@"; }
case "${1:-}" in
setup)
    id packmail >/dev/null 2>&1 || useradd -m -s /bin/sh packmail
    systemctl start exim4.service
    up
    send --to packmail@localhost --header "Subject: from setup" --body "kept since setup"
    ;;
load)
    up
    for i in $(seq 50); do
        send --to packmail@localhost --header "Subject: load $i" --body "message $i" || true
    done
    for i in $(seq 5); do
        send --to packmail@localhost,root@localhost --header "Subject: two $i" --body "to two" || true
    done
    big=$(mktemp)
    head -c 150000 /dev/urandom | base64 >"$big"
    send --to packmail@localhost --header "Subject: big" --body "@$big" || true
    rm -f "$big"
    send --to nobody-here@localhost --body "no such user" >/dev/null 2>&1 || true
    send --to someone@example.org --body "relay" >/dev/null 2>&1 || true
    for i in $(seq 4); do
        send --to packmail@localhost --header "Subject: 8bit $i" --header "Content-Type: text/plain; charset=utf-8" \
            --header "Content-Transfer-Encoding: 8bit" --body "caf$(printf '\303\251') $i" || true
    done
    ;;
check)
    up
    token="check $(date +%s%N)"
    send --to packmail@localhost --header "Subject: $token" --body "$token"
    i=0
    until grep -qx "Subject: $token" "$mbox" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "'$token' not delivered to $mbox" >&2; exit 1; }; sleep 0.2
    done
    [ "$(stat -c %U "$mbox")" = packmail ] || { echo "$mbox is not packmail's" >&2; exit 1; }
    grep -qx "Subject: from setup" "$mbox" || { echo "the setup message is gone from $mbox" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
