#!/bin/sh
# collectd 5.12 as Debian 12's collectd-core packages it (collectd.service: Type=notify, as root,
# plugins loaded from /usr/lib/collectd at start; the package ships no collectd.conf, and the
# unit has ConditionPathExists=/etc/collectd/collectd.conf), run inside the pack's guest
# systemd, which has only loopback: the interface plugin gets a veth pair made here.
# Client: collectdctl (collectd-utils) on the unixsock plugin's socket, rrdtool.
#   setup: a veth pair, pkc0 (10.78.0.1/24) in the guest's network namespace and pkc1
#          (10.78.0.2/24) in a network namespace `packcd` of its own; file systems of their
#          own on /home (a 48 MiB tmpfs) and /srv/data (40 MiB), as a host has its /home and a
#          data disk under /srv; /etc/collectd/collectd.conf as a user writes it: Interval 1,
#          syslog, read plugins cpu, memory, load, interface, df, disk, processes (with a
#          per-process entry for collectd), rrdtool (DataDir /var/lib/collectd/rrd, no cache)
#          and unixsock (/run/collectd-unixsock, group adm, 0660, a stale socket deleted at
#          start); the unit started; waits for the values.
#   load:  pings over the veth, collectdctl listval, getval of values of each plugin and
#          flush, rrdtool lastupdate of the rrd files, a restart, for about 10 s.
#   check: listval lists cpu, load, memory, df of /, /home and /srv/data, processes and the
#          interface values of lo and of the veth pkc0; df reports the sizes of /home and
#          /srv/data (used + free + reserved: 48 and 40 MiB); getval of load/load returns
#          three numbers; load.rrd was written within the last 5 s and rrdtool reads numbers
#          from it; pings over the veth show up as a non-zero receive rate of pkc0 in getval.
set -eu
SOCK=/run/collectd-unixsock
RRD=/var/lib/collectd/rrd
ctl() { timeout 5 collectdctl -s "$SOCK" "$@"; }
# host: the host name collectd names its values with (its FQDN lookup, as it pleases).
host() { ctl listval | sed -n 's,^\([^/]*\)/load/load$,\1,p' | head -n 1; }
up() {
    i=0
    until ctl listval 2>/dev/null | grep -q '/load/load$'; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "collectd lists no load value on $SOCK" >&2; return 1; }; sleep 0.2
    done
}
pings() { # COUNT: pings from packcd to pkc0 over the veth
    ip netns exec packcd ping -q -c "$1" -i 0.2 -W 1 10.78.0.1 >/dev/null 2>&1 || true
}
case "${1:-}" in
setup)
    ip link add pkc0 type veth peer name pkc1
    ip netns add packcd
    ip link set pkc1 netns packcd
    ip addr add 10.78.0.1/24 dev pkc0
    ip link set pkc0 up
    ip netns exec packcd ip link set lo up
    ip netns exec packcd ip addr add 10.78.0.2/24 dev pkc1
    ip netns exec packcd ip link set pkc1 up
    # Two file systems of their own, as a host has its /home and a data disk under /srv.
    mount -t tmpfs -o size=48m,mode=0755 packhome /home
    mkdir -p /srv/data
    mount -t tmpfs -o size=40m,mode=0755 packdata /srv/data
    mkdir -p /etc/collectd
    cat >/etc/collectd/collectd.conf <<'CONF'
# Written by the pack's load.sh: a small host monitor, sampled every second.
Interval 1
BaseDir "/var/lib/collectd"
PIDFile "/run/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"

LoadPlugin syslog
<Plugin syslog>
    LogLevel info
</Plugin>

LoadPlugin cpu
LoadPlugin memory
LoadPlugin load
LoadPlugin interface
LoadPlugin df
LoadPlugin disk
LoadPlugin processes
LoadPlugin rrdtool
LoadPlugin unixsock

<Plugin df>
    FSType "proc"
    FSType "sysfs"
    IgnoreSelected true
    ReportInodes true
</Plugin>

<Plugin processes>
    Process "collectd"
</Plugin>

<Plugin rrdtool>
    DataDir "/var/lib/collectd/rrd"
</Plugin>

<Plugin unixsock>
    SocketFile "/run/collectd-unixsock"
    SocketGroup "adm"
    SocketPerms "0660"
    DeleteSocket true
</Plugin>
CONF
    systemctl start collectd.service
    up
    pings 5
    ;;
