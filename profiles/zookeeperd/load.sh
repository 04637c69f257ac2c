#!/bin/sh
# ZooKeeper 3.8 as Debian 12 packages it (zookeeperd): no unit file, only /etc/init.d/zookeeper,
# so zookeeper.service is systemd-sysv-generator's (Type=forking, RemainAfterExit=yes, the
# script's start-stop-daemon running Java as zookeeper); OpenJDK 17; Debian's zoo.cfg
# unchanged: a standalone server on 2181 whose data directory is /tmp/zookeeper.
#   setup: starts it, creates a persistent znode /pack-setup with a token kept in
#          /var/lib/pack-zk-token (the guest's own /var/lib, not the service's).
#   load:  zkCli.sh sessions creating, reading, updating and deleting znodes (persistent,
#          ephemeral, sequential), a watch, the `srvr` four-letter word over TCP, the admin
#          server's /commands/stat over HTTP (8080).
#   check: a znode created just then with a fresh token reads back, and /pack-setup still
#          holds the token from setup (the data directory survives every restart, as it does
#          without a drop-in).
set -eu
zk() {
    /usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181 "$@" 2>/dev/null
}
srvr() {
    /usr/bin/python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 2181), timeout=5)
s.sendall(b"srvr")
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
print(out.decode())'
}
up() {
    i=0
    until srvr 2>/dev/null | grep -q '^Mode: standalone'; do
        i=$((i + 1)); [ $i -lt 60 ] || return 1; sleep 0.5
    done
}
case "${1:-}" in
setup)
    systemctl start zookeeper.service
    up
    tok="s$(date +%s%N)"
    zk create /pack-setup "$tok" >/dev/null
    zk get /pack-setup | grep -qx "$tok"
    echo "$tok" >/var/lib/pack-zk-token
    ;;
load)
    up
    for i in 1 2 3; do
        zk create /pack-load-$i "v$i" >/dev/null || true
        zk set /pack-load-$i "w$i" >/dev/null || true
        zk get /pack-load-$i >/dev/null || true
        zk create -s -e /pack-seq "e$i" >/dev/null || true
        zk ls -w / >/dev/null || true
        zk deleteall /pack-load-$i >/dev/null || true
        srvr >/dev/null || true
    done
    curl -fsS http://127.0.0.1:8080/commands/stat >/dev/null 2>&1 || true
    ;;
check)
    up
    tok="c$(date +%s%N)"
    zk create "/pack-$tok" "$tok" >/dev/null
    zk get "/pack-$tok" | grep -qx "$tok"
    zk delete "/pack-$tok" >/dev/null
    zk get /pack-setup | grep -qx "$(cat /var/lib/pack-zk-token)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
