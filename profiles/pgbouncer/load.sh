#!/bin/sh
# PgBouncer 1.18 as Debian packages it (pgbouncer.service: Type=notify, User=postgres,
# `pgbouncer /etc/pgbouncer/pgbouncer.ini`, reload by SIGHUP, KillSignal=SIGINT; Debian's
# pgbouncer.ini: listen_addr = localhost, port 6432, its Unix socket and pid file in
# /var/run/postgresql, log file /var/log/postgresql/pgbouncer.log, auth_type = md5 with
# /etc/pgbouncer/userlist.txt, no databases), run inside the pack's guest systemd, in front of
# the guest's PostgreSQL 15 cluster (postgresql@15-main, Debian's configuration). The package
# also ships pgbouncer.socket, which neither the unit requires nor the package enables: not used.
# Clients: psql and pgbench (postgresql-client), through pgbouncer only.
#   setup: PostgreSQL started; a role packuser (password, SCRAM as PostgreSQL 15 stores it) owning
#          a database pack; one line in the cluster's pg_hba.conf, before Debian's `local all
#          all peer`, lets packuser log into pack over the Unix socket with its password
#          (peer would compare the OS user, which is pgbouncer's postgres); userlist.txt gets
#          packuser's SCRAM secret from pg_authid (what mkauth.py does, so pgbouncer logs into
#          PostgreSQL with SCRAM passthrough, no clear password stored) and packadmin (the admin
#          console's, a clear password); pgbouncer.ini as packaged with, under [databases],
#          `pack = host=localhost dbname=pack` (session pool; localhost resolved by pgbouncer
#          through c-ares, 127.0.0.1 and ::1), `packtx = host=127.0.0.1 dbname=pack
#          pool_mode=transaction` and `packsock = dbname=pack` (the Unix socket, Debian's
#          "foodb over Unix socket" example), and `admin_users = packadmin`; the unit started;
#          pgbench's tables (scale 1) made through pgbouncer, a row `kept` written.
#   load:  pgbench through each pool: 4 clients for 3 s on pack (TCP, session), 10 clients for
#          3 s on packtx (transaction pooling), a new connection per transaction for 2 s on
#          packsock (over pgbouncer's Unix socket); psql over ::1; the admin console: SHOW
#          POOLS, STATS, SERVERS, CLIENTS, DATABASES, CONFIG, PAUSE and RESUME of pack,
#          RECONNECT, RELOAD; a wrong password and an unknown database (refused); a reload of
#          the unit (SIGHUP); for about 10 s.
#   check: a row with a fresh token written through pack (TCP, session pool) is read back through
#          packtx (transaction pool) and through pgbouncer's Unix socket (packsock); setup's row
#          `kept` is there; the admin console lists the three databases; a wrong password is
#          refused.
set -eu
export PGPASSWORD=Pack-pgb-1 PGCONNECT_TIMEOUT=5
pg() { runuser -u postgres -- psql -tAX "$@"; }
# Through pgbouncer: DB [psql args...], over TCP to 127.0.0.1 (PGB_HOST if set).
# Each psql under a timeout: pgbouncer holds a client whose server login fails (query_wait_timeout
# is 120 s), so a broken backend would otherwise hang the check instead of failing it.
pgb() { db=$1; shift; timeout "${PGB_T:-20}" psql -h "${PGB_HOST:-127.0.0.1}" -p 6432 -U packuser -d "$db" -tAX -v ON_ERROR_STOP=1 "$@"; }
admin() { PGPASSWORD=Pack-admin-1 timeout "${PGB_T:-20}" psql -h 127.0.0.1 -p 6432 -U packadmin -d pgbouncer -tAX -c "$1"; }
up() {
    i=0
    until [ "$(PGB_T=5 pgb pack -c 'select 1' 2>/dev/null)" = 1 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "pgbouncer does not serve pack on 127.0.0.1:6432" >&2; return 1; }; sleep 0.2
    done
}
refused() { # the command must fail
    if "$@" >/dev/null 2>&1; then echo "accepted, should be refused: $*" >&2; return 1; fi
}
case "${1:-}" in
setup)
    systemctl start postgresql@15-main.service
    i=0
    until pg -d postgres -c 'select 1' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "PostgreSQL does not start" >&2; exit 1; }; sleep 0.2
    done
    pg -d postgres -c "create role packuser login password '$PGPASSWORD'" >/dev/null
    pg -d postgres -c "create database pack owner packuser" >/dev/null
    hba=/etc/postgresql/15/main/pg_hba.conf
    grep -q '^local *pack *packuser' $hba ||
        sed -i '0,/^local *all *all *peer/s//local   pack            packuser                                scram-sha-256\n&/' $hba
    grep -q '^local *pack *packuser' $hba || { echo "no packuser line in $hba" >&2; exit 1; }
    pg -d postgres -c 'select pg_reload_conf()' >/dev/null
    secret=$(pg -d postgres -c "select rolpassword from pg_authid where rolname = 'packuser'")
    case "$secret" in SCRAM-SHA-256*) ;; *) echo "packuser's password is not a SCRAM secret: $secret" >&2; exit 1 ;; esac
    printf '"packuser" "%s"\n"packadmin" "Pack-admin-1"\n' "$secret" >/etc/pgbouncer/userlist.txt
    ini=/etc/pgbouncer/pgbouncer.ini
    grep -q '^pack = ' $ini || sed -i 's/^\[databases\]$/&\npack = host=localhost dbname=pack\npacktx = host=127.0.0.1 dbname=pack pool_mode=transaction\npacksock = dbname=pack/' $ini
    grep -q '^admin_users' $ini || sed -i 's/^;admin_users = .*/admin_users = packadmin/' $ini
    grep -q '^pack = ' $ini && grep -q '^admin_users = packadmin' $ini ||
        { echo "$ini: the databases or admin_users were not added" >&2; exit 1; }
    systemctl start pgbouncer.service
    up
    pgbench -q -i -s 1 -h 127.0.0.1 -p 6432 -U packuser pack >/dev/null 2>&1
    pgb pack -c "create table if not exists pack_kv (k text primary key, v text)" \
        -c "insert into pack_kv values ('kept', 'since setup') on conflict do nothing" >/dev/null
    ;;
