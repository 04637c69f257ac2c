#!/bin/sh
# atd as Debian packages it: runs each user's `at` jobs as that user (PAM session "atd",
# setuid to the user, the job's output mailed through /usr/sbin/sendmail), run inside the
# pack's guest systemd.
#   setup: a user `packat`; the unit started.
#   load:  10 jobs queued with `at now` by packat (each appends to a file in its home), a
#          `batch` job, a job for tomorrow listed with atq and removed with atrm, a job whose
#          output is mailed, for about 4 s.
#   check: a job with a new token queued by packat runs within 20 s and writes it, as packat.
set -eu
user=packat
home=/home/$user
as_user() { su -s /bin/sh "$user" -c "$1"; }
up() {
    i=0
    until [ -s /run/atd.pid ] && kill -0 "$(cat /run/atd.pid)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "atd is not running" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    systemctl start atd.service
    up
    ;;
load)
    up
    for i in $(seq 10); do
        as_user "echo 'echo job $i >> $home/load.out' | at now 2>/dev/null"
    done
    as_user "echo 'date >> $home/batch.out' | batch 2>/dev/null"
    later=$(as_user "echo 'echo later' | at now + 1 day 2>&1" | awk '/^job/ {print $2}')
    as_user "atq" >/dev/null
    [ -z "$later" ] || as_user "atrm $later" || true
    as_user "echo 'echo this output is mailed' | at now 2>/dev/null"
    sleep 4
    ;;
check)
    up
    token="token $(date +%s%N)"
    rm -f "$home/check.out"
    as_user "echo 'echo $token > $home/check.out' | at now 2>/dev/null"
    i=0
    until [ "$(cat "$home/check.out" 2>/dev/null)" = "$token" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "the job did not run within 20 s" >&2; exit 1; }; sleep 0.2
    done
    owner=$(stat -c %U "$home/check.out")
    [ "$owner" = "$user" ] || { echo "the job ran as $owner, not $user" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
