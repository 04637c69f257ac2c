#!/bin/sh
# net-snmp's agent as Debian packages it (v2c on 127.0.0.1:161, community `public` read-only
# for the `systemonly` view: the system and host uptime subtrees), run as Debian-snmp inside
# the pack's guest systemd. Numeric OIDs: Debian ships no MIB files (snmp-mibs-downloader is
# non-free).
#   setup: the unit started.
#   load:  100 gets of sysUpTime, sysDescr and hrSystemUptime, 20 walks of the system subtree,
#          getnext and getbulk, a get outside the view (noSuchObject) and one with a wrong
#          community (no answer), a reload, for about 4 s.
#   check: sysName answers the guest's host name, and sysUpTime answers.
set -eu
get() { snmpget -v2c -c public -On -Oqv -t 1 -r 2 127.0.0.1 "$@"; }
up() {
    i=0
    until get 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "snmpd does not answer on 127.0.0.1:161" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start snmpd.service
    up
    ;;
load)
    up
    for i in $(seq 100); do
        get 1.3.6.1.2.1.1.3.0 1.3.6.1.2.1.1.1.0 1.3.6.1.2.1.25.1.1.0 >/dev/null || true
    done
    for i in $(seq 20); do
        snmpwalk -v2c -c public -On 127.0.0.1 1.3.6.1.2.1.1 >/dev/null || true
    done
    snmpgetnext -v2c -c public -On 127.0.0.1 1.3.6.1.2.1.1 >/dev/null || true
    snmpbulkget -v2c -c public -On -Cr10 127.0.0.1 1.3.6.1.2.1.1 >/dev/null || true
    get 1.3.6.1.2.1.2.1.0 >/dev/null 2>&1 || true
    snmpget -v2c -c wrong -t 0.3 -r 0 127.0.0.1 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 || true
    systemctl reload snmpd.service || true
    up
    for i in $(seq 20); do get 1.3.6.1.2.1.1.5.0 >/dev/null || true; done
    ;;
check)
    up
    name=$(get 1.3.6.1.2.1.1.5.0 | tr -d '"')
    [ "$name" = "$(hostname)" ] || { echo "sysName is '$name', not '$(hostname)'" >&2; exit 1; }
    get 1.3.6.1.2.1.1.3.0 >/dev/null || { echo "no sysUpTime" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
