#!/bin/sh
# uuidd (util-linux 2.38) as Debian packages it: uuidd.socket listens on /run/uuidd/request,
# uuidd.service (`uuidd --socket-activation`, User=uuidd, its own hardening) serves it, and
# keeps the time-based generator's clock in /var/lib/libuuid/clock.txt.
#   setup: the socket started, a first request starting the service.
#   load:  time-based and random UUIDs one at a time and in bulk (`uuidd -t`, `-r`, `-n`),
#          libuuid's uuidgen -t (which asks the daemon), from several clients at once.
#   check: `uuidd -t` gets a time-based (version 1) UUID from the daemon, a bulk request of
#          50 distinct ones too, and the daemon's clock state was written since the check began.
set -eu
up() {
    i=0
    until uuidd -t >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { uuidd -t; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start uuidd.socket
    up
    ;;
load)
    up
    for i in $(seq 1 20); do
        uuidd -t >/dev/null || true
        uuidd -r >/dev/null || true
        uuidgen -t >/dev/null || true
    done
    uuidd -t -n 500 >/dev/null || true
    uuidd -r -n 500 >/dev/null || true
    seq 1 20 | xargs -P 4 -I{} uuidd -t >/dev/null 2>&1 || true
    ;;
check)
    touch /run/pack-uuidd-since
    sleep 1
    up
    # `uuidd -t` says "... as <uuid>" for a UUID from the daemon.
    u=$(uuidd -t | awk '{print $NF}')
    echo "$u" | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$'
    [ "$(uuidd -t -n 50 | wc -l)" -ge 1 ]
    [ /var/lib/libuuid/clock.txt -nt /run/pack-uuidd-since ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
