#!/bin/sh
# NUT's upsd 2.8.0 as Debian packages it (nut-server.service: `/sbin/upsd -F`, a wrapper that
# sources /etc/nut/nut.conf and execs /lib/nut/upsd, which starts as root, listens on
# localhost:3493 (127.0.0.1 and ::1, Debian's upsd.conf has no LISTEN line), drops to user nut
# and talks to its drivers through their unix sockets in /run/nut), run inside the pack's guest
# systemd. The UPS is dummy-ups reading /etc/nut/dummy.dev, started by Debian's driver unit
# nut-driver@dummy.service (not the unit under the drop-in). Clients: upsc, upsrw, upscmd
# (nut-client) and raw protocol sessions with nc.
#   setup: MODE=netserver in nut.conf; a UPS [dummy] in ups.conf (dummy-ups, dummy.dev: OL,
#          battery.charge 87, ups.delay.shutdown 20); users packadmin (SET, all instant
#          commands) and packmon (upsmon primary) in upsd.users; nut-driver@dummy.service
#          started, then nut-server.service.
#   load:  the driver restarted first (see below); upsc (all variables, single ones, lists
#          of UPSes and clients) over 127.0.0.1 and ::1, upsrw listing and setting
#          ups.delay.shutdown, upscmd listing and running load.off (which dummy-ups refuses),
#          upsmon-style sessions (USERNAME/PASSWORD/LOGIN, NUMLOGINS, LIST CLIENT, LOGOUT) and
#          a wrong password, the UPS going on battery and back in dummy.dev (seen
#          through the driver), for 6 s; then a reload (upsd -c reload: SIGHUP,
#          configuration re-read) and dummy.dev back as setup left it.
#   check: `upsc dummy@localhost ups.status` is OL and battery.charge is 87 (dummy.dev's, read
#          by the driver, served by upsd); a fresh value of ups.delay.shutdown set with upsrw as
#          packadmin (upsd -> driver over /run/nut) is read back with upsc; packmon's LOGIN is
#          accepted and counted by NUMLOGINS.
# NUT 2.8.0's drivers abort (glibc: "bit out of range 0 - FD_SETSIZE on fd_set") at their first
# broadcast after the upsd they served went away: "send_to_all: write ... failed, disconnecting:
# Broken pipe", then glibc's fortified FD_SET aborts (reproduced on the host without systemd
# and without a drop-in: dummy-ups -D, upsd killed or stopped and started again, one upsrw;
# synchronous = yes or no alike). After each restart and crash of nut-server the check's SET
# is that broadcast: the driver dies, its Restart=always brings it back 15 s later
# (RestartSec=15s), and learner's check passes at its second try.
# The load restarts the driver first (learner restarted upsd just before), so that its SETs
# and dummy.dev changes reach upsd.
set -eu
ups=dummy@localhost
dev=/etc/nut/dummy.dev
up() {
    # upsd answers before it has the driver's data ("Data stale" until then).
    i=0
    until [ "$(upsc $ups ups.status 2>/dev/null)" = "${1:-OL}" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || {
            echo "upsd does not serve $ups ups.status ${1:-OL}: $(upsc $ups ups.status 2>&1)" >&2; return 1; }
        sleep 0.2
    done
}
writedev() { # STATUS CHARGE
    cat >$dev.new <<DEV
device.type: ups
device.mfr: Pack
device.model: Dummy 1500
ups.mfr: Pack
ups.model: Dummy 1500
ups.status: $1
battery.charge: $2
battery.runtime: 1800
input.voltage: 230.0
output.voltage: 230.0
ups.load: 23
ups.delay.shutdown: 20
DEV
    chown root:nut $dev.new; chmod 640 $dev.new; mv $dev.new $dev
}
session() { # USER PASSWORD HOST
    printf 'USERNAME %s\nPASSWORD %s\nLOGIN dummy\nGET NUMLOGINS dummy\nLIST CLIENT dummy\nLOGOUT\n' "$1" "$2" |
        nc -N -w 5 "$3" 3493
}
case "${1:-}" in
setup)
    sed -i 's/^MODE=.*/MODE=netserver/' /etc/nut/nut.conf
    grep -q '^MODE=netserver$' /etc/nut/nut.conf
    cat >>/etc/nut/ups.conf <<'CONF'

