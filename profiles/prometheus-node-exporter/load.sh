#!/bin/sh
# prometheus-node-exporter as Debian packages it (:9100), run inside the pack's guest systemd.
#   setup: starts the unit.
#   load:  100 scrapes of /metrics (every default collector runs on each), the landing page.
#   check: /metrics has node_cpu_seconds_total, node_filesystem_avail_bytes and
#          node_exporter_build_info. (Any other path is its landing page: no 404 to check.)
set -eu
url=http://127.0.0.1:9100
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/metrics"; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup) systemctl start prometheus-node-exporter.service; up ;;
load)
    up
    for i in $(seq 100); do curl -s -o /dev/null --max-time 5 "$url/metrics" || true; done
    curl -s -o /dev/null --max-time 2 "$url/" || true
    ;;
check)
    up
    m=$(curl -fsS --max-time 10 "$url/metrics")
    for metric in node_cpu_seconds_total node_filesystem_avail_bytes node_exporter_build_info; do
        echo "$m" | grep -q "^$metric" || { echo "no $metric" >&2; exit 1; }
    done
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
