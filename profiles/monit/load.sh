#!/bin/sh
# Monit 5.33 as Debian packages it: its init script (the unit is systemd's generated one,
# reload by the script's SIGHUP), /etc/monit/monitrc as packaged (log /var/log/monit.log,
# state, id and event queue under /var/lib/monit, conf.d included), run as root inside the
# pack's guest systemd. Clients: the monit CLI (through the HTTP interface) and curl.
#   setup: Debian's `set daemon 120` made 2 s (so that a check sees a change
#          within seconds); /etc/monit/conf.d/pack: the HTTP interface on 127.0.0.1:2812 (the
#          example in Debian's monitrc) allowing only user `pack` with a password; checks: a
#          file /var/lib/pack-monit/watched.txt (checksum, size, timestamp), a directory, a
#          program /usr/local/sbin/pack-monit-probe (its output and exit status) and that
#          program's file with Debian's rootbin template, a process `packsleeper` (a sleep
#          whose pidfile is /run/pack-monit-sleeper.pid) which monit starts itself with its
#          start program, a host 127.0.0.1 (TCP on 2812, ping); the unit started.
#   load:  5 rounds of the watched file changed, the probe's output changed (one round
#          failing), `monit summary`, `monit status`, the web pages and /_status?format=xml
#          with curl, a wrong password (401); `monit unmonitor`/`monitor` and `monit restart`
#          of the process, the process killed (monit starts it again), `monit reload` and a
#          reload of the unit, for about 6 s.
#   check: once monit reports the process running (through `monit status`, over the HTTP
#          interface), it is killed and a fresh token written to the watched file and to the
#          probe's output: within 30 s `monit status` shows the file's new checksum, the
#          probe's new output, and the process running under a new pid (monit started it
#          again); the XML status names every check; a wrong password gets 401.
set -eu
auth=pack:Pack-monit-1
http=http://127.0.0.1:2812
dir=/var/lib/pack-monit
m() { monit -c /etc/monit/monitrc "$@"; }
up() {
    i=0
    until m summary >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "monit does not answer over HTTP" >&2; return 1; }; sleep 0.2
    done
}
status() { m status "$1" 2>/dev/null || true; }
sleeper() { cat /run/pack-monit-sleeper.pid 2>/dev/null || echo none; }
running() { # packsleeper is running under the pid of its pidfile, as monit reports it
    pid=$(sleeper)
    [ "$pid" != none ] && kill -0 "$pid" 2>/dev/null || return 1
    out=$(status packsleeper)
    echo "$out" | grep -Eq "^ *pid +$pid\$" && echo "$out" | grep -Eq '^ *status +OK$'
}
fail() {
    status packfile >&2; status packprobe >&2; status packsleeper >&2
    tail -n 20 /var/log/monit.log >&2
    exit 1
}
case "${1:-}" in
setup)
    mkdir -p "$dir"
    echo setup >"$dir/watched.txt"
    echo setup >"$dir/probe.out"
    echo 0 >"$dir/probe.status"
    cat >/usr/local/sbin/pack-monit-probe <<'PROBE'
#!/bin/sh
# monit's program check: prints the probe's output and exits with the probe's status.
cat /var/lib/pack-monit/probe.out
exit "$(cat /var/lib/pack-monit/probe.status)"
PROBE
    cat >/usr/local/sbin/pack-monit-sleeper <<'SLEEPER'
#!/bin/sh
# monit's start and stop programs for packsleeper: a sleep with a pidfile, in the background.
case "$1" in
start) setsid sh -c 'echo $$ >/run/pack-monit-sleeper.pid; exec sleep 100000' </dev/null >/dev/null 2>&1 & ;;
stop) kill "$(cat /run/pack-monit-sleeper.pid)" ;;
esac
SLEEPER
    chmod 755 /usr/local/sbin/pack-monit-probe /usr/local/sbin/pack-monit-sleeper
    sed -i 's/^set daemon .*/set daemon 2/' /etc/monit/monitrc
    cat >/etc/monit/conf.d/pack <<CONF
# The pack's monit: the HTTP interface on loopback with a password, local checks.
set httpd port 2812
    use address 127.0.0.1
    allow $auth

check file packfile with path $dir/watched.txt
    if changed checksum then alert
    if size > 1 MB then alert

check directory packdir with path $dir
    if failed permission 755 then alert

check program packprobe with path /usr/local/sbin/pack-monit-probe with timeout 10 seconds
    if status != 0 then alert

check file packprobe_bin with path /usr/local/sbin/pack-monit-probe
    include /etc/monit/templates/rootbin

check process packsleeper with pidfile /run/pack-monit-sleeper.pid
    start program = "/usr/local/sbin/pack-monit-sleeper start"
    stop program = "/usr/local/sbin/pack-monit-sleeper stop"

check host packloopback with address 127.0.0.1
    if failed port 2812 type tcp with timeout 5 seconds then alert
    if failed ping count 2 with timeout 5 seconds then alert
CONF
    chmod 600 /etc/monit/conf.d/pack
    systemctl start monit.service
    up
    ;;
load)
    up
    for i in 1 2 3 4 5; do
        echo "load $i $(date +%s%N)" >"$dir/watched.txt"
        echo "probe $i" >"$dir/probe.out"
        if [ $i = 3 ]; then echo 1 >"$dir/probe.status"; else echo 0 >"$dir/probe.status"; fi
        m summary >/dev/null 2>&1 || true
        m status >/dev/null 2>&1 || true
        status packfile >/dev/null
        for p in / /packfile /packsleeper /packloopback "/_status?format=xml" "/_status"; do
            curl -s -o /dev/null --max-time 5 -u "$auth" "$http$p" || true
        done
        curl -s -o /dev/null --max-time 5 -u pack:wrong "$http/" || true
        case $i in
        1) m restart packsleeper >/dev/null 2>&1 || true ;;
        2) m unmonitor packprobe >/dev/null 2>&1 || true; m monitor packprobe >/dev/null 2>&1 || true ;;
        4) ! running || kill "$(sleeper)" 2>/dev/null || true ;;
        5) m reload >/dev/null 2>&1 || true; sleep 0.5; systemctl reload monit.service || true ;;
        esac
        sleep 0.8
    done
    echo 0 >"$dir/probe.status"
    up
    ;;
check)
    up
    # packsleeper running as monit reports it (monit started it: at its first start, or after
    # a crash or a kill), then killed: monit must start it again.
    i=0
    until running; do
        i=$((i + 1)); [ $i -lt 60 ] || { echo "monit does not report packsleeper running" >&2; fail; }; sleep 0.5
    done
    old=$(sleeper)
    kill "$old"
    token=check-$$-$(date +%s%N)
    echo "$token" >"$dir/watched.txt"
    echo "$token" >"$dir/probe.out"
    echo 0 >"$dir/probe.status"
    sum=$(md5sum <"$dir/watched.txt" | cut -d' ' -f1)
    i=0
    until status packfile | grep -q "$sum" \
        && status packprobe | grep -Eq "^ *last output +$token\$" \
        && running && [ "$(sleeper)" != "$old" ]; do
        i=$((i + 1)); [ $i -lt 60 ] || { echo "monit's status does not show what the check changed" >&2; fail; }; sleep 0.5
    done
    xml=$(curl -fsS --max-time 5 -u "$auth" "$http/_status?format=xml")
    for name in packfile packdir packprobe packprobe_bin packsleeper packloopback; do
        echo "$xml" | grep -q "<name>$name</name>" || { echo "no $name in the XML status" >&2; exit 1; }
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -u pack:wrong "$http/")" = 401 ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
