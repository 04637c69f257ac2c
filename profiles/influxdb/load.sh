#!/bin/sh
# InfluxDB 1.6 as Debian packages it (influxd, Go, HTTP API on :8086, data in
# /var/lib/influxdb), run inside the pack's guest systemd.
#   setup: starts the unit, creates the database `pack` and writes one point before any
#          recording (it must survive restarts and crashes).
#   load:  about 4 s of writes over the HTTP API (line protocol, batches of 50 points on two
#          series), queries (SELECT, count, GROUP BY time, SHOW MEASUREMENTS/SERIES), /ping,
#          /debug/vars, a 404 and a bad query.
#   check: /ping answers 204, a fresh point written is read back by its value, and the point
#          from setup is still there.
set -eu
url=http://127.0.0.1:8086
up() {
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/ping")" = 204 ]; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
q() { curl -fsS --max-time 5 -G "$url/query" --data-urlencode db=pack --data-urlencode "q=$1"; }
write() { curl -fsS --max-time 5 -XPOST "$url/write?db=pack" --data-binary "$1"; }
case "${1:-}" in
setup)
    systemctl start influxdb.service
    up
    curl -fsS --max-time 5 -XPOST "$url/query" --data-urlencode 'q=CREATE DATABASE pack' >/dev/null
    write 'setup,host=pack value=42'
    ;;
load)
    up
    n=0
    end=$(($(date +%s) + 4))
    while [ "$(date +%s)" -lt $end ]; do
        n=$((n + 1))
        batch=$(for i in $(seq 50); do
            echo "cpu,host=a,core=$((i % 4)) usage=$i.$n"
            echo "mem,host=b used=$((i * n))i"
        done)
        write "$batch" || true
        q 'SELECT mean(usage) FROM cpu WHERE time > now() - 1m GROUP BY time(1s), core' >/dev/null || true
        q 'SELECT count(used) FROM mem' >/dev/null || true
    done
    q 'SHOW MEASUREMENTS' >/dev/null || true
    q 'SHOW SERIES' >/dev/null || true
    q 'SELECT nonsense FROM' >/dev/null 2>&1 || true
    curl -s -o /dev/null --max-time 2 "$url/debug/vars" || true
    curl -s -o /dev/null --max-time 2 "$url/no-such-page" || true
    ;;
check)
    up
    v=1$(date +%N)
    write "checkpoint,host=pack value=$v"
    i=0
    until q "SELECT value FROM checkpoint WHERE value = $v" | grep -q "$v"; do
        i=$((i + 1)); [ $i -lt 20 ] || { echo "the point $v was not read back" >&2; exit 1; }; sleep 0.2
    done
    q 'SELECT value FROM setup' | grep -q ',42\]'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
