#!/bin/sh
# SpamAssassin's spamd 4.0 as Debian packages it (spamd.service, a root parent that pre-forks
# children; each child takes spamc's connection and setuids to the user spamc names, reading and
# creating that user's ~/.spamassassin: /etc/default/spamd has --create-prefs and
# --helper-home-dir), listening on localhost:783, run inside the pack's guest systemd. Its rules
# are the ones the package ships in /usr/share/spamassassin: no sa-update ran (no network here),
# and spamd starts without /var/lib/spamassassin/4.000001.
#   setup: local users
#          packspam (its ~/.spamassassin/user_prefs sets required_score 4.2, so a result with
#          /4.2 was scored with its prefs, read by a child running as packspam) and packspam2
#          (no prefs: spamd's child creates them); the unit started; one message checked as
#          packspam2, whose user_prefs must then exist, owned by packspam2.
#   load:  as packspam: a plain message and GTUBE, 30 times each with spamc -c (8 clients at
#          once), 10 times each with spamc -R and with plain spamc (the message rewritten); a
#          reload (SIGHUP: spamd re-executes itself), waited for; 10 more rounds of spamc -c;
#          as packspam2 a few of each; for about 10 s.
#   check: spamc -K answers; as packspam, GTUBE scores at least its required score 4.2
#          (spamc -c exits 1, "N/4.2") and a plain message scores less (exits 0); and the
#          GTUBE message's result line in spamd's log (syslog, in the journal), found by its
#          fresh Message-ID, says user=packspam with packspam's uid.
set -eu
user=packspam
user2=packspam2
gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
as() { su -s /bin/sh "$1" -c "$2"; }
up() {
    i=0
    until spamc -K >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "spamd does not answer spamc -K" >&2; return 1; }; sleep 0.2
    done
}
# Writes a message to FILE: spam (GTUBE) or ham, with Message-ID <ID@pack.test>.
msg() { # FILE spam|ham ID
    if [ "$2" = spam ]; then
        body="Buy now! $gtube"; subject="cheap offer"
    else
        body="Hi Bob, shall we meet for lunch tomorrow at noon? The usual place. Alice"; subject="lunch tomorrow"
    fi
    printf 'From: alice@pack.test\nTo: bob@pack.test\nSubject: %s\nDate: %s\nMessage-ID: <%s@pack.test>\n\n%s\n' \
        "$subject" "$(date -R)" "$3" "$body" >"$1"
    chmod 644 "$1"
}
case "${1:-}" in
setup)
    for u in $user $user2; do id "$u" >/dev/null 2>&1 || useradd -m -s /bin/sh "$u"; done
    install -d -o $user -g $user -m 700 /home/$user/.spamassassin
    printf 'required_score 4.2\n' >/home/$user/.spamassassin/user_prefs
    chown $user:$user /home/$user/.spamassassin/user_prefs
    systemctl start spamd.service
    up
    t=$(mktemp); msg "$t" ham "setup-$$"
    as $user2 "spamc -c <$t" >/dev/null || true
    rm -f "$t"
    f=/home/$user2/.spamassassin/user_prefs
    [ "$(stat -c %U "$f" 2>/dev/null)" = $user2 ] || { echo "spamd did not create $f as $user2" >&2; exit 1; }
    ;;
load)
    up
    d=$(mktemp -d); chmod 755 "$d"
    msg "$d/spam" spam "load-spam-$$"; msg "$d/ham" ham "load-ham-$$"
    round() { # N
        for i in $(seq "$1"); do
            as $user "spamc -c <$d/spam; spamc -c <$d/ham" >/dev/null 2>&1 &
            [ $((i % 8)) -ne 0 ] || wait
        done
        wait
    }
    round 30
    for i in $(seq 10); do
        as $user "spamc -R <$d/spam; spamc -R <$d/ham; spamc <$d/spam; spamc <$d/ham" >/dev/null 2>&1 || true
    done
    systemctl reload spamd.service || true
    sleep 1
    up || true
    round 10
    for i in 1 2 3; do as $user2 "spamc -c <$d/spam; spamc -R <$d/ham" >/dev/null 2>&1 || true; done
    rm -rf "$d"
    ;;
check)
    up
    d=$(mktemp -d); chmod 755 "$d"
    id=check-$$-$(date +%s%N)
    msg "$d/spam" spam "$id"; msg "$d/ham" ham "$id-ham"
    rc=0; out=$(as $user "spamc -c <$d/spam") || rc=$?
    [ $rc -eq 1 ] || { echo "GTUBE not flagged as spam: spamc -c exit $rc, '$out'" >&2; exit 1; }
    case "$out" in */4.2) ;; *) echo "GTUBE not scored with $user's prefs: '$out'" >&2; exit 1 ;; esac
    rc=0; out=$(as $user "spamc -c <$d/ham") || rc=$?
    [ $rc -eq 0 ] || { echo "a plain message flagged as spam: spamc -c exit $rc, '$out'" >&2; exit 1; }
    case "$out" in */4.2) ;; *) echo "ham not scored with $user's prefs: '$out'" >&2; exit 1 ;; esac
    rm -rf "$d"
    uid=$(id -u $user)
    i=0
    until journalctl -q -u spamd.service | grep -F "mid=<$id@pack.test>" | grep -q "user=$user,uid=$uid,"; do
        i=$((i + 1))
        [ $i -lt 25 ] || { echo "spamd's log has no result for <$id@pack.test> as $user ($uid)" >&2; exit 1; }
        sleep 0.2
    done
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
