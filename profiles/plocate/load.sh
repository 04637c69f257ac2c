#!/bin/sh
# plocate 1.1 as Debian packages it: plocate-updatedb.timer's daily oneshot job,
# plocate-updatedb.service (as root `updatedb.plocate`: walks the whole file system and writes
# /var/lib/plocate/plocate.db, reusing the previous database for unchanged directories; the unit
# has PrivateTmp=, PrivateDevices=, PrivateNetwork= and IOSchedulingClass=idle), with Debian's
# /etc/updatedb.conf unchanged (PRUNE_BIND_MOUNTS="yes", PRUNEPATHS /tmp /var/spool /media ...,
# PRUNEFS proc, tmpfs, ...), run inside the pack's guest systemd, which holds the timer back:
# each start of the unit is one run of the job. The index is what matters: a run that succeeds
# but leaves part of the file system out of it has failed its purpose (updatedb skips what it
# cannot read, and with PRUNE_BIND_MOUNTS it skips every bind mount, which is how systemd
# makes ReadOnlyPaths=, ReadWritePaths=, ProtectSystem=full and ProtectHome=read-only).
#   setup: a user packuser (adduser: Debian 12's /home/packuser is mode 0700, so root walks it
#          with CAP_DAC_READ_SEARCH), marker files under /home/packuser/Documents, /root,
#          /srv/pack, /opt/pack, /usr/local/share/pack, /etc/pack and /var/lib/pack, then one
#          run of the job (the unit's first start: no database yet).
#   load:  for about 10 s: once the restart's run is over, new files and directories in the
#          user's home, /srv, /opt and /root (200 files), some removed and a directory renamed,
#          then one more run of the job (as the timer starts it), which reuses the database,
#          and plocate queries of what it indexed (substring, basename, regex, count,
#          case-insensitive).
#   check: the last run (apply checks that it succeeded) indexed the markers written before it
#          (setup's, or the previous check's), each by its full path, and the index holds every
#          path a walk of the file system finds whose inode did not change since the run began
#          (its start in the journal; find -xdev as root, leaving out what Debian's
#          updatedb.conf prunes, /var/tmp, which the unit's own PrivateTmp= replaces, and the
#          database itself); then new markers, one in a new directory under /srv/pack and one
#          in the user's home, for the next run.
set -eu
db=/var/lib/plocate/plocate.db
state=/var/lib/learner-pack-plocate
unit=plocate-updatedb.service
dirs="/home/packuser/Documents /root /srv/pack /opt/pack /usr/local/share/pack /etc/pack /var/lib/pack"
# New markers the next run must index; their paths go to $state/expected.
markers() {
    tag=$(date +%s%N)
    : >$state/expected.new
    for d in $dirs "/srv/pack/new-$tag" "/home/packuser/Documents/new-$tag"; do
        mkdir -p "$d"
        f="$d/packmark-$tag.txt"
        echo "learner pack marker" >"$f"
        echo "$f" >>$state/expected.new
    done
    chown -R packuser:packuser /home/packuser/Documents
    mv $state/expected.new $state/expected
}
# Waits for a run of the job under way (ActiveState=activating) to end.
idle() {
    i=0
    while [ "$(systemctl show -P ActiveState $unit)" = activating ]; do
        i=$((i + 1)); [ $i -lt 600 ] || { echo "$unit still running after 300 s" >&2; return 1; }; sleep 0.5
    done
}
case "${1:-}" in
setup)
    mkdir -p $state
    id packuser >/dev/null 2>&1 || adduser --quiet --disabled-password --gecos '' packuser
    markers
    systemctl start $unit
    ;;
load)
    idle
    end=$(( $(date +%s) + 10 ))
    home=/home/packuser/Documents/load
    for d in $home /srv/pack/load /opt/pack/load /root/load; do
        rm -rf "$d.old"
        [ ! -d "$d" ] || mv "$d" "$d.old"
        mkdir -p "$d/a" "$d/b"
        for i in $(seq 1 25); do
            echo "$i" >"$d/a/loadfile-$i.txt"
            echo "$i" >"$d/b/LoadFile-$i.dat"
        done
        rm -f "$d/a/loadfile-1.txt" "$d/b/LoadFile-2.dat"
    done
    chown -R packuser:packuser /home/packuser/Documents
    systemctl start $unit
    while [ "$(date +%s)" -lt $end ]; do
        plocate loadfile-7.txt >/dev/null || true
        plocate -b -c LoadFile >/dev/null || true
        plocate -i -l 5 loadfile >/dev/null || true
        plocate -r '/srv/pack/load/.*\.txt$' >/dev/null || true
        plocate -c packmark >/dev/null || true
        plocate -S >/dev/null 2>&1 || true
        sleep 0.5
    done
    ;;
check)
    idle
    [ -s $db ] || { echo "no database $db" >&2; exit 1; }
    # apply shows the check's first line of stderr: a summary comes first, details after.
    : >$state/lost
    while read -r f; do
        plocate "$f" | grep -qxF "$f" || echo "$f" >>$state/lost
    done <$state/expected
    # Every path the file system holds that was there, unchanged, when the last run began must
    # be indexed: the guest's root is an overlay of this machine's, where other work goes on.
    began=$(journalctl -q -u $unit -o short-unix --no-pager | awk '/Starting/ { t = $1 } END { print t }')
    [ -n "$began" ] || { echo "no start of $unit in the journal" >&2; exit 1; }
    find / -xdev -mindepth 1 \( -path /tmp -o -path /var/tmp -o -path /var/spool -o -path /media \
        -o -path /var/lib/os-prober -o -path /var/lib/ceph -o -path /home/.ecryptfs \
        -o -path /var/lib/schroot -o -path $db -o -path "$db.*" \) -prune \
        -o ! -newerct "@${began%.*}" -print 2>/dev/null | LC_ALL=C sort -u >$state/disk
    plocate -r '^/' | LC_ALL=C sort -u >$state/index
    LC_ALL=C comm -23 $state/disk $state/index >$state/missing
    n=$(wc -l <$state/missing)
    if [ "$n" -gt 0 ] || [ -s $state/lost ]; then
        where=$(cut -d/ -f1-3 $state/missing | sort | uniq -c | sort -rn | head -8 |
            awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
        echo "the last run left $n of $(wc -l <$state/disk) paths out of the index (by directory: ${where:-none}); markers not indexed: $(wc -l <$state/lost) of $(wc -l <$state/expected) ($(tr '\n' ' ' <$state/lost))" >&2
        echo "first ones:" >&2
        head -20 $state/missing >&2
        exit 1
    fi
    markers
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
