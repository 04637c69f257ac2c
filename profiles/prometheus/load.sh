#!/bin/sh
# Prometheus 2.42 as Debian packages it (:9090, TSDB in /var/lib/prometheus/metrics2, its
# default config scraping itself and the node exporter on localhost every 15 s), run inside
# the pack's guest systemd.
#   setup: scrape interval (and the timeout) 1s in /etc/prometheus/prometheus.yml (so a few seconds write
#          samples), node exporter started, the unit restarted.
#   load:  queries over the HTTP API (instant and range), targets, a TSDB snapshot
#          (admin API off: its 404-like refusal), the web UI, a 404, for about 4 s.
#   check: ready, `up{job="prometheus"}` is 1, the TSDB has samples in it.
set -eu
url=http://127.0.0.1:9090
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/-/ready"; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    sed -i 's/^\(\s*scrape_interval:\).*/\1 1s/; s/^\(\s*evaluation_interval:\).*/\1 1s/; s/^\(\s*scrape_timeout:\).*/\1 1s/' /etc/prometheus/prometheus.yml
    systemctl start prometheus-node-exporter.service
    systemctl restart prometheus.service
    up
    ;;
load)
    up
    for i in $(seq 20); do
        curl -s -o /dev/null --max-time 2 "$url/api/v1/query?query=up" || true
        curl -s -o /dev/null --max-time 2 "$url/api/v1/query_range?query=rate(node_cpu_seconds_total%5B5s%5D)&start=$(($(date +%s) - 60))&end=$(date +%s)&step=1" || true
        curl -s -o /dev/null --max-time 2 "$url/api/v1/targets" || true
        sleep 0.2
    done
    for p in /graph /metrics /no-such-page /api/v1/status/tsdb; do
        curl -s -o /dev/null --max-time 2 "$url$p" || true
    done
    ;;
check)
    up
    i=0
    until curl -fsS --max-time 5 "$url/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D" | grep -q '"value":\[[0-9.]*,"1"\]'; do
        i=$((i + 1)); [ $i -lt 30 ] || { echo "up{job=prometheus} is not 1" >&2; exit 1; }; sleep 0.5
    done
    curl -fsS --max-time 5 "$url/api/v1/status/tsdb" | grep -q '"numSeries":[1-9]'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
