#!/bin/sh
# chrony as Debian packages it, run inside the pack's guest systemd. The guest has no network
# and its bounding set lacks CAP_SYS_TIME, so chronyd cannot set the clock here: it runs with
# -x (never touch the clock; the rest as packaged) and serves its own clock as a
# `local stratum 10` source, free of the network. The unit's ConditionCapability=CAP_SYS_TIME
# would skip it here, so a drop-in of the guest resets that condition (no sandboxing option).
#   setup: the condition reset, DAEMON_OPTS="-F 1 -x" in /etc/default/chrony (Debian's -F 1, plus -x), and
#          /etc/chrony/conf.d/pack.conf with `local stratum 10`, `allow 127.0.0.1` and
#          `cmdallow 127.0.0.1`; the unit restarted.
#   load:  chronyc tracking, sources, sourcestats, activity, serverstats, clients over the
#          command socket (/run/chrony/chronyd.sock) and over UDP 323, 20 times; dump.
#   check: tracking answers stratum 10 over the socket, and a reference over UDP.
# On a host whose bounding set has CAP_SYS_TIME (a real machine: `cargo xtask vm pack
# bookworm chrony`), chronyd runs as packaged and sets the clock:
#   setup: `allow 127.0.0.1`, `cmdallow 127.0.0.1` in conf.d, and the NTP server named in
#          /etc/learner-pack-ntp (`ADDRESS PORT`: what `vm pack` serves to its machine) as a
#          source where that file exists (else Debian's pool only); chrony started.
#   load:  as above.
#   check: chronyd is synchronised (`chronyc waitsync`: Leap status Normal, within 2 minutes),
#          to a source over the network (not its own clock), and answers over UDP too.
set -eu
# CAP_SYS_TIME (25) in this shell's bounding set: a real host, not the pack's guest.
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
real=$(( (0x$bnd >> 25) & 1 ))
up() {
    i=0
    until chronyc -n tracking >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    if [ "$real" = 1 ]; then
        mkdir -p /etc/chrony/conf.d
        printf 'allow 127.0.0.1\ncmdallow 127.0.0.1\n' >/etc/chrony/conf.d/pack.conf
        if [ -r /etc/learner-pack-ntp ]; then
            read -r addr port </etc/learner-pack-ntp
            printf 'server %s port %s iburst minpoll 0 maxpoll 4\n' "$addr" "$port" >>/etc/chrony/conf.d/pack.conf
        fi
        systemctl start chrony.service
        up
        exit 0
    fi
    mkdir -p /etc/systemd/system/chrony.service.d
    printf '[Unit]\nConditionCapability=\n' >/etc/systemd/system/chrony.service.d/10-pack-no-clock.conf
    systemctl daemon-reload
    sed -i 's/^DAEMON_OPTS=.*/DAEMON_OPTS="-F 1 -x"/' /etc/default/chrony
    grep -q '^DAEMON_OPTS="-F 1 -x"' /etc/default/chrony
    mkdir -p /etc/chrony/conf.d
    printf 'local stratum 10\nallow 127.0.0.1\ncmdallow 127.0.0.1\n' >/etc/chrony/conf.d/pack.conf
    systemctl restart chrony.service
    up
    ;;
load)
    up
    for i in $(seq 20); do
        for c in tracking sources sourcestats activity serverstats clients; do
            chronyc -n $c >/dev/null 2>&1 || true
        done
        chronyc -h 127.0.0.1 -n tracking >/dev/null 2>&1 || true
    done
    chronyc dump >/dev/null 2>&1 || true
    ;;
check)
    up
    if [ "$real" = 1 ]; then
        chronyc waitsync 120 0 0 1 >/dev/null
        chronyc -n tracking | grep -q '^Leap status *: Normal'
        ! chronyc -n tracking | grep -q '^Reference ID *: 7F7F0101'
        chronyc -h 127.0.0.1 -n tracking | grep -q '^Reference ID'
        exit 0
    fi
    chronyc -n tracking | grep -q '^Stratum *: 10'
    chronyc -h 127.0.0.1 -n tracking | grep -q '^Reference ID'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
