#!/bin/sh
# Debian's PostgreSQL cluster (postgresql@15-main on Debian 12, the pack's guest systemd;
# postgresql@17-main on Debian 13, `cargo xtask vm pack trixie`).
#   setup: a database `bench` with pgbench's tables (scale 1: 100000 accounts).
#   load:  pgbench (TPC-B-like: updates, inserts, selects) with 2 clients for 3 s, and a
#          CHECKPOINT, so writes, WAL flushes and the checkpointer are recorded.
#   check: 100 pgbench transactions (writes) succeed, then the accounts are all there:
#          each exercise event (restart's shutdown checkpoint, crash recovery) meets fresh WAL.
set -eu
unit=postgresql@15-main.service
case "$(cat /etc/debian_version)" in 13*) unit=postgresql@17-main.service ;; esac
pg() { runuser -u postgres -- "$@"; }
up() {
    i=0
    until pg psql -tAX -d postgres -c 'select 1' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start "$unit"
    up
    pg createdb bench
    pg pgbench -q -i -s 1 bench >/dev/null 2>&1
    ;;
load)
    up
    pg pgbench -n -c 2 -T 3 bench >/dev/null 2>&1 || true
    pg psql -tAX -d bench -c checkpoint >/dev/null || true
    ;;
check)
    up
    pg pgbench -n -c 2 -t 50 bench >/dev/null 2>&1
    [ "$(pg psql -tAX -d bench -c 'select count(*) from pgbench_accounts')" = 100000 ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
