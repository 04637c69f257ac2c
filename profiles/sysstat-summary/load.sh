#!/bin/sh
# sysstat 12.6 as Debian packages it: sysstat-summary.timer's daily oneshot job (00:07),
# sysstat-summary.service (as root `/usr/lib/sysstat/sa2 -A`, a bash script reading
# /etc/sysstat/sysstat: `sar -A -f` yesterday's data file /var/log/sysstat/saDD into the report
# /var/log/sysstat/sarDD, then `find | xargs rm -f` of data files and reports older than
# HISTORY=7 days and `xz` of those older than COMPRESSAFTER=10, none left by then), run inside
# the pack's guest systemd (which masks the timer: each start of the unit is one run of the
# job). /etc/default/sysstat's ENABLED="false" is left as packaged: the units do not read it.
#   setup: yesterday's data file, three samples a second apart taken by sadc as
#          sysstat-collect.service takes them (`sadc -S DISK 1 3`); a data file and a report
#          of 9 days ago (mtime) for the job to remove; one run of the job.
#   load:  four runs of the job a second apart, each followed by reading the report.
#   check: the last run (apply checks that it succeeded; a restart is one more run) rewrote
#          yesterday's report after the last check: it begins with sar's header, its CPU
#          section (sar -u ALL) has as many rows as `sar -f` shows for the data file, and its
#          average is sane (each figure in 0..100, summing to 100); the old files planted
#          before the run are gone; then new old files for the next run.
set -eu
state=/var/lib/learner-pack-sysstat-summary
dir=/var/log/sysstat
y=$(date --date=yesterday +%d)
old=$(date --date='9 days ago' +%d)
run() { systemctl start sysstat-summary.service; }
# Files of 9 days ago that the next run must remove, and the time they were planted.
plant() {
    cp $dir/sa$y $dir/sa$old
    echo old >$dir/sar$old
    touch -d '9 days ago' $dir/sa$old $dir/sar$old
    date +%s >$state/last
    # The next run's report is written in a later second.
    sleep 1
}
case "${1:-}" in
setup)
    mkdir -p $state
    /usr/lib/sysstat/sadc -S DISK 1 3 $dir/sa$y
    plant
    run
    ;;
load)
    for i in 1 2 3 4; do
        sleep 1
        run
        grep -q '^Average: ' $dir/sar$y
    done
    ;;
check)
    r=$dir/sar$y
    [ -s "$r" ] || { echo "$r: no report" >&2; exit 1; }
    t=$(stat -c %Y "$r")
    last=$(cat $state/last)
    [ "$t" -gt "$last" ] || { echo "$r was not rewritten since the last check ($t <= $last)" >&2; exit 1; }
    head -n 1 "$r" | grep -q '^Linux ' || { echo "$r: no sar header" >&2; exit 1; }
    # The CPU section: from its header (%usr) to its Average line for all CPUs.
    cpu=$(awk '/ CPU +%usr / { on = 1; next } on && /^Average: +all / { print; exit } on && / all / { n++ }
        END { print n }' "$r")
    rows=$(echo "$cpu" | tail -n 1)
    avg=$(echo "$cpu" | head -n 1)
    want=$(LC_ALL=C sar -u -f $dir/sa$y | grep -cE '^[0-9]{2}:[0-9]{2}:[0-9]{2} +all ' || true)
    [ "$rows" = "$want" ] && [ "$want" -gt 0 ] || {
        echo "$r: $rows CPU rows, the data file has $want" >&2; exit 1; }
    echo "$avg" | awk '{
        s = 0
        for (i = 3; i <= NF; i++) { if ($i < 0 || $i > 100) bad = 1; s += $i }
        if (NF != 12 || bad || s < 99.5 || s > 100.5) { print "insane CPU average: " $0 > "/dev/stderr"; exit 1 }
    }'
    for f in $dir/sa$old $dir/sar$old; do
        [ ! -e $f ] || { echo "$f, older than HISTORY, was not removed" >&2; exit 1; }
    done
    plant
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
