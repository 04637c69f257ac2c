#!/bin/sh
# etcd 3.4 (Go key-value store) as Debian packages it: etcd.service, Type=notify, user etcd,
# one member named after the host, data in /var/lib/etcd/default, clients on localhost:2379,
# run inside the pack's guest systemd.
#   setup: the unit started, a key pack/setup written before any recording (it must survive
#          restarts and crashes).
#   load:  about 3 s of puts and gets (100 keys), a prefix range, a transaction, a lease
#          granted and a key put under it, a watch, deletes; a compaction, a defragmentation,
#          a snapshot saved over the client API, endpoint status and member list.
#   check: endpoint health, a fresh key put and read back, the setup key still there.
set -eu
ctl() { ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=5s "$@"; }
up() {
    i=0
    until ctl endpoint health >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start etcd.service
    up
    ctl put pack/setup from-setup >/dev/null
    ;;
load)
    up
    end=$(($(date +%s) + 3))
    n=0
    while [ "$(date +%s)" -lt $end ] && [ $n -lt 100 ]; do
        n=$((n + 1))
        ctl put "pack/load/$n" "value-$n" >/dev/null || true
        ctl get "pack/load/$n" >/dev/null || true
    done
    ctl get --prefix pack/load/ --keys-only >/dev/null || true
    printf 'value("pack/load/1") = "value-1"\n\nput pack/txn ok\n\nput pack/txn failed\n\n' | ctl txn >/dev/null || true
    lease=$(ctl lease grant 60 | sed -n 's/^lease \([0-9a-f]*\) granted.*/\1/p') || true
    [ -z "$lease" ] || ctl put --lease="$lease" pack/leased yes >/dev/null || true
    timeout 2 sh -c "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 watch pack/watched" >/dev/null 2>&1 &
    sleep 0.5
    ctl put pack/watched 1 >/dev/null || true
    ctl del --prefix pack/load/1 >/dev/null || true
    rev=$(ctl endpoint status -w json | sed -n 's/.*"revision":\([0-9]*\).*/\1/p') || true
    [ -z "$rev" ] || ctl compaction "$rev" >/dev/null || true
    ctl defrag >/dev/null || true
    ctl snapshot save /tmp/pack-etcd.db >/dev/null || true
    ctl member list >/dev/null || true
    wait
    ;;
check)
    up
    v=$(date +%s%N)
    ctl put pack/check "$v" >/dev/null
    [ "$(ctl get pack/check --print-value-only)" = "$v" ]
    [ "$(ctl get pack/setup --print-value-only)" = from-setup ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
