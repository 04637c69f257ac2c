#!/bin/sh
# lldpd 1.0.16 as Debian packages it (lldpd.service: Type=notify, `lldpd $DAEMON_ARGS`, no
# DAEMON_ARGS: LLDP only; a root monitor and a child chrooted in /run/lldpd as _lldpd; raw
# AF_PACKET sockets opened by the monitor, netlink, the control socket /run/lldpd.socket used
# by lldpcli; at start lldpd runs lldpcli on /etc/lldpd.conf and /etc/lldpd.d/*.conf), run
# inside the pack's guest systemd, which has only loopback (lldpd ignores it): lldpd gets a
# veth pair made here, and a second lldpd on its other end to talk LLDP with.
#   setup: a network namespace packl; a veth pair, pk0 (10.78.0.1/24) in the guest's namespace
#          and pk1 (10.78.0.2/24) in packl, both up; /etc/lldpd.d/pack.conf: tx-interval 1 s
#          and interface descriptions on (lldpd would write its neighbour's name into
#          /sys/class/net/pk0/ifalias: the guest's /sys is read-only, EROFS); lldpd.service
#          started (its first start); then the peer, a second lldpd in packl with a socket,
#          pid file and configuration of its own (hostname pack-peer, tx-interval 1 s), as a
#          transient unit pack-lldpd-peer.service (outside lldpd.service); the peer awaited as
#          pk0's neighbour.
#   load:  lldpcli over the control socket: show neighbors/interfaces/chassis/statistics/
#          configuration/running-configuration in every format (plain, details, summary,
#          keyvalue, json, xml), update; runtime configuration (system description, hostname,
#          platform, capabilities, management address pattern, port ID subtype, a port's
#          description and rx-only status, promiscuous mode on and off, inventory values, pause
#          and resume), each undone; the guest's host name changed and put back (lldpd asks
#          for it again, a lookup in /etc/hosts, then DNS, unreachable here); the peer renamed
#          (lldpd updates its neighbour); an IPv4 address added to and removed from pk0; a
#          second veth pair pk2/pk3 (pk3 in packl) added, seen as a second neighbour, flapped
#          down and up, and removed; for about 10 s.
#   check: the host renamed to a fresh token (put back at the end), a system description with
#          a fresh token configured with lldpcli (which makes lldpd update its chassis): both
#          read back from lldpd (show chassis, and show configuration for the description) and
#          reach the peer in lldpd's LLDP frames on pk0 (the peer's neighbour table); the peer
#          renamed to a fresh token is seen by lldpd as pk0's neighbour (its frames received on
#          the raw socket).
set -eu
PEER_SOCK=/run/pack-lldpd-peer.socket
lc() { timeout 10 lldpcli "$@"; }
peer() { timeout 10 lldpcli -u "$PEER_SOCK" "$@"; }
# wait_for WHAT SECONDS COMMAND...: polls the command every 0.2 s.
wait_for() {
    what=$1 secs=$2; shift 2
    i=0
    until "$@"; do
        i=$((i + 1)); [ $i -lt $((secs * 5)) ] || { echo "$what: not within $secs s" >&2; return 1; }; sleep 0.2
    done
}
answers() { lc show chassis >/dev/null 2>&1; }
peer_answers() { peer show chassis >/dev/null 2>&1; }
# kv_is CMD KEY VALUE: lldpcli's keyvalue output of CMD has KEY=VALUE.
kv_is() { $1 show $2 -f keyvalue 2>/dev/null | grep -qxF "$3=$4"; }
neighbour_is() { kv_is lc neighbors lldp.pk0.chassis.name "$1"; }
peer_sees_descr() { kv_is peer neighbors lldp.pk1.chassis.descr "$1"; }
peer_sees_name() { kv_is peer neighbors lldp.pk1.chassis.name "$1"; }
up() {
    wait_for "lldpd answering on /run/lldpd.socket" 20 answers
    wait_for "the peer lldpd answering on $PEER_SOCK" 20 peer_answers
}
case "${1:-}" in
setup)
    [ -e /run/netns/packl ] || ip netns add packl
    ip -n packl link set lo up
    if ! ip link show pk0 >/dev/null 2>&1; then
        ip link add pk0 type veth peer name pk1 netns packl
        ip addr add 10.78.0.1/24 dev pk0
        ip -n packl addr add 10.78.0.2/24 dev pk1
    fi
    ip link set pk0 up
    ip -n packl link set pk1 up
    mkdir -p /etc/lldpd.d
    cat >/etc/lldpd.d/pack.conf <<'CONF'
configure lldp tx-interval 1
configure system interface description
CONF
    systemctl start lldpd.service
    wait_for "lldpd answering on /run/lldpd.socket" 20 answers
    cat >/etc/pack-lldpd-peer.conf <<'CONF'