load)
    up
    pgbench -n -c 4 -j 2 -T 3 -h 127.0.0.1 -p 6432 -U packuser pack >/dev/null 2>&1 &
    pgbench -n -c 10 -j 2 -T 3 -h 127.0.0.1 -p 6432 -U packuser packtx >/dev/null 2>&1 &
    sleep 1
    admin 'show pools' >/dev/null || true
    admin 'show servers' >/dev/null || true
    admin 'show clients' >/dev/null || true
    wait
    pgbench -n -C -c 2 -T 2 -h /var/run/postgresql -p 6432 -U packuser packsock >/dev/null 2>&1 || true
    PGB_HOST=::1 pgb pack -c 'select count(*) from pgbench_history' >/dev/null || true
    for s in stats databases config lists; do admin "show $s" >/dev/null || true; done
    admin 'pause pack' >/dev/null || true
    admin 'resume pack' >/dev/null || true
    admin 'reconnect packtx' >/dev/null || true
    admin 'reload' >/dev/null || true
    (PGPASSWORD=wrong; refused pgb pack -c 'select 1') || true
    refused pgb nosuchdb -c 'select 1' || true
    systemctl reload pgbouncer.service || true
    up
    for i in $(seq 20); do pgb packtx -c "insert into pack_kv values ('load-$i-$$', now()::text) on conflict (k) do update set v = excluded.v" >/dev/null || true; done
    ;;
check)
    up
    token=check-$$-$(date +%s%N)
    pgb pack -c "insert into pack_kv values ('$token', 'written through pack')" >/dev/null
    [ "$(pgb packtx -c "select v from pack_kv where k = '$token'")" = "written through pack" ] ||
        { echo "the row written through pack is not read back through packtx" >&2; exit 1; }
    [ "$(PGB_HOST=/var/run/postgresql pgb packsock -c "select v from pack_kv where k = '$token'")" = "written through pack" ] ||
        { echo "the row is not read back through pgbouncer's Unix socket (packsock)" >&2; exit 1; }
    [ "$(pgb packtx -c "select v from pack_kv where k = 'kept'")" = "since setup" ] ||
        { echo "setup's row is gone" >&2; exit 1; }
    dbs=$(admin 'show databases' | cut -d'|' -f1)
    for d in pack packtx packsock; do
        echo "$dbs" | grep -qx "$d" || { echo "the admin console does not list $d" >&2; exit 1; }
    done
    (PGPASSWORD=wrong; refused pgb pack -c 'select 1')
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
