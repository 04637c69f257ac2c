#!/bin/sh
# postfix 3.7 as Debian packages it (Internet site; smtpd, cleanup and the queue workers
# chrooted to /var/spool/postfix and run as user postfix; local delivery as the recipient),
# run inside the pack's guest systemd. The daemon is the instance unit postfix@-.service.
#   setup: a local user `packmail`; main.cf: myhostname mail.pack.test, delivery for
#          localhost and pack.test, listening on every address as Debian's default
#          (inet_interfaces=all, inet_protocols=all); newaliases; the unit started;
#          the chroot's copies of /dev/random and /dev/urandom removed (see below).
#   load:  20 mails over SMTP on 127.0.0.1:25 to packmail (local delivery into
#          /var/mail/packmail), one to root via the postmaster alias, one to an unknown user
#          (rejected at RCPT), one to an unknown domain (deferred: no network), a reload,
#          mailq and a queue flush.
#   check: a mail with a fresh token submitted on 127.0.0.1:25 is delivered to
#          /var/mail/packmail within 15 s, and an unknown local user is rejected with 550.
set -eu
user=packmail
box=/var/mail/$user
up() {
    i=0
    until swaks --server 127.0.0.1:25 --quit-after EHLO --silent 2 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
send() { # TO SUBJECT
    swaks --server 127.0.0.1:25 --from sender@pack.test --to "$1" \
        --header "Subject: $2" --body "pack body $2" --silent 2
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    postconf -e myhostname=mail.pack.test mydomain=pack.test myorigin=pack.test \
        'mydestination=$myhostname, pack.test, localhost.localdomain, localhost' \
        inet_interfaces=all inet_protocols=all relayhost= \
        'mynetworks=127.0.0.0/8'
    newaliases
    systemctl start postfix@-.service
    up
    # Debian's start copies /dev/random and /dev/urandom into the chroot (cpio -p, mknod)
    # only when they are missing or older there. Removed again, so the recorded start is
    # the package's first start: under a drop-in with PrivateDevices=yes the private /dev's
    # nodes are always newer, and every start would make them.
    rm -f /var/spool/postfix/dev/random /var/spool/postfix/dev/urandom
    ;;
load)
    up
    for i in $(seq 20); do send "$user@localhost" "load $i" >/dev/null 2>&1 || true; done
    send postmaster@localhost "to root" >/dev/null 2>&1 || true
    send nobody-here@localhost "unknown" >/dev/null 2>&1 || true
    send someone@example.invalid "remote" >/dev/null 2>&1 || true
    sleep 1
    systemctl reload postfix@-.service || true
    mailq >/dev/null 2>&1 || true
    postqueue -f >/dev/null 2>&1 || true
    send "$user@pack.test" "after reload" >/dev/null 2>&1 || true
    sleep 1
    ;;
check)
    up
    token=check-$$-$(date +%s%N)
    send "$user@localhost" "$token" >/dev/null
    i=0
    until grep -q "$token" "$box" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 75 ] || { echo "$token not delivered to $box" >&2; mailq >&2; exit 1; }
        sleep 0.2
    done
    out=$(swaks --server 127.0.0.1:25 --from sender@pack.test --to nobody-here@localhost \
        --quit-after RCPT 2>&1 || true)
    echo "$out" | grep -q '^<\*\* *550' || { echo "unknown user not rejected: $out" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
