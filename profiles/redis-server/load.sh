#!/bin/sh
# redis-server as Debian packages it (127.0.0.1:6379, RDB snapshots in /var/lib/redis), run
# inside the pack's guest systemd.
#   setup: nothing to prepare.
#   load:  redis-benchmark (SET, GET, INCR, LPUSH, LPOP, 20000 requests each), a key written,
#          and a BGSAVE, so the snapshot child runs while recorded.
#   check: PING answers PONG, a key written is read back, the key the load wrote before the
#          last restart is still there (the snapshot was written and loaded), and a BGSAVE
#          completes: its child writes the snapshot and redis reaps it (wait4) within 10 s.
set -eu
up() {
    i=0
    until [ "$(redis-cli ping 2>/dev/null)" = PONG ]; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start redis-server.service
    up
    redis-cli set learner:persisted yes >/dev/null
    redis-cli save >/dev/null
    ;;
load)
    up
    redis-benchmark -q -n 20000 -c 4 -t set,get,incr,lpush,lpop >/dev/null || true
    redis-cli set learner:persisted yes >/dev/null || true
    redis-cli bgsave >/dev/null || true
    sleep 1
    ;;
check)
    up
    redis-cli set learner:check "$$" >/dev/null
    [ "$(redis-cli get learner:check)" = "$$" ]
    [ "$(redis-cli get learner:persisted)" = yes ]
    redis-cli bgsave schedule >/dev/null
    i=0
    until redis-cli info persistence | grep -q '^rdb_bgsave_in_progress:0' &&
        redis-cli info persistence | grep -q '^rdb_changes_since_last_save:0'; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "BGSAVE did not complete" >&2; exit 1; }; sleep 0.2
    done
    redis-cli info persistence | grep -q '^rdb_last_bgsave_status:ok'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