load)
    up
    end=$(($(date +%s) + 5))
    while [ "$(date +%s)" -lt "$end" ]; do
        pings 5
        h=$(host)
        ctl listval >/dev/null || true
        for v in load/load cpu-0/cpu-idle cpu-0/cpu-user memory/memory-used \
            interface-pkc0/if_octets interface-lo/if_packets df-root/df_complex-free \
            df-home/df_complex-free df-srv-data/df_complex-used processes/ps_state-running \
            processes-collectd/ps_rss; do
            ctl getval "$h/$v" >/dev/null 2>&1 || true
        done
        ctl flush timeout=0 >/dev/null 2>&1 || true
        ctl flush plugin=rrdtool identifier="$h/load/load" >/dev/null 2>&1 || true
        find "$RRD" -name '*.rrd' | head -n 20 | while read -r f; do rrdtool lastupdate "$f" >/dev/null || true; done
    done
    systemctl restart collectd.service
    up
    end=$(($(date +%s) + 4))
    while [ "$(date +%s)" -lt "$end" ]; do
        pings 5
        ctl getval "$(host)/load/load" >/dev/null 2>&1 || true
    done
    ;;
check)
    up
    h=$(host)
    [ -n "$h" ] || { echo "no host name in listval" >&2; exit 1; }
    # Every failure on one line (apply shows the first line of the check's output).
    errs=""
    fail() { errs="$errs${errs:+; }$*"; }
    # The cpu plugin reports from its second sample on: right after a start, wait for it.
    i=0
    until ctl listval 2>/dev/null | grep -q "/cpu-0/cpu-idle\$"; do
        i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.2
    done
    list=$(ctl listval)
    for v in load/load cpu-0/cpu-idle memory/memory-used df-root/df_complex-free \
        df-home/df_complex-free df-srv-data/df_complex-free \
        processes/ps_state-running processes-collectd/ps_rss interface-lo/if_octets \
        interface-pkc0/if_octets interface-pkc0/if_packets; do
        printf '%s\n' "$list" | grep -Eq "^([0-9.]+ )?$h/$v\$" || fail "listval has no $h/$v"
    done
    # df: the sizes of /home (48 MiB) and /srv/data (40 MiB), used + free + reserved.
    for m in home:50331648 srv-data:41943040; do
        size=0
        for t in used free reserved; do
            v=$(ctl getval "$h/df-${m%%:*}/df_complex-$t" 2>/dev/null | sed -n 's/^value=//p')
            size=$(awk -v a="$size" -v b="${v:-0}" 'BEGIN { printf "%.0f", a + b }')
        done
        awk -v s="$size" -v w="${m#*:}" 'BEGIN { d = s - w; exit !(d < w / 100 && d > -w / 100) }' ||
            fail "df-${m%%:*} reports $size bytes in all, the file system has ${m#*:}"
    done
    load=$(ctl getval "$h/load/load" 2>&1 || true)
    for f in shortterm midterm longterm; do
        printf '%s\n' "$load" | grep -Eq "^$f=[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?\$" ||
            fail "getval load/load has no number for $f: $(printf '%s' "$load" | tr '\n' ' ')"
    done
    f="$RRD/$h/load/load.rrd"
    if [ -f "$f" ]; then
        age=$(($(date +%s) - $(stat -c %Y "$f")))
        [ "$age" -le 5 ] || fail "$f last written $age s ago"
        rrdtool lastupdate "$f" | grep -Eq '^[0-9]+: [0-9.e+-]+ [0-9.e+-]+ [0-9.e+-]+$' ||
            fail "rrdtool lastupdate $f: $(rrdtool lastupdate "$f" 2>&1 | tr '\n' ' ')"
    else
        fail "no $f"
    fi
    # Fail at once, so that a last try cut short by apply's time limit says why too.
    [ -z "$errs" ] || { echo "$errs" >&2; exit 1; }
    # Pings over the veth: pkc0's receive rate (packets per second, over the last interval).
    pings 12
    rx=$(ctl getval "$h/interface-pkc0/if_packets" 2>/dev/null | sed -n 's/^rx=//p')
    awk -v r="${rx:-0}" 'BEGIN { exit !(r + 0 > 0) }' || fail "pings over the veth, but pkc0's receive rate is '$rx'"
    [ -z "$errs" ] || { echo "$errs" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
