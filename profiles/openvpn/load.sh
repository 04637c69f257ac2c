#!/bin/sh
# OpenVPN 2.6 as Debian packages it (openvpn@.service: one tunnel per /etc/openvpn/NAME.conf,
# a TUN device, CAP_NET_ADMIN to configure it, then running as nobody), run inside the pack's
# guest systemd. The unit under test is openvpn@pack; its peer, openvpn@peer, runs in a
# network namespace `packv` of its own (NetworkNamespacePath=), so that a ping to the far end
# of the tunnel really crosses it.
#   setup: /dev/net/tun (the guest's /dev is a small tmpfs without it), a veth pair pv0
#          (10.78.0.1, here) - pv1 (10.78.0.2, in packv) carrying the UDP transport, a static
#          key, tunnel ends 10.8.0.1 (pack) and 10.8.0.2 (peer); both units started.
#   load:  pings across the tunnel (small, 1400-byte, a flood of 200), the tunnel's status
#          file read, a reload (SIGHUP: openvpn restarts the tunnel with its persisted TUN
#          device and key).
#   check: 10.8.0.2, which exists only in packv, answers 3 pings through the tunnel, and the
#          peer pings 10.8.0.1 back.
set -eu
up() {
    i=0
    until ping -c 1 -W 1 10.8.0.2 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 30 ] || return 1; sleep 0.3
    done
}
conf() { # conf NAME LOCAL REMOTE IFLOCAL IFREMOTE
    cat >/etc/openvpn/$1.conf <<CONF
dev tun
proto udp
local $2
lport 1194
remote $3 1194
ifconfig $4 $5
secret /etc/openvpn/pack.key
cipher AES-256-CBC
auth SHA256
keepalive 2 10
user nobody
group nogroup
persist-tun
persist-key
verb 3
CONF
}
case "${1:-}" in
setup)
    if [ ! -c /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod -m 666 /dev/net/tun c 10 200
    fi
    ip link add pv0 type veth peer name pv1
    ip netns add packv
    ip link set pv1 netns packv
    ip addr add 10.78.0.1/24 dev pv0
    ip link set pv0 up
    ip netns exec packv ip link set lo up
    ip netns exec packv ip addr add 10.78.0.2/24 dev pv1
    ip netns exec packv ip link set pv1 up
    openvpn --genkey secret /etc/openvpn/pack.key 2>/dev/null
    chmod 600 /etc/openvpn/pack.key
    conf pack 10.78.0.1 10.78.0.2 10.8.0.1 10.8.0.2
    conf peer 10.78.0.2 10.78.0.1 10.8.0.2 10.8.0.1
    mkdir -p /etc/systemd/system/openvpn@peer.service.d
    printf '[Service]\nNetworkNamespacePath=/run/netns/packv\n' \
        >/etc/systemd/system/openvpn@peer.service.d/netns.conf
    systemctl daemon-reload
    systemctl start openvpn@peer.service
    systemctl restart openvpn@pack.service
    up
    ;;
load)
    up
    ping -c 20 -i 0.05 -W 1 10.8.0.2 >/dev/null || true
    ping -c 20 -i 0.05 -s 1400 -W 1 10.8.0.2 >/dev/null || true
    ping -f -c 200 -W 1 10.8.0.2 >/dev/null || true
    cat /run/openvpn/pack.status >/dev/null 2>&1 || true
    systemctl reload openvpn@pack.service 2>/dev/null || systemctl kill -s HUP --kill-whom=main openvpn@pack.service || true
    sleep 1
    up || true
    ping -c 20 -i 0.05 -W 1 10.8.0.2 >/dev/null || true
    ;;
check)
    up
    ping -c 3 -i 0.2 -W 2 10.8.0.2 >/dev/null
    ip netns exec packv ping -c 2 -i 0.2 -W 2 10.8.0.1 >/dev/null
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
