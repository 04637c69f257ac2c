#!/bin/sh
# OpenSMTPD 6.8 as Debian packages it (opensmtpd.service, its own smtpd.conf: listen on
# localhost, local mail into each user's ~/Maildir, aliases from /etc/aliases), run inside the
# pack's guest systemd. Mail is sent with Python's smtplib, as a local program would.
#   setup: users packmail (made here, home in /home), the unit started, a banner answered.
#   load:  20 mails to packmail, one to postmaster (aliased to root), one to an unknown user
#          (refused at RCPT), one to a remote domain (queued and deferred: the guest has no
#          DNS), smtpctl show queue, show stats, schedule all.
#   check: packmail and a user made just now (pkXXXXXXXX, a recipient no recording saw)
#          each get a mail with a fresh token, found in their ~/Maildir/new within
#          20 s, owned by the recipient; an unknown user is refused.
set -eu
send() {
    python3 - "$@" <<'PY'
import smtplib, sys, time
mode, count = sys.argv[1], int(sys.argv[2])
rcpts = sys.argv[3:]
s = smtplib.SMTP("127.0.0.1", 25, timeout=20)
s.ehlo("pack.example")
for i in range(count):
    for r in rcpts:
        msg = f"From: pack@localhost\r\nTo: {r}\r\nSubject: pack {mode} {i}\r\n\r\n{mode} body {i} {time.time_ns()}\r\n"
        s.sendmail("pack@localhost", [r], msg)
if mode == "load":
    code, _ = s.docmd("RSET")
    s.mail("pack@localhost")
    code, text = s.rcpt("nosuchuser@localhost")
    assert code >= 500, (code, text)
    s.rset()
s.quit()
print("ok", mode, count, rcpts)
PY
}
token_mail() {
    user=$1 token=$2
    python3 - "$user" "$token" <<'PY'
import smtplib, sys
user, token = sys.argv[1:]
s = smtplib.SMTP("127.0.0.1", 25, timeout=20)
s.sendmail("pack@localhost", [f"{user}@localhost"],
    f"From: pack@localhost\r\nTo: {user}@localhost\r\nSubject: check {token}\r\n\r\n{token}\r\n")
s.mail("pack@localhost")
code, text = s.rcpt("nosuchuser@localhost")
assert code >= 500, (code, text)
s.quit()
PY
    i=0
    until grep -rqs "$token" "/home/$user/Maildir/new"; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "no mail with $token for $user" >&2; smtpctl show queue >&2 || true; return 1; }
        sleep 0.2
    done
    owner=$(stat -c %U "$(grep -rls "$token" "/home/$user/Maildir/new" | head -n 1)")
    [ "$owner" = "$user" ] || { echo "the mail for $user is owned by $owner" >&2; return 1; }
}
up() {
    i=0
    until python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", 25, timeout=3).quit()' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "smtpd does not answer" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    id packmail >/dev/null 2>&1 || useradd -m -s /bin/sh packmail
    systemctl start opensmtpd.service
    up
    ;;
load)
    up
    send load 20 packmail@localhost
    send alias 1 postmaster@localhost
    send remote 1 someone@example.org
    smtpctl show queue >/dev/null || true
    smtpctl show stats >/dev/null
    smtpctl schedule all >/dev/null || true
    send load 5 packmail@localhost
    ;;
check)
    up
    t=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
    useradd -m -s /bin/sh "pk$t"
    token_mail packmail "pack-$t-1"
    token_mail "pk$t" "pack-$t-2"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
