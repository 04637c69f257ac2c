#!/bin/sh
# fail2ban 1.0 as Debian packages it, run inside the pack's guest systemd. Debian's sshd jail
# reads /var/log/auth.log, which a machine without rsyslog has not; and banning needs
# iptables, not installed here. So the pack's jail watches a log of its own with Debian's
# sshd filter, and bans with the `dummy` action (it writes the ban to a file in /run).
#   setup: /etc/fail2ban/jail.d/pack.local: the sshd jail off, a jail `pack` (filter sshd,
#          logpath /var/log/pack-auth.log, maxretry 3, action dummy); the unit restarted.
#   load:  sshd "Failed password" lines for two addresses appended to that log, status of
#          the jails, a manual unban, a reload of the jails through fail2ban-client.
#   check: fail2ban-client ping answers pong, jail `pack` is up, and a fresh address that
#          fails 3 times is banned within 10 s.
set -eu
log=/var/log/pack-auth.log
fail() {
    for i in 1 2 3 4; do
        echo "$(date '+%b %e %H:%M:%S') vm sshd[4242]: Failed password for root from $1 port 5$i ssh2" >>"$log"
    done
}
up() {
    i=0
    until fail2ban-client status pack >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    touch "$log"
    cat >/etc/fail2ban/jail.d/pack.local <<'CONF'
[sshd]
enabled = false

[pack]
enabled = true
filter = sshd
backend = polling
logpath = /var/log/pack-auth.log
maxretry = 3
findtime = 10m
bantime = 10m
banaction = dummy
action = dummy
CONF
    systemctl restart fail2ban.service
    up
    ;;
load)
    up
    fail 192.0.2.1
    fail 192.0.2.2
    sleep 2
    fail2ban-client status >/dev/null || true
    fail2ban-client status pack >/dev/null || true
    fail2ban-client set pack unbanip 192.0.2.1 >/dev/null 2>&1 || true
    fail2ban-client reload pack >/dev/null 2>&1 || true
    ;;
check)
    up
    fail2ban-client ping | grep -q pong
    ip=198.51.100.$(( $$ % 250 + 1 ))
    fail "$ip"
    i=0
    until fail2ban-client status pack | grep -q "$ip"; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "$ip not banned" >&2; exit 1; }; sleep 0.2
    done
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
