#!/bin/sh
# memcached 1.6 as Debian packages it (/etc/memcached.conf: 127.0.0.1:11211, user memcache,
# started through Debian's wrapper script, which daemonizes it with a pid file), run inside the
# pack's guest systemd.
#   setup: starts the unit.
#   load:  memcslap (sets and gets, 4 concurrent clients) for about 3 s, then sets, gets,
#          incr, append, delete, a miss, `stats` and `stats slabs` over the text protocol.
#   check: a fresh key is set and read back over TCP, incr answers, and `stats` has uptime.
set -eu
# One text-protocol conversation with memcached: the commands on stdin, its answers out.
mc() {
    python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", 11211), timeout=3)
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
'
}
up() {
    i=0
    until printf 'version\r\nquit\r\n' | mc 2>/dev/null | grep -q '^VERSION'; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start memcached.service
    up
    ;;
load)
    up
    timeout 5 memcslap --servers=127.0.0.1:11211 --concurrency=4 --execute-number=2000 >/dev/null 2>&1 || true
    printf 'set a 0 0 5\r\nhello\r\nget a\r\nset n 0 0 1\r\n1\r\nincr n 41\r\nappend a 0 0 6\r\n world\r\ngets a\r\ndelete a\r\nget a\r\nget missing\r\nstats\r\nstats slabs\r\nstats items\r\nquit\r\n' | mc >/dev/null || true
    ;;
check)
    up
    v=$(date +%N)
    out=$(printf 'set check 0 0 %s\r\n%s\r\nget check\r\nset c 0 0 1\r\n1\r\nincr c 1\r\nstats\r\nquit\r\n' "${#v}" "$v" | mc)
    echo "$out" | grep -q "^$v" || { echo "the key was not read back: $out" >&2; exit 1; }
    echo "$out" | grep -q '^2' || { echo "incr did not answer 2" >&2; exit 1; }
    echo "$out" | grep -q '^STAT uptime'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
