#!/bin/sh
# rsyslog 8.2302 as Debian packages it (rsyslog.service, socket-activated through
# syslog.socket: journald forwards what reaches /dev/log to /run/systemd/journal/syslog, which
# rsyslog's imuxsock takes from systemd), run inside the pack's guest systemd.
#   setup: the unit enabled as its package leaves it (`cargo xtask pack` disables pack-only
#          units on the machine, which removes the syslog.service alias; without it, a
#          message reaching syslog.socket while rsyslog is stopped fails the socket, and with
#          it every later start); /etc/rsyslog.d/pack.conf adds a UDP and a TCP input on 127.0.0.1:5514 and a rule
#          writing facility local5 to /var/log/pack.log too; the unit restarted.
#   load:  400 `logger` messages through /dev/log (user, daemon, auth, local5), 100 over UDP
#          and 100 over TCP to the inputs, a message too long for one line.
#   check: a fresh message sent with `logger` through /dev/log lands in /var/log/syslog, a
#          local5 one in /var/log/pack.log, and one sent over TCP in /var/log/syslog.
set -eu
# Waits until FILE has the line TOKEN.
landed() {
    i=0
    until grep -qF "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "not in $1: $2" >&2; return 1; }; sleep 0.2
    done
}
up() {
    i=0
    until systemctl is-active --quiet rsyslog.service; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl enable --quiet rsyslog.service
    systemctl reset-failed syslog.socket 2>/dev/null || true
    systemctl start syslog.socket
    cat >/etc/rsyslog.d/pack.conf <<'CONF'
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="5514")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="5514")
local5.*    /var/log/pack.log
CONF
    systemctl restart rsyslog.service
    up
    t=setup-$(date +%s%N)
    logger -t pack "$t"
    landed /var/log/syslog "$t"
    ;;
load)
    up
    for i in $(seq 100); do
        for p in user.info daemon.notice auth.warning local5.info; do
            logger -p $p -t pack "load $i $p" || true
        done
        logger -d -n 127.0.0.1 -P 5514 -t packudp "udp $i" || true
        logger -T -n 127.0.0.1 -P 5514 -t packtcp "tcp $i" || true
    done
    logger -t pack "$(head -c 3000 /dev/zero | tr '\0' x)" || true
    ;;
check)
    up
    t=check-$(date +%s%N)
    logger -t pack "$t"
    landed /var/log/syslog "$t"
    logger -p local5.info -t pack "$t-local5"
    landed /var/log/pack.log "$t-local5"
    logger -T -n 127.0.0.1 -P 5514 -t packtcp "$t-tcp"
    landed /var/log/syslog "$t-tcp"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
