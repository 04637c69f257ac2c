#!/bin/sh
# tinc 1.0 as Debian packages it (tinc@.service: one VPN per /etc/tinc/NAME, tincd as root,
# a TUN device, tinc-up and host-up scripts run through /bin/sh), run inside the pack's
# guest systemd. The unit under test is tinc@pack; its peer, tinc@peer, runs in a network
# namespace `packt` of its own (NetworkNamespacePath=), so that a ping to the far end of the
# VPN really crosses it.
#   setup: /dev/net/tun (the guest's /dev is a small tmpfs without it), a veth pair pt0
#          (10.79.0.1, here) - pt1 (10.79.0.2, in packt) carrying tinc's TCP and UDP, RSA
#          keys made with `tincd -K`, each node's host file (address, subnet, public key) in
#          both nets, tinc-up scripts giving 10.9.0.1 (pack) and 10.9.0.2 (peer), a host-up
#          script on pack logging each peer that comes up to /var/log/tinc-pack-hosts.log;
#          both units started.
#   load:  pings across the VPN (small, 1400-byte, a flood of 200), a reload (HUP: tincd
#          re-reads its configuration and host files), tincd's own statistics and graph dumps
#          (USR1/USR2, to the journal), the peer restarted (the connection re-made).
#   check: 10.9.0.2, which exists only in packt, answers 3 pings through the VPN, the peer
#          pings 10.9.0.1 back, and host-up logged the peer since the unit's last start.
set -eu
up() {
    i=0
    until ping -c 1 -W 1 10.9.0.2 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.3
    done
}
node() { # node NAME ADDR VPNADDR OTHER
    d=/etc/tinc/$1
    mkdir -p "$d/hosts"
    printf 'Name = %s\nConnectTo = %s\nDevice = /dev/net/tun\nAddressFamily = ipv4\nPingInterval = 5\n' \
        "$1" "$4" >"$d/tinc.conf"
    printf 'Address = %s\nSubnet = %s/32\n' "$2" "$3" >"$d/hosts/$1"
    printf '#!/bin/sh\nip addr add %s/24 dev "$INTERFACE"\nip link set "$INTERFACE" up\n' "$3" >"$d/tinc-up"
    printf '#!/bin/sh\nip link set "$INTERFACE" down\n' >"$d/tinc-down"
    chmod 755 "$d/tinc-up" "$d/tinc-down"
    tincd -n "$1" -K2048 </dev/null >/dev/null 2>&1
}
case "${1:-}" in
setup)
    if [ ! -c /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod -m 666 /dev/net/tun c 10 200
    fi
    ip link add pt0 type veth peer name pt1
    ip netns add packt
    ip link set pt1 netns packt
    ip addr add 10.79.0.1/24 dev pt0
    ip link set pt0 up
    ip netns exec packt ip link set lo up
    ip netns exec packt ip addr add 10.79.0.2/24 dev pt1
    ip netns exec packt ip link set pt1 up
    node pack 10.79.0.1 10.9.0.1 peer
    node peer 10.79.0.2 10.9.0.2 pack
    cp /etc/tinc/pack/hosts/pack /etc/tinc/peer/hosts/pack
    cp /etc/tinc/peer/hosts/peer /etc/tinc/pack/hosts/peer
    printf '#!/bin/sh\necho "$(date +%%s) $NODE $REMOTEADDRESS" >>/var/log/tinc-pack-hosts.log\n' \
        >/etc/tinc/pack/host-up
    chmod 755 /etc/tinc/pack/host-up
    mkdir -p /etc/systemd/system/tinc@peer.service.d
    printf '[Service]\nNetworkNamespacePath=/run/netns/packt\n' \
        >/etc/systemd/system/tinc@peer.service.d/netns.conf
    systemctl daemon-reload
    systemctl start tinc@peer.service
    systemctl restart tinc@pack.service
    up
    ;;
load)
    up
    ping -c 20 -i 0.05 -W 1 10.9.0.2 >/dev/null || true
    ping -c 20 -i 0.05 -s 1400 -W 1 10.9.0.2 >/dev/null || true
    ping -f -c 200 -W 1 10.9.0.2 >/dev/null || true
    systemctl reload tinc@pack.service || true
    systemctl kill -s USR1 --kill-whom=main tinc@pack.service || true
    systemctl kill -s USR2 --kill-whom=main tinc@pack.service || true
    sleep 1
    up || true
    systemctl restart tinc@peer.service || true
    up || true
    ping -c 20 -i 0.05 -W 1 10.9.0.2 >/dev/null || true
    ;;
check)
    up
    ping -c 3 -i 0.2 -W 2 10.9.0.2 >/dev/null
    ip netns exec packt ping -c 2 -i 0.2 -W 2 10.9.0.1 >/dev/null
    started=$(systemctl show -p ExecMainStartTimestampMonotonic --value tinc@pack.service)
    now=$(cut -d' ' -f1 /proc/uptime | cut -d. -f1)
    since=$(( $(date +%s) - now + started / 1000000 ))
    awk -v s="$since" '$1 >= s && $2 == "peer" { found = 1 } END { exit !found }' /var/log/tinc-pack-hosts.log
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
