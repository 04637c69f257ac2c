#!/bin/sh
# coturn 4.6 as Debian packages it (coturn.service, Type=notify, user turnserver, its own
# PrivateTmp=yes and InaccessibleDirectories=/home; the user database /var/lib/turn/turndb
# in SQLite), run inside the pack's guest systemd. Clients: coturn's turnutils.
#   setup: /etc/turnserver.conf: STUN/TURN on 127.0.0.1:3478 (UDP and TCP), relays on
#          127.0.0.1 ports 49152-49200, realm pack.test with long-term credentials, a user
#          `pack` in the file and a user `kept` added to the SQLite database with turnadmin,
#          loopback peers allowed (the only peers here), no TLS/DTLS, no CLI, logging to
#          syslog; the unit started.
#   load:  a UDP peer (turnutils_peer), STUN binding requests, TURN allocations relaying 200
#          messages over UDP and 100 over TCP from 4 clients, allocations with channel binds
#          and extra permissions, a wrong password (refused), for about 5 s.
#   check: a STUN binding answers with the reflexive address, and the user `kept` (added to
#          the database at setup: kept through restarts and crashes) relays 10 messages to
#          the peer and gets all 10 back; a wrong password gets no allocation.
set -eu
peer() { # the UDP peer relays reach (echoes what it gets), left running between calls
    if ! pgrep -x turnutils_peer >/dev/null; then
        setsid turnutils_peer -L 127.0.0.1 -p 3480 >/dev/null 2>&1 </dev/null &
        sleep 0.3
    fi
}
up() {
    i=0
    until timeout 3 turnutils_stunclient -p 3478 127.0.0.1 2>/dev/null | grep -q 'reflexive addr'; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "coturn does not answer STUN" >&2; return 1; }; sleep 0.2
    done
}
relay() { # user password messages [flags]: all messages came back
    out=$(timeout 20 turnutils_uclient -u "$1" -w "$2" -e 127.0.0.1 -r 3480 -n "$3" $4 -p 3478 127.0.0.1 2>&1) || {
        echo "$out" | tail -3 >&2; return 1; }
    echo "$out" | grep -q 'Total lost packets 0 ' || { echo "$out" | tail -3 >&2; return 1; }
}
case "${1:-}" in
setup)
    cat >/etc/turnserver.conf <<CONF
# The pack's coturn: STUN/TURN on loopback with long-term credentials.
listening-port=3478
listening-ip=127.0.0.1
relay-ip=127.0.0.1
min-port=49152
max-port=49200
realm=pack.test
lt-cred-mech
user=pack:packsecret
fingerprint
no-tls
no-dtls
no-cli
allow-loopback-peers
syslog
simple-log
CONF
    turnadmin -a -u kept -r pack.test -p keptsecret >/dev/null
    systemctl start coturn.service
    up
    ;;
load)
    up
    peer
    for _ in 1 2 3 4 5; do timeout 3 turnutils_stunclient -p 3478 127.0.0.1 >/dev/null 2>&1 || true; done
    relay pack packsecret 50 "-m 4" || true
    relay pack packsecret 25 "-t -m 4" || true
    relay kept keptsecret 20 "-G -m 2" || true
    relay pack wrong 5 "" 2>/dev/null || true
    ;;
check)
    up
    peer
    relay kept keptsecret 10 "" || { echo "the database's user could not relay" >&2; exit 1; }
    if relay kept wrong 3 "" 2>/dev/null; then echo "a wrong password relayed" >&2; exit 1; fi
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
