#!/bin/sh
# OpenDKIM 2.11 as Debian packages it (opendkim.service, forking, dropping to user opendkim;
# mode sign and verify), run inside the pack's guest systemd as the milter of the guest's
# postfix (Debian's Internet site, smtpd chrooted to /var/spool/postfix).
#   setup: a 2048-bit key for pack.test, selector mail, made with opendkim-genkey in
#          /etc/dkimkeys (owned by opendkim, 0600, as README.PrivateKeys asks);
#          /etc/opendkim.conf: Domain, Selector, KeyFile, and the Socket line Debian's file
#          suggests for postfix's chroot (local:/var/spool/postfix/opendkim/opendkim.sock),
#          postfix in group opendkim; the unit started; postfix: a local user packmail,
#          delivery for pack.test and localhost, smtpd_milters and non_smtpd_milters on that
#          socket (a milter failure defers mail: milter_default_action=tempfail, postfix's
#          default), started.
#   load:  25 mails from sender@pack.test over SMTP on 127.0.0.1:25 (signed), 3 from a domain
#          that is not ours (passed unsigned), one submitted with sendmail (non-SMTP milter),
#          a reload (SIGUSR1: configuration re-read), more mails; and, through opendkim's own
#          miltertest, 3 mails signed for example.org from a client outside InternalHosts:
#          opendkim verifies them and asks DNS for the key (libunbound, recursing from the
#          root servers: unreachable here, so the verdict is a failure to get the key), for
#          about 8 s.
#   check: a mail with a fresh token from sender@pack.test is delivered to /var/mail/packmail
#          within 15 s, carrying a DKIM-Signature of d=pack.test that verifies (dkimpy,
#          against the public key opendkim-genkey wrote to mail.txt, the TXT record a real
#          domain would publish).
set -eu
user=packmail
box=/var/mail/$user
sock=/var/spool/postfix/opendkim/opendkim.sock
up() {
    i=0
    until [ -S $sock ] && swaks --server 127.0.0.1:25 --quit-after EHLO --silent 2 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "no milter socket or no postfix on :25" >&2; return 1; }; sleep 0.2
    done
}
send() { # FROM TO SUBJECT
    swaks --server 127.0.0.1:25 --from "$1" --to "$2" \
        --header "Subject: $3" --body "pack body $3" --silent 2
}
case "${1:-}" in
setup)
    opendkim-genkey -b 2048 -D /etc/dkimkeys -d pack.test -s mail
    chown opendkim:opendkim /etc/dkimkeys/mail.private /etc/dkimkeys/mail.txt
    chmod 600 /etc/dkimkeys/mail.private
    sed -i -e 's|^#Domain.*|Domain\t\t\tpack.test|' -e 's|^#Selector.*|Selector\t\tmail|' \
        -e 's|^#KeyFile.*|KeyFile\t\t/etc/dkimkeys/mail.private|' \
        -e 's|^Socket.*|Socket\t\t\tlocal:/var/spool/postfix/opendkim/opendkim.sock|' \
        /etc/opendkim.conf
    install -d -o opendkim -g opendkim -m 750 /var/spool/postfix/opendkim
    usermod -a -G opendkim postfix
    systemctl start opendkim.service
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    postconf -e myhostname=mail.pack.test mydomain=pack.test myorigin=pack.test \
        'mydestination=$myhostname, pack.test, localhost.localdomain, localhost' \
        relayhost= 'mynetworks=127.0.0.0/8' \
        smtpd_milters=unix:opendkim/opendkim.sock 'non_smtpd_milters=$smtpd_milters'
    newaliases
    systemctl start postfix@-.service
    up
    ;;
load)
    up
    for i in $(seq 20); do send sender@pack.test "$user@localhost" "load $i" >/dev/null 2>&1 || true; done
    for i in $(seq 3); do send someone@example.org "$user@localhost" "foreign $i" >/dev/null 2>&1 || true; done
    printf 'From: sender@pack.test\nTo: %s@localhost\nSubject: by sendmail\n\nlocal submission\n' "$user" |
        /usr/sbin/sendmail -f sender@pack.test "$user@localhost" || true
    sleep 1
    systemctl reload opendkim.service || true
    up
    for i in $(seq 5); do send sender@pack.test "$user@pack.test" "after reload $i" >/dev/null 2>&1 || true; done
    # Inbound mail: verifying needs the signer's key from DNS. Not pack.test: libunbound
    # answers test. itself (a special-use domain), without a query.
    t=$(mktemp -d)
    /usr/bin/python3 - "$t/verify.lua" "$sock" <<'PY' || true
import sys
import dkim
lua, sock = sys.argv[1:]
key = open("/etc/dkimkeys/mail.private", "rb").read()
msg = b"From: someone@example.org\r\nTo: packmail@pack.test\r\nSubject: inbound\r\n\r\nfrom afar\r\n"
sig = dkim.sign(msg, b"mail", b"example.org", key, include_headers=[b"from", b"to", b"subject"])
value = sig.decode().split(":", 1)[1].strip().replace("\r\n", "\n")
open(lua, "w").write(f'''mt.set_timeout(8)
conn = mt.connect("unix:{sock}")
if conn == nil then error("no milter on {sock}") end
mt.conninfo(conn, "mx.example.org", "192.0.2.25")
mt.mailfrom(conn, "someone@example.org")
mt.rcptto(conn, "packmail@pack.test")
mt.header(conn, "DKIM-Signature", [[{value}]])
mt.header(conn, "From", "someone@example.org")
mt.header(conn, "To", "packmail@pack.test")
mt.header(conn, "Subject", "inbound")
mt.eoh(conn)
mt.bodystring(conn, "from afar\\r\\n")
mt.eom(conn)
mt.disconnect(conn)
''')
PY
    for i in 1 2 3; do timeout 10 miltertest -s "$t/verify.lua" >/dev/null 2>&1 & done
    wait
    rm -rf "$t"
    ;;
check)
    up
    token=check-$$-$(date +%s%N)
    send sender@pack.test "$user@localhost" "$token" >/dev/null
    i=0
    until grep -q "Subject: $token" "$box" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 75 ] || { echo "$token not delivered to $box" >&2; mailq >&2; exit 1; }
        sleep 0.2
    done
    /usr/bin/python3 - "$box" "$token" /etc/dkimkeys/mail.txt <<'PY'
import mailbox, re, sys
import dkim
box, token, txt = sys.argv[1:]
# The TXT record as published: the quoted strings of opendkim-genkey's mail.txt, joined.
record = "".join(re.findall(r'"([^"]*)"', open(txt).read())).encode()
mbox = mailbox.mbox(box)
raw = [mbox.get_bytes(k) for k in mbox.keys()]
mine = [r for r in raw if f"Subject: {token}".encode() in r]
if not mine:
    sys.exit(f"{token}: not in {box}")
msg = mine[-1]
sig = re.search(rb"^DKIM-Signature:(.*(?:\n[ \t].*)*)", msg, re.M | re.I)
if not sig:
    sys.exit(f"{token}: delivered without a DKIM-Signature")
if not re.search(rb"\bd=pack\.test;", sig.group(1)):
    sys.exit(f"{token}: signed for another domain: {sig.group(1)!r}")
def dns(name, timeout=5):
    return record if name == b"mail._domainkey.pack.test." else None
if not dkim.verify(msg, dnsfunc=dns):
    sys.exit(f"{token}: its DKIM-Signature does not verify")
PY
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
