#!/bin/sh
# avahi-daemon 0.8 as Debian packages it (Type=dbus on the guest's system bus, started by
# avahi-daemon.socket or the unit), run inside the pack's guest systemd. avahi never uses
# loopback (not multicast), so the guest gets a veth pair pack0/pack1 (192.0.2.1/24 and
# 192.0.2.2/24), on which its mDNS packets loop back to itself.
#   setup: the system D-Bus (the guest masks it) unmasked and started; the veth pair; a static service `pack` (_pack._tcp, port 4242, TXT learner=pack) in
#          /etc/avahi/services; the unit started.
#   load:  a second static service added and the daemon reloaded (avahi-daemon -r), services
#          browsed and resolved, the host name and address resolved both ways, a service
#          published by a client over D-Bus (avahi-publish) for 2 s, avahi-daemon --check.
#   check: avahi-browse over D-Bus resolves `pack` (_pack._tcp) to port 4242 with its TXT
#          record, the host name resolves to 192.0.2.1, and avahi-daemon --check says running.
set -eu
host=$(hostname)
up() {
    i=0
    until timeout 5 avahi-browse -prt _pack._tcp 2>/dev/null | grep -q '^=;.*;pack;_pack._tcp;local;.*;4242;"learner=pack"'; do
        i=$((i + 1)); [ $i -lt 40 ] || { echo "_pack._tcp not resolved: $(timeout 5 avahi-browse -prt _pack._tcp 2>&1)" >&2; return 1; }; sleep 0.3
    done
}
service() {
    cat <<XML
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>$1</name>
  <service><type>$2</type><port>$3</port><txt-record>learner=pack</txt-record></service>
</service-group>
XML
}
case "${1:-}" in
setup)
    # The pack's guest masks the system bus (tests/scripts/boot-systemd.sh); avahi is a D-Bus
    # service (Type=dbus) and its clients talk to it over the bus: unmasked and started.
    rm -f /run/systemd/system/dbus.service /run/systemd/system/dbus.socket
    systemctl daemon-reload
    systemctl start dbus.socket dbus.service
    ip link show pack0 >/dev/null 2>&1 || ip link add pack0 type veth peer name pack1
    ip addr replace 192.0.2.1/24 dev pack0
    ip addr replace 192.0.2.2/24 dev pack1
    ip link set pack0 multicast on up
    ip link set pack1 multicast on up
    service pack _pack._tcp 4242 >/etc/avahi/services/pack.service
    rm -f /etc/avahi/services/pack2.service
    systemctl start avahi-daemon.service
    up
    ;;
load)
    up
    service pack2 _pack2._udp 4343 >/etc/avahi/services/pack2.service
    systemctl reload avahi-daemon.service || true
    timeout 4 avahi-publish -s "pack client" _packc._tcp 4444 learner=client >/dev/null 2>&1 &
    sleep 1
    for t in _pack._tcp _pack2._udp _packc._tcp; do timeout 5 avahi-browse -prt $t >/dev/null 2>&1 || true; done
    timeout 5 avahi-browse -aprt >/dev/null 2>&1 || true
    timeout 5 avahi-resolve -4 -n "$host.local" >/dev/null 2>&1 || true
    timeout 5 avahi-resolve -a 192.0.2.1 >/dev/null 2>&1 || true
    timeout 5 avahi-resolve -n no-such-host.local >/dev/null 2>&1 || true
    avahi-daemon --check || true
    wait
    ;;
check)
    up
    timeout 5 avahi-resolve -4 -n "$host.local" | grep -q '192\.0\.2\.[12]$'
    avahi-daemon --check
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
