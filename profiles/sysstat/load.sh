#!/bin/sh
# sysstat 12.6 as Debian packages it: sysstat-collect.timer's oneshot job (every 10 minutes),
# sysstat-collect.service (as root `/usr/lib/sysstat/sa1 1 1`, which reads /etc/sysstat/sysstat
# and execs `sadc -F -L -S DISK 1 1 /var/log/sysstat`: one sample of CPU, memory, network,
# disk, ... counters appended to today's data file /var/log/sysstat/saDD), run inside the
# pack's guest systemd (which masks the timer: each start of the unit is one run of the job).
# /etc/default/sysstat's ENABLED="false" is left as packaged: neither the units nor sa1 read
# it (only the cron job's debian-sa1, which skips under systemd, and the postinst, which
# enables or disables the units by it); the pack starts the unit itself.
#   setup: a veth pair pack0/pack1 (the guest's network namespace has only lo; a real host has
#          interfaces of its own, which sar -n DEV must report), then two runs of the job a
#          second apart (the first creates today's file with the baseline sample, the second
#          adds the first sample sar can show).
#   load:  six runs of the job a second apart, each followed by reading the file with sar
#          (CPU, memory, network, disks) and sadf. (learner record ends when the run its
#          restart starts has ended, so these runs add samples for the checks, unrecorded.)
#   check: `sar -f` today's file shows more CPU samples than at the last check, the newest
#          one taken after it (apply checks that the run succeeded; a restart is one more
#          run), and its CPU figures are sane (each in 0..100, summing to 100, over a
#          positive interval); sadf agrees with sar on the count; the newest sample's network
#          figures (sar -n DEV) name exactly the interfaces of the host's network namespace
#          (/proc/net/dev as the check sees it: lo, pack0, pack1).
set -eu
state=/var/lib/learner-pack-sysstat
file() { echo /var/log/sysstat/sa$(date +%d); }
run() { systemctl start sysstat-collect.service; }
# The CPU rows ("all") sar shows: time CPU %user %nice %system %iowait %steal %idle.
cpu_rows() { LC_ALL=C sar -u -f "$1" | grep -E '^[0-9]{2}:[0-9]{2}:[0-9]{2} +all ' || true; }
case "${1:-}" in
setup)
    mkdir -p $state
    echo "none 0 $(date +%s)" >$state/last
    ip link show pack0 >/dev/null 2>&1 || ip link add pack0 type veth peer name pack1
    ip link set pack0 up
    ip link set pack1 up
    run
    sleep 1
    run
    ;;
load)
    for i in 1 2 3 4 5 6; do
        sleep 1
        run
        f=$(file)
        LC_ALL=C sar -f "$f" >/dev/null
        LC_ALL=C sar -r -n DEV -d -f "$f" >/dev/null
        LC_ALL=C sadf -d "$f" -- -u >/dev/null
    done
    ;;
check)
    f=$(file)
    [ -s "$f" ] || { echo "$f: no data file" >&2; exit 1; }
    read -r last_file last_n last_t <$state/last
    [ "$last_file" = "$f" ] || last_n=0
    n=$(cpu_rows "$f" | wc -l)
    [ "$n" -gt "$last_n" ] || {
        echo "sar -f $f shows $n CPU samples, $last_n at the last check: the last run added none" >&2
        LC_ALL=C sar -f "$f" >&2 || true
        exit 1; }
    # sadf, reading the same file, sees as many; the newest sample's time since the epoch.
    sadf_rows=$(LC_ALL=C sadf -U -d "$f" -- -u | awk -F';' '$4 == "-1"')
    [ "$(echo "$sadf_rows" | wc -l)" -eq "$n" ] || {
        echo "sadf sees $(echo "$sadf_rows" | wc -l) CPU samples, sar $n" >&2; exit 1; }
    t=$(echo "$sadf_rows" | tail -n 1 | cut -d';' -f3)
    [ "$t" -gt "$last_t" ] || {
        echo "the newest sample ($t) is not newer than the last check ($last_t)" >&2; exit 1; }
    # Sane CPU figures in the newest sample.
    cpu_rows "$f" | tail -n 1 | awk '{
        s = 0
        for (i = 3; i <= 8; i++) { if ($i < 0 || $i > 100) bad = 1; s += $i }
        if (bad || s < 99.5 || s > 100.5) { print "insane CPU figures: " $0 > "/dev/stderr"; exit 1 }
    }'
    interval=$(echo "$sadf_rows" | tail -n 1 | cut -d';' -f2)
    [ "$interval" -gt 0 ] || { echo "interval $interval" >&2; exit 1; }
    # The newest sample's interfaces are the host's (the check's network namespace).
    ifaces=$(LC_ALL=C sar -n DEV -f "$f" | grep -E '^[0-9]{2}:[0-9]{2}:[0-9]{2} ' | grep -v -e ' IFACE ' -e 'LINUX RESTART' |
        awk '{ t[NR] = $1; i[NR] = $2 } END { for (k = 1; k <= NR; k++) if (t[k] == t[NR]) print i[k] }' | sort | tr '\n' ' ')
    host=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | sort | tr '\n' ' ')
    [ "$ifaces" = "$host" ] || {
        echo "sar -n DEV's newest sample reports the interfaces '$ifaces', the host has '$host'" >&2; exit 1; }
    echo "$f $n $(date +%s)" >$state/last
    # The next run's sample falls in a later second than this check.
    sleep 1
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