configure lldp tx-interval 1
configure system hostname pack-peer
configure system description "the pack's peer"
CONF
    systemctl is-active -q pack-lldpd-peer.service ||
        systemd-run --quiet --unit=pack-lldpd-peer --property=Restart=always \
            ip netns exec packl /usr/sbin/lldpd -d -p /run/pack-lldpd-peer.pid \
            -u "$PEER_SOCK" -O /etc/pack-lldpd-peer.conf
    up
    wait_for "pack-peer as pk0's neighbour" 20 neighbour_is pack-peer
    ;;
load)
    up
    orig=$(hostname)
    trap 'hostname "$orig"' EXIT
    end=$(($(date +%s) + 10))
    n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        for what in neighbors interfaces chassis; do
            for f in plain keyvalue json xml; do
                lc -f $f show $what details >/dev/null || true
            done
            lc show $what summary >/dev/null || true
        done
        lc show neighbors ports pk0 >/dev/null || true
        lc show statistics >/dev/null || true
        lc show statistics summary >/dev/null || true
        lc show configuration >/dev/null || true
        lc show running-configuration >/dev/null || true
        lc update >/dev/null || true
        case $((n % 6)) in
        1)
            lc configure system description "pack load $n" || true
            lc configure system hostname "pack-main-$n" || true
            lc configure system platform "pack" || true
            lc configure system capabilities enabled router || true
            sleep 0.5
            lc unconfigure system capabilities enabled || true
            lc unconfigure system platform || true
            lc unconfigure system hostname || true
            ;;
        2)
            peer configure system hostname "peer-load-$n" || true
            wait_for "peer-load-$n as pk0's neighbour" 5 neighbour_is "peer-load-$n" || true
            peer configure system hostname pack-peer || true
            ;;
        3)
            ip addr add 10.78.1.1/24 dev pk0 2>/dev/null || true
            lc configure system ip management pattern '10.78.1.*' || true
            lc configure lldp portidsubtype ifname || true
            lc configure ports pk0 lldp portdescription "pack port" || true
            sleep 1
            lc unconfigure system ip management pattern || true
            lc configure lldp portidsubtype macaddress || true
            ip addr del 10.78.1.1/24 dev pk0 2>/dev/null || true
            ;;
        4)
            if ! ip link show pk2 >/dev/null 2>&1; then
                ip link add pk2 type veth peer name pk3 netns packl || true
                ip link set pk2 up || true
                ip -n packl link set pk3 up || true
            fi
            sleep 1.5
            lc show neighbors ports pk2 details >/dev/null || true
            ip link set pk2 down || true
            sleep 0.3
            ip link set pk2 up || true
            sleep 1
            ip link del pk2 || true
            ;;
        5)
            lc configure system interface promiscuous || true
            lc configure ports pk0 lldp status rx-only || true
            lc configure inventory software-revision "pack" || true
            sleep 0.5
            lc unconfigure inventory software-revision || true
            lc configure ports pk0 lldp status rx-and-tx || true
            lc unconfigure system interface promiscuous || true
            ;;
        0)
            hostname "pack-load-$n"
            lc configure system description "pack renamed $n" || true
            sleep 0.5
            hostname "$orig"
            lc unconfigure system description || true
            lc pause || true
            sleep 0.3
            lc resume || true
            ;;
        esac
    done
    ip link del pk2 2>/dev/null || true
    lc unconfigure system description || true
    peer configure system hostname pack-peer || true
    up
    wait_for "pack-peer as pk0's neighbour" 20 neighbour_is pack-peer
    ;;
check)
    up
    token=pack-$(date +%s)-$$
    # The host renamed while lldpd runs: lldpd asks for the name again at its next update
    # (a configuration change makes one) and advertises it.
    orig=$(hostname)
    trap 'hostname "$orig"' EXIT
    hostname "h-$token"
    lc configure system description "$token" >/dev/null
    kv_is lc chassis local-chassis.chassis.descr "$token" || {
        echo "lldpd does not read back the description $token:" >&2; lc show chassis >&2; exit 1; }
    lc show configuration | grep -q "Override description with: $token\$" || {
        echo "lldpd's configuration lacks the description $token" >&2; exit 1; }
    wait_for "the peer receiving the description $token from lldpd over pk0" 15 peer_sees_descr "$token" ||
        { peer show neighbors >&2; exit 1; }
    kv_is lc chassis local-chassis.chassis.name "h-$token" || {
        echo "lldpd does not advertise the host's new name h-$token:" >&2; lc show chassis >&2; exit 1; }
    wait_for "the peer receiving the host's new name h-$token from lldpd" 15 peer_sees_name "h-$token" ||
        { peer show neighbors >&2; exit 1; }
    hostname "$orig"
    peer configure system hostname "peer-$token" >/dev/null
    wait_for "lldpd receiving peer-$token as pk0's neighbour" 15 neighbour_is "peer-$token" ||
        { lc show neighbors >&2; exit 1; }
    peer configure system hostname pack-peer >/dev/null
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
