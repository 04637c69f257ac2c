#!/bin/sh
# dpkg-db-backup.service (dpkg 1.21) as Debian packages it: dpkg-db-backup.timer's daily
# oneshot job, run inside the pack's guest systemd (each start of the unit is one run; the timer is disabled). It
# backs up dpkg's database files to /var/backups (dpkg.status.0 and so on, rotated by savelog
# with gzip) when any of them changed since the last backup, and /var/lib/dpkg/alternatives
# as alternatives.tar.0 when that changed.
#   setup: a first run, its backups made stale (`plant`), as after a day of package
#          changes, and a second run, which rotates them.
#   load:  runs one after the other, each after the backups were made stale again; one run
#          with nothing changed (nothing to do).
#   check: the last run (apply checks that it succeeded; a restart is one more run) wrote
#          dpkg.status.0 and alternatives.tar.0 anew, identical to dpkg's status file and
#          alternatives directory, and the earlier backups were rotated (dpkg.status.1.gz);
#          then the backups made stale for the next run.
set -eu
b=/var/backups
state=/var/lib/learner-pack-dpkg-db-backup
run() { systemctl start dpkg-db-backup.service; }
# The backups made stale, as a day of package changes leaves them: the next run rotates them
# (dpkg.status.0 to dpkg.status.1.gz) and takes new ones.
plant() {
    echo "# made stale by the pack" >>$b/dpkg.status.0
    rm -f $b/alternatives.tar.0
    date +%s >$state/last
    sleep 1
}
case "${1:-}" in
setup)
    mkdir -p $state
    run
    plant
    run
    ;;
load)
    for i in 1 2 3; do
        run
        plant
    done
    run
    run
    plant
    ;;
check)
    last=$(cat $state/last)
    for f in $b/dpkg.status.0 $b/alternatives.tar.0; do
        [ -s $f ] || { echo "$f: not written" >&2; exit 1; }
    done
    # savelog keeps the copy's times (cp -p): the new file is new, not its mtime.
    [ "$(stat -c %Z $b/dpkg.status.0)" -gt "$last" ] || { echo "dpkg.status.0 is older than the last check" >&2; exit 1; }
    cmp -s $b/dpkg.status.0 /var/lib/dpkg/status || { echo "dpkg.status.0 differs from the status file" >&2; exit 1; }
    tar -df $b/alternatives.tar.0 -C /var/lib/dpkg alternatives >/dev/null 2>&1 || { echo "alternatives.tar.0 differs" >&2; exit 1; }
    [ -s $b/dpkg.status.1.gz ] || { echo "no rotated dpkg.status.1.gz" >&2; exit 1; }
    gzip -t $b/dpkg.status.1.gz
    plant
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
