#!/bin/sh
# Dovecot 2.3 as Debian packages it (IMAP, PAM logins through auth-system, mbox in
# /var/mail), with dovecot-lmtpd for local delivery, which runs as the recipient; inside the
# pack's guest systemd.
#   setup: a local user `packimap` with a password; Debian's listeners (every address,
#          IPv4 and IPv6); the unit started.
#   load:  20 messages delivered over LMTP (/run/dovecot/lmtp) to packimap, 10 IMAP logins
#          (PAM) that list, search and fetch them, one over IMAPS (Debian's self-signed
#          certificate), a login with a wrong password, a reload.
#   check: a message with a fresh token delivered over LMTP is found and read back through
#          an IMAP login with the user's password, for packimap and for packimap2, a user made
#          by the check itself (no recording saw it); a wrong password is refused.
set -eu
user=packimap
pass=Pack-imap-1
py() {
    python3 - "$@" <<'PY'
import imaplib, smtplib, ssl, sys
mode, user, pw = sys.argv[1], sys.argv[2], sys.argv[3]
arg = sys.argv[4] if len(sys.argv) > 4 else ""
def login(tls=False):
    if tls:
        m = imaplib.IMAP4_SSL("127.0.0.1", 993, ssl_context=ssl._create_unverified_context(), timeout=10)
    else:
        m = imaplib.IMAP4("127.0.0.1", 143, timeout=10)
    m.login(user, pw)
    return m
if mode == "greet":
    imaplib.IMAP4("127.0.0.1", 143, timeout=2).logout()
elif mode == "deliver":
    msg = f"From: sender@pack.test\r\nTo: {user}@pack.test\r\nSubject: {arg}\r\n\r\nbody {arg}\r\n"
    s = smtplib.LMTP("/run/dovecot/lmtp", timeout=10)
    # The system user's name: Debian's passwd userdb does not know user@domain.
    s.sendmail("sender@pack.test", [user], msg)
    s.quit()
elif mode in ("read", "read-tls"):
    m = login(mode == "read-tls")
    m.list()
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", arg) if arg else m.search(None, "ALL")
    ids = data[0].split()
    if not ids:
        sys.exit(f"no message {arg!r} in INBOX")
    typ, body = m.fetch(ids[-1], "(RFC822)")
    if arg and arg.encode() not in body[0][1]:
        sys.exit(f"message {arg!r} read back without its body")
    m.logout()
elif mode == "badlogin":
    try:
        login()
    except imaplib.IMAP4.error:
        sys.exit(0)
    sys.exit("a wrong password was accepted")
PY
}
up() {
    i=0
    until py greet x x >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    echo "$user:$pass" | chpasswd
    systemctl start dovecot.service
    up
    ;;
load)
    up
    for i in $(seq 20); do py deliver "$user" "$pass" "load $i" || true; done
    for i in $(seq 10); do py read "$user" "$pass" "load $i" || true; done
    py read-tls "$user" "$pass" "load 1" || true
    py badlogin "$user" wrong-password || true
    systemctl reload dovecot.service || true
    up
    py read "$user" "$pass" "" || true
    ;;
check)
    up
    # A second user, made only now: the recordings saw packimap alone, and the drop-in must
    # serve every user of the host (its mbox in /var/mail, its index in its home).
    id packimap2 >/dev/null 2>&1 || useradd -m -s /bin/sh packimap2
    echo "packimap2:$pass" | chpasswd
    for who in "$user" packimap2; do
        token=check-$$-$(date +%s%N)
        py deliver "$who" "$pass" "$token"
        py read "$who" "$pass" "$token"
    done
    py badlogin "$user" wrong-password
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
