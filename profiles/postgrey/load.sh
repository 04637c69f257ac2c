#!/bin/sh
# postgrey 1.37 as Debian packages it (postgrey.service: a Perl Net::Server policy server for
# Postfix, started as root, running as user postgrey, its BerkeleyDB greylist in /var/lib/postgrey;
# /etc/default/postgrey: --inet=10023, on localhost), run inside the pack's guest systemd. The
# policy protocol is spoken directly (perl, one request per connection or several on one).
#   setup: /etc/default/postgrey: --delay=2 added (greylist for 2 s, not 300), the rest as
#          packaged; the unit started; a triplet (192.0.2.10, persist@pack.test,
#          packmail@pack.test) greylisted, then passed once its delay is over: it is in the
#          database from now on.
#   Senders are made of letters: postgrey stores a sender with each digit run as '#', so
#   check-123@ and check-456@ would be one triplet.
#   load:  40 new triplets from 4 clients (each answered DEFER_IF_PERMIT), 10 of them retried
#          too early, 5 over ::1, then all retried after the delay (PREPEND X-Greylist), again (DUNNO);
#          clients whitelisted by name in Debian's whitelist_clients (debian.org) and the
#          whitelisted recipient postmaster@ (DUNNO); 5 connections at once with several
#          requests each; a malformed request (not answered: dropped after 2 s); for about 10 s.
#   check: the triplet of setup passes at once (DUNNO: the database outlived every restart
#          and crash); a fresh triplet gets DEFER_IF_PERMIT, and within 10 s, retried after
#          the delay, PREPEND X-Greylist; a client named mail.debian.org gets DUNNO at once.
set -eu
# Asks postgrey: one request per "CLIENT_IP CLIENT_NAME SENDER RECIPIENT" line on stdin, all
# on one connection to 127.0.0.1 (PG_HOST if set); prints each answer's action.
ask() {
    perl -MIO::Socket::IP -e '
        my $s = IO::Socket::IP->new(PeerHost => $ENV{PG_HOST} || "127.0.0.1", PeerPort => 10023, Timeout => 5)
            or die "connect: $@\n";
        my $n = 0;
        while (my $l = <STDIN>) {
            my ($ip, $name, $from, $to) = split " ", $l;
            $n++;
            print $s "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n",
                "client_address=$ip\nclient_name=$name\nreverse_client_name=$name\n",
                "helo_name=$name\nsender=$from\nrecipient=$to\nrecipient_count=0\n",
                "queue_id=\ninstance=pack.$$.$n.", time, "\nsize=0\n\n";
            my $a = "";
            while (my $r = <$s>) { last if $r eq "\n"; $a = $1 if $r =~ /^action=(.*)/; }
            print "$a\n";
        }'
}
up() {
    i=0
    until echo "127.0.0.1 localhost ping@pack.test postmaster@pack.test" | ask 2>/dev/null | grep -q .; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "postgrey does not answer on 127.0.0.1:10023" >&2; return 1; }; sleep 0.2
    done
}
# Waits until the triplet's answer matches PATTERN (checked once a second, at most 10 s).
passes() { # TRIPLET PATTERN
    i=0
    until echo "$1" | ask | grep -q "$2"; do
        i=$((i + 1)); [ $i -lt 10 ] || { echo "'$1' never got $2" >&2; return 1; }; sleep 1
    done
}
# A number as letters (0-9 as a-j), for a sender postgrey tells apart.
word() { echo "$1" | tr 0-9 a-j; }
persist="192.0.2.10 mx.pack.test persist@pack.test packmail@pack.test"
case "${1:-}" in
setup)
    grep -q '^POSTGREY_OPTS=.*--delay=' /etc/default/postgrey ||
        sed -i 's/^POSTGREY_OPTS="\(.*\)"/POSTGREY_OPTS="\1 --delay=2"/' /etc/default/postgrey
    grep -q '^POSTGREY_OPTS=".*--delay=2"' /etc/default/postgrey ||
        { echo "no --delay=2 in /etc/default/postgrey's POSTGREY_OPTS" >&2; exit 1; }
    systemctl start postgrey.service
    up
    a=$(echo "$persist" | ask)
    case "$a" in DEFER_IF_PERMIT*) ;; *) echo "a new triplet got '$a', not DEFER_IF_PERMIT" >&2; exit 1 ;; esac
    passes "$persist" '^PREPEND X-Greylist'
    ;;
load)
    up
    t=$(mktemp)
    for c in 1 2 3 4; do for i in $(seq 10); do
        echo "192.0.2.$((20 + c)) mx$c.example.org s$(word "$i")-$(word $$)@example.org packmail@pack.test"
    done; done >"$t"
    ask <"$t" >/dev/null || true
    head -10 "$t" | ask >/dev/null || true
    tail -5 "$t" | PG_HOST=::1 ask >/dev/null || true
    sleep 3
    ask <"$t" >/dev/null || true
    ask <"$t" >/dev/null || true
    for i in $(seq 5); do
        printf '%s\n' "198.51.100.$i mail$i.debian.org a$(word "$i")@debian.org packmail@pack.test" \
            "203.0.113.$i unknown b$(word "$i")@example.net postmaster@pack.test" "$persist" | ask >/dev/null &
    done
    wait
    # postgrey logs it and answers nothing: the connection is closed after 2 s.
    perl -MIO::Socket::IP -e 'alarm 2; $s = IO::Socket::IP->new("127.0.0.1:10023") or exit; print $s "garbage\n\n"; <$s>' || true
    rm -f "$t"
    ;;
check)
    up
    echo "$persist" | ask | grep -qx 'DUNNO' ||
        { echo "setup's triplet no longer passes: the database was lost" >&2; exit 1; }
    fresh="192.0.2.99 mx.example.com check-$(word "$$$(date +%s%N)")@example.com packmail@pack.test"
    a=$(echo "$fresh" | ask)
    case "$a" in DEFER_IF_PERMIT*) ;; *) echo "a new triplet got '$a', not DEFER_IF_PERMIT" >&2; exit 1 ;; esac
    sleep 2
    passes "$fresh" '^PREPEND X-Greylist'
    echo "192.0.2.98 mail.debian.org x-$(word $$)@debian.org packmail@pack.test" | ask | grep -qx 'DUNNO' ||
        { echo "a whitelisted client was not passed" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