[dummy]
	driver = dummy-ups
	port = dummy.dev
	desc = "pack dummy UPS"
CONF
    cat >>/etc/nut/upsd.users <<'CONF'

[packadmin]
	password = packsecret
	actions = SET
	instcmds = ALL

[packmon]
	password = monsecret
	upsmon primary
CONF
    writedev OL 87
    systemctl start nut-driver@dummy.service
    systemctl start nut-server.service
    up
    ;;
load)
    # The driver first: NUT 2.8.0's drivers abort at their first broadcast after upsd went
    # away (see the header); the recording restarts upsd before the load.
    systemctl restart nut-driver@dummy.service
    up
    end=$(($(date +%s) + 6))
    n=0 state=0
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        upsc $ups >/dev/null || true
        upsc dummy@127.0.0.1 battery.charge >/dev/null || true
        upsc 'dummy@[::1]' ups.status >/dev/null || true
        upsc -l localhost >/dev/null || true
        upsc -L '[::1]' >/dev/null || true
        upsc -c $ups >/dev/null 2>&1 || true
        upsrw $ups >/dev/null 2>&1 || true
        upsrw -s ups.delay.shutdown=$((20 + n)) -u packadmin -p packsecret $ups >/dev/null 2>&1 || true
        upscmd -l $ups >/dev/null 2>&1 || true
        upscmd -u packadmin -p packsecret $ups load.off >/dev/null 2>&1 || true
        session packmon monsecret 127.0.0.1 >/dev/null 2>&1 || true
        session packmon monsecret ::1 >/dev/null 2>&1 || true
        session packmon wrong 127.0.0.1 >/dev/null 2>&1 || true
        upsc dummy@localhost no.such.variable >/dev/null 2>&1 || true
        upsc nosuchups@localhost >/dev/null 2>&1 || true
        # On battery, discharging, back on line: about 2 s each.
        left=$((end - $(date +%s)))
        if [ $state = 0 ] && [ $left -le 5 ]; then writedev "OB DISCHRG" 80; state=1
        elif [ $state = 1 ] && [ $left -le 3 ]; then writedev "OB DISCHRG" 72; state=2
        elif [ $state = 2 ] && [ $left -le 1 ]; then writedev "OL CHRG" 75; state=3
        fi
        sleep 0.2
    done
    # A reload keeps upsd's connection to the driver (checked on the host).
    systemctl reload nut-server.service
    upsc $ups >/dev/null || true
    writedev OL 87
    i=0
    until [ "$(upsc $ups battery.charge 2>/dev/null)" = 87 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.2
    done
    up
    echo "load: $n rounds, dummy.dev changed $state times" >&2
    ;;
check)
    up
    i=0
    until [ "$(upsc $ups battery.charge 2>/dev/null)" = 87 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "battery.charge is '$(upsc $ups battery.charge 2>&1)', not 87" >&2; exit 1; }
        sleep 0.2
    done
    [ "$(upsc $ups ups.status)" = OL ] || { echo "ups.status is not OL" >&2; exit 1; }
    [ "$(upsc $ups device.model)" = "Dummy 1500" ] || { echo "device.model is not dummy.dev's" >&2; exit 1; }
    v=$(( $(date +%s%N) % 900 + 100 ))
    upsrw -s ups.delay.shutdown=$v -u packadmin -p packsecret -w $ups
    i=0
    until [ "$(upsc $ups ups.delay.shutdown 2>/dev/null)" = "$v" ]; do
        i=$((i + 1)); [ $i -lt 50 ] || {
            echo "ups.delay.shutdown set to $v reads '$(upsc $ups ups.delay.shutdown 2>&1)';" \
                "driver: $(systemctl show -p NRestarts -p Result -p ActiveState nut-driver@dummy.service | tr '\n' ' ')" >&2; exit 1; }
        sleep 0.2
    done
    out=$(session packmon monsecret 127.0.0.1)
    printf '%s\n' "$out" | grep -q '^NUMLOGINS dummy [1-9]' || { echo "packmon's LOGIN was not counted: $out" >&2; exit 1; }
    [ "$(printf '%s\n' "$out" | grep -c '^OK')" -ge 3 ] || { echo "packmon's session was refused: $out" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
