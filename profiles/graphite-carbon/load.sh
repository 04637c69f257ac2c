#!/bin/sh
# carbon-cache (graphite-carbon 1.1) as Debian packages it, run inside the pack's guest
# systemd: Debian's carbon.conf (line receiver on 2003, pickle receiver on 2004, the cache
# query port 7002, whisper files under /var/lib/graphite/whisper, USER = _graphite).
#   setup: the unit started, a metric pack.setup sent with a value kept in
#          /var/lib/pack-carbon/setup (the guest's own /var/lib, not the service's), and its
#          whisper file waited for.
#   load:  300 metrics over the plaintext protocol in a few connections, 100 in pickle
#          batches, updates of the same metrics, a metric name with odd characters, a
#          malformed line, a log rotation (Debian's postrotate).
#   check: a metric with a fresh name and value is written to its own whisper file within
#          60 s, and whisper-fetch reads the value back; pack.setup still holds the setup's.
set -eu
PY=/usr/bin/python3
whisper=/var/lib/graphite/whisper
send() { # send LINE...: the plaintext protocol
    $PY - "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", 2003), timeout=10)
s.sendall("".join(line + "\n" for line in sys.argv[1:]).encode())
s.close()
PY
}
up() {
    i=0
    until $PY -c 'import socket; socket.create_connection(("127.0.0.1", 2003), timeout=2).close()' 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 120 ] || return 1; sleep 0.5
    done
}
has() { # has METRIC VALUE: its whisper file holds VALUE, within 60 s
    f="$whisper/$(echo "$1" | tr . /).wsp"
    i=0
    until [ -f "$f" ] && whisper-fetch --from=$(( $(date +%s) - 86000 )) "$f" 2>/dev/null \
            | awk -v v="$2" '$2 + 0 == v + 0 { found = 1 } END { exit !found }'; do
        i=$((i + 1)); [ $i -lt 120 ] || { echo "$f: no $2" >&2; return 1; }; sleep 0.5
    done
}
case "${1:-}" in
setup)
    systemctl start carbon-cache.service
    up
    mkdir -p /var/lib/pack-carbon
    v=$(( $(date +%s) % 100000 ))
    echo "$v" >/var/lib/pack-carbon/setup
    send "pack.setup $v $(date +%s)"
    has pack.setup "$v"
    ;;
load)
    up
    now=$(date +%s)
    $PY - "$now" <<'PY' || true
import socket, sys
now = int(sys.argv[1])
for c in range(3):
    s = socket.create_connection(("127.0.0.1", 2003), timeout=10)
    s.sendall("".join("pack.load.c%d.m%d %d.5 %d\n" % (c, i, i, now) for i in range(100)).encode())
    s.close()
PY
    $PY - "$now" <<'PY' || true
import pickle, socket, struct, sys
now = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", 2004), timeout=10)
for batch in range(4):
    data = [("pack.pickle.b%d.m%d" % (batch, i), (now, float(i))) for i in range(25)]
    payload = pickle.dumps(data, protocol=2)
    s.sendall(struct.pack("!L", len(payload)) + payload)
s.close()
PY
    send "pack.load.c1.m1 7 $now" "pack.odd-name_x.y 1 $now" "not a metric line" || true
    logrotate -f /etc/logrotate.d/graphite-carbon || true
    sleep 2
    ;;
check)
    up
    tok="t$(date +%s%N)"
    v=$(( $(od -An -N2 -tu2 /dev/urandom) + 1 ))
    send "pack.check.$tok $v $(date +%s)"
    has "pack.check.$tok" "$v"
    has pack.setup "$(cat /var/lib/pack-carbon/setup)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
