#!/bin/sh
# redis-server as Debian packages it (127.0.0.1:6379, RDB snapshots in /var/lib/redis), run
# inside the pack's guest systemd.
#   setup: nothing to prepare.
#   load:  redis-benchmark (SET, GET, INCR, LPUSH, LPOP, 20000 requests each), a key written,
#          and a BGSAVE, so the snapshot child runs while recorded.
#   check: PING answers PONG, a key written is read back, and the key the load wrote before
#          the last restart is still there (the snapshot was written and loaded).
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
    redis-cli save | grep -qx OK
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
