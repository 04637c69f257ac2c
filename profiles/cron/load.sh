#!/bin/sh
# cron as Debian packages it (cron -f, each job run through PAM service "cron" as its user,
# a job's output mailed through /usr/sbin/sendmail), inside the pack's guest systemd. cron
# runs jobs only at the start of a minute, and @reboot jobs only at its first start of a boot
# (/run/crond.reboot): so the jobs run while the setup's check waits, in the recording of
# the first start, and after a restart the check waits for the next minute (at most ~61 s).
#   setup: a user `packcron` whose crontab (installed with `crontab -` before cron's first
#          start, as on a host where cron starts at boot) has an @reboot job, a job each
#          minute that copies ~/want to ~/got and one whose output (~/want) is mailed; the
#          unit started; the @reboot job's output awaited; root's crontab (a job copying
#          /root/want to /root/got) and /etc/cron.d/pack (a job of packcron) added while
#          cron runs, as a user's `crontab -e` would, read at cron's next minute.
#   load:  packcron and root list and rewrite their crontabs (crontab -l, crontab -),
#          /etc/cron.d/pack rewritten, for about 4 s (cron reads the changes at its next
#          minute).
#   check: a new token in ~packcron/want and /root/want is copied to ~/got by the next
#          minute's jobs, as packcron and as root, and packcron's mailed job output holding
#          it reaches postfix's maildrop (postdrop, set-gid), within 75 s. After a restart
#          or crash that is the new cron's first minute: 58-60 s, as the event follows the
#          check that passed just after the minute's jobs (learner apply allows 60 s here).
set -eu
user=packcron
home=/home/$user
as_user() { su -s /bin/sh "$user" -c "$1"; }
up() {
    i=0
    until pid=$(systemctl show -p MainPID --value cron.service) && [ "${pid:-0}" != 0 ] \
        && kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "cron is not running" >&2; return 1; }; sleep 0.2
    done
}
user_crontab() {
    # $1: an extra line. % would end a command in a crontab: none is used.
    as_user "crontab -" <<TAB
MAILTO=$user
@reboot date >$home/reboot.out 2>&1
* * * * * [ -f $home/want ] && cp $home/want $home/got
* * * * * echo "mailed by the job of $user:"; cat $home/want
$1
TAB
}
root_crontab() {
    crontab - <<TAB
* * * * * [ -f /root/want ] && cp /root/want /root/got
$1
TAB
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    user_crontab ""
    systemctl start cron.service
    up
    i=0
    until [ -s "$home/reboot.out" ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "the @reboot job did not run within 10 s" >&2; exit 1; }; sleep 0.2
    done
    root_crontab ""
    echo "* * * * * $user date >>$home/cron.d.out" >/etc/cron.d/pack
    ;;
load)
    up
    as_user "crontab -l" >/dev/null
    user_crontab "*/5 * * * * date >>$home/every5.out"
    crontab -l >/dev/null
    root_crontab "*/5 * * * * date >>/root/every5.out"
    echo "* * * * * $user date >>$home/cron.d.out
*/10 * * * * root true" >/etc/cron.d/pack
    sleep 4
    ;;
check)
    up
    token="token-$(date +%s%N)"
    rm -f "$home/got" /root/got
    echo "$token" >"$home/want.new" && chown "$user:" "$home/want.new" && mv "$home/want.new" "$home/want"
    echo "$token" >/root/want.new && mv /root/want.new /root/want
    i=0
    until [ "$(cat "$home/got" 2>/dev/null)" = "$token" ] && [ "$(cat /root/got 2>/dev/null)" = "$token" ]; do
        i=$((i + 1)); [ $i -lt 375 ] || { echo "the jobs did not run within 75 s" >&2; exit 1; }; sleep 0.2
    done
    owner=$(stat -c %U "$home/got")
    [ "$owner" = "$user" ] || { echo "packcron's job ran as $owner" >&2; exit 1; }
    owner=$(stat -c %U /root/got)
    [ "$owner" = root ] || { echo "root's job ran as $owner" >&2; exit 1; }
    # The mailed output: postdrop's queue file in the maildrop holds it (postfix, which
    # would pick it up, does not run in the guest).
    i=0
    until grep -rqs "$token" /var/spool/postfix; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "the job's output was not mailed within 10 s" >&2; exit 1; }; sleep 0.2
    done
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
