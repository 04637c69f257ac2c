#!/bin/sh
# MariaDB 10.11 as Debian packages it (the guide's mysql; root over the unix socket), run
# inside the pack's guest systemd.
#   setup: a database `pack` with an InnoDB table; starts the unit.
#   load:  mariadb-slap (auto-generated SQL: inserts and selects, 4 clients, 200 queries),
#          500 single-row inserts, an update, a FLUSH LOGS.
#   check: a row is inserted and read back, the table's rows from before are still there
#          (InnoDB's redo log survived the restart or crash), CHECK TABLE is OK.
set -eu
sql() { mariadb -N -B -e "$1" pack; }
up() {
    i=0
    until mariadb -N -B -e 'select 1' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start mariadb.service
    up
    mariadb -e 'create database pack'
    sql 'create table t (id int auto_increment primary key, v varchar(64)) engine=innodb'
    sql "insert into t (v) values ('before')"
    ;;
load)
    up
    mariadb-slap --concurrency=4 --iterations=1 --number-of-queries=200 --auto-generate-sql \
        --auto-generate-sql-load-type=mixed >/dev/null 2>&1 || true
    for i in $(seq 50); do
        sql "insert into t (v) values ('l$i'),('l$i'),('l$i'),('l$i'),('l$i'),('l$i'),('l$i'),('l$i'),('l$i'),('l$i')" || true
    done
    sql "update t set v = concat(v, '!') where v like 'l1%'" || true
    mariadb -e 'flush logs' || true
    ;;
check)
    up
    sql "insert into t (v) values ('check$$')"
    [ "$(sql "select count(*) from t where v = 'check$$'")" = 1 ]
    [ "$(sql "select count(*) from t where v = 'before'")" -ge 1 ]
    sql 'check table t' | grep -q 'status.OK'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
