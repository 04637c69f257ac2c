#!/bin/sh
# vnStat 2.10's daemon as Debian packages it (vnstat.service: vnstatd -n as user vnstat, its
# SQLite database /var/lib/vnstat/vnstat.db, a unit Debian hardened already), run inside the
# pack's guest systemd. vnstatd opens no socket: it reads every interface's counters from
# /proc/net/dev (and /sys/class/net) of its network namespace, so the guest, which has only
# loopback, gets a veth pair made here. Client: vnstat --json, which reads the database.
#   setup: a veth pair, pack0 (10.78.0.1/24) in the guest's network namespace and pack1
#          (10.78.0.2/24) in a network namespace `packv` of its own, so that traffic to
#          10.78.0.2 crosses pack0; /etc/vnstat.conf as a user tunes it: UpdateInterval and
#          PollInterval 2 s (20 and 5 as packaged), SaveInterval 1 min (5; 1 is the least),
#          AlwaysAddNewInterfaces 1 (interfaces that appear while it runs are added); the unit
#          started (its first start adds every interface but lo to a new database); waits
#          until the database lists pack0.
#   load:  pings over pack0 both ways (from the guest and from packv), of several sizes; a
#          second veth pair pack2/pack3 made while it runs (added to the database, then
#          deleted: its status change saved), a reload (SIGHUP: the cache flushed to the
#          database, the configuration re-read), vnstat queries, for about 10 s.
#   check: the database lists pack0; 60 pings of 1000 bytes over pack0, then (reloading to
#          flush vnstatd's cache, at most 20 times) pack0's rx and tx totals in the database
#          both grow by at least 50000 bytes.
set -eu
unit=vnstat.service
# ready: vnstatd runs and catches SIGHUP (a HUP before its handler is set would end it).
ready() {
    i=0
    while :; do
        pid=$(systemctl show -P MainPID $unit 2>/dev/null || echo 0)
        if [ "${pid:-0}" != 0 ] && [ -r /proc/$pid/status ]; then
            cgt=$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$pid/status)
            case "$cgt" in *[13579bBdDfF]) return 0 ;; esac
        fi
        i=$((i + 1)); [ $i -lt 100 ] || { echo "vnstatd is not running (or not catching SIGHUP)" >&2; return 1; }; sleep 0.2
    done
}
# listed: the database lists pack0.
listed() {
    i=0
    until vnstat --json 2>/dev/null | jq -e '.interfaces[] | select(.name == "pack0")' >/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "vnstat's database does not list pack0:" >&2; vnstat 2>&1 >&2 || true; return 1; }; sleep 0.2
    done
}
# totals: pack0's rx and tx totals in the database, in bytes.
totals() {
    vnstat --json | jq -r '.interfaces[] | select(.name == "pack0") | "\(.traffic.total.rx) \(.traffic.total.tx)"'
}
case "${1:-}" in
setup)
    ip link add pack0 type veth peer name pack1
    ip netns add packv
    ip link set pack1 netns packv
    ip addr add 10.78.0.1/24 dev pack0
    ip link set pack0 up
    ip netns exec packv ip link set lo up
    ip netns exec packv ip addr add 10.78.0.2/24 dev pack1
    ip netns exec packv ip link set pack1 up
    sed -i -e 's/^;*UpdateInterval .*/UpdateInterval 2/' \
        -e 's/^;*PollInterval .*/PollInterval 2/' \
        -e 's/^;*SaveInterval .*/SaveInterval 1/' \
        -e 's/^;*AlwaysAddNewInterfaces .*/AlwaysAddNewInterfaces 1/' /etc/vnstat.conf
    i=0
    until ping -c 1 -W 1 -I pack0 10.78.0.2 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 20 ] || { echo "10.78.0.2 does not answer over pack0" >&2; exit 1; }; sleep 0.5
    done
    systemctl start $unit
    ready
    listed
    ;;
load)
    ready
    listed
    end=$(($(date +%s) + 10))
    n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        ping -q -c 20 -i 0.01 -s $((200 * (n % 7) + 56)) -I pack0 10.78.0.2 >/dev/null || true
        ip netns exec packv ping -q -c 10 -i 0.01 -s 1400 10.78.0.1 >/dev/null || true
        case $n in
        2) ip link add pack2 type veth peer name pack3 2>/dev/null || true
           ip link set pack2 up; ip link set pack3 up ;;
        6) systemctl reload $unit; ready ;;
        9) ip link del pack2 2>/dev/null || true ;;
        esac
        vnstat >/dev/null 2>&1 || true
        vnstat --json h 3 >/dev/null 2>&1 || true
        sleep 0.3
    done
    ready
    ;;
check)
    ready
    listed
    set -- $(totals)
    rx0=$1 tx0=$2
    ping -q -c 60 -i 0.01 -s 1000 -I pack0 10.78.0.2 >/dev/null
    i=0
    while :; do
        sleep 1
        ready
        systemctl reload $unit
        sleep 0.5
        set -- $(totals 2>/dev/null || true) - -
        if [ "$1" != - ] && [ $(($1 - rx0)) -ge 50000 ] && [ $(($2 - tx0)) -ge 50000 ]; then
            break
        fi
        i=$((i + 1)); [ $i -lt 20 ] || {
            echo "pack0's totals in vnstat's database did not grow by 60 pings: rx $rx0 -> $1, tx $tx0 -> $2" >&2
            exit 1; }
    done
    echo "pack0 in vnstat's database: rx $rx0 -> $1, tx $tx0 -> $2 bytes"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
