#!/bin/sh
# prometheus-blackbox-exporter 0.23.0 as Debian packages it (prometheus-blackbox-exporter.service:
# User=prometheus, its arguments from /etc/default/prometheus-blackbox-exporter, listening on
# :9115, config /etc/prometheus/blackbox.yml, ExecReload sends SIGHUP = a config reload), run
# inside the pack's guest systemd. Probes are asked of it at /probe?module=M&target=T.
#   setup: ICMP enabled as Debian offers it: the debconf question
#          prometheus-blackbox-exporter/want_cap_net_raw set to true and the package reconfigured
#          (its postinst runs `setcap cap_net_raw=ep` on the binary; Debian 12 leaves
#          net.ipv4.ping_group_range at "1 0", so the prober's unprivileged ping socket is refused
#          and it falls back to a raw socket); modules of the pack appended to Debian's
#          blackbox.yml (an HTTP probe matching a body token, one expecting a 404, ICMP over IPv4,
#          a DNS probe of www.pack.test A); targets on loopback, each its own transient unit
#          (Restart=always) so the recording does not count them as the exporter's: python3's
#          http.server on port 8088 ([::]: 127.0.0.1, ::1 and localhost) serving a page with a
#          token from /var/lib/pack-bbx/www, and a small UDP DNS responder on 127.0.0.1:5053
#          (www.pack.test A 127.0.0.1, NXDOMAIN otherwise); the unit started.
#   load:  for about 8 s, rounds of probes: http_2xx (127.0.0.1, [::1], localhost), the body
#          token, a 404, a closed port, http_post_2xx (refused by http.server: 501), tcp_connect
#          (the listener and a closed port), icmp (127.0.0.1, ::1, localhost), icmp_ttl5, the
#          IPv4 ICMP module, the DNS probe (a name it has, one it does not), a probe with
#          debug=true, an unknown module; /metrics, /config, the landing page; then a reload
#          (SIGHUP) and one through POST /-/reload.
#   check: probe_success 1 for http_2xx and the body-token module against the listener, for
#          icmp to 127.0.0.1 and to ::1, tcp_connect and the DNS probe; probe_success 0 for a
#          closed port (the prober tells failures apart); /metrics has
#          blackbox_exporter_config_last_reload_successful 1.
set -eu
port=9115
url=http://127.0.0.1:$port
www=/var/lib/pack-bbx/www
web=8088
dnsport=5053
conf=/etc/prometheus/blackbox.yml
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/metrics" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "blackbox exporter does not answer on $url" >&2; return 1; }; sleep 0.2
    done
}
targets() { # the listeners, each a transient unit of its own
    mkdir -p "$www"
    [ -s "$www/index.html" ] || echo "<html><body>pack-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')</body></html>" >"$www/index.html"
    systemctl is-active -q pack-bbx-web.service ||
        systemd-run --quiet --unit=pack-bbx-web --property=Restart=always \
            /usr/bin/python3 -m http.server --bind :: --directory "$www" "$web"
    systemctl is-active -q pack-bbx-dns.service ||
        systemd-run --quiet --unit=pack-bbx-dns --property=Restart=always \
            /usr/bin/python3 -c '
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", '"$dnsport"'))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace").lower()); i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    ok = ".".join(labels) == "www.pack.test"
    ans = b""
    if ok and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
    flags = 0x8400 | (q[2] & 1) << 8 | (0 if ok else 3)
    s.sendto(q[:2] + struct.pack(">HHHHH", flags, 1, 1 if ans else 0, 0, 0) + question + ans, peer)
'
    i=0
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$web/" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "the web target does not answer on 127.0.0.1:$web" >&2; return 1; }; sleep 0.2
    done
}
probe() { # MODULE TARGET [extra query]: the probe's metrics on stdout
    curl -sS --max-time 15 "$url/probe?module=$1&target=$2${3:-}"
}
success() { # MODULE TARGET: the probe's probe_success value
    probe "$1" "$2" | sed -n 's/^probe_success \([0-9]*\)$/\1/p'
}
expect() { # VALUE MODULE TARGET
    got=$(success "$2" "$3" || true)
    [ "$got" = "$1" ] || {
        said=$(probe "$2" "$3" '&debug=true' 2>&1 | grep -E 'level=(error|warn)|err=' | tr '\n' ' ' || true)
        echo "module $2 target $3: probe_success '$got', expected $1; the probe's log: $said" >&2
        exit 1
    }
}
case "${1:-}" in
setup)
    echo 'prometheus-blackbox-exporter prometheus-blackbox-exporter/want_cap_net_raw boolean true' |
        debconf-set-selections
    DEBIAN_FRONTEND=noninteractive dpkg-reconfigure -fnoninteractive prometheus-blackbox-exporter
    getcap /usr/bin/prometheus-blackbox-exporter | grep -q cap_net_raw ||
        { echo "the postinst did not set cap_net_raw on the binary" >&2; exit 1; }
    if ! grep -q '^  pack_http:' "$conf"; then
        cat >>"$conf" <<YML

  # the pack's modules (profiles/prometheus-blackbox-exporter/load.sh)
  pack_http:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ["pack-token-[0-9a-f]+"]
  pack_http_404:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [404]
  pack_icmp4:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
  pack_dns:
    prober: dns
    timeout: 5s
    dns:
      query_name: www.pack.test
      query_type: A
      preferred_ip_protocol: ip4
      valid_rcodes: [NOERROR]
      validate_answer_rrs:
        fail_if_not_matches_regexp: ["www\\\\.pack\\\\.test\\\\..*IN.*A.*127\\\\.0\\\\.0\\\\.1"]
  pack_dns_nx:
    prober: dns
    timeout: 5s
    dns:
      query_name: nothere.pack.test
      preferred_ip_protocol: ip4
      valid_rcodes: [NXDOMAIN]
YML
    fi
    targets
    systemctl start prometheus-blackbox-exporter.service
    up
    ;;
load)
    targets
    up
    w=$web
    end=$(($(date +%s) + 8))
    while [ "$(date +%s)" -lt "$end" ]; do
        for p in "http_2xx http://127.0.0.1:$w/" "http_2xx http://[::1]:$w/" "http_2xx http://localhost:$w/" \
            "pack_http http://127.0.0.1:$w/" "pack_http_404 http://127.0.0.1:$w/missing" \
            "http_2xx http://127.0.0.1:1/" "http_post_2xx http://127.0.0.1:$w/" \
            "tcp_connect 127.0.0.1:$w" "tcp_connect [::1]:$w" "tcp_connect 127.0.0.1:1" \
            "icmp 127.0.0.1" "icmp ::1" "icmp localhost" "icmp_ttl5 127.0.0.1" "pack_icmp4 localhost" \
            "pack_dns 127.0.0.1:$dnsport" "pack_dns_nx 127.0.0.1:$dnsport"; do
            set -- $p
            probe "$1" "$2" >/dev/null &
        done
        wait
        probe icmp 127.0.0.1 '&debug=true' >/dev/null || true
        probe no_such_module 127.0.0.1 >/dev/null || true
        curl -s -o /dev/null --max-time 5 "$url/metrics" || true
        curl -s -o /dev/null --max-time 5 "$url/config" || true
        curl -s -o /dev/null --max-time 5 "$url/" || true
    done
    systemctl reload prometheus-blackbox-exporter.service
    sleep 1
    curl -s -o /dev/null --max-time 5 -X POST "$url/-/reload" || true
    up
    ;;
check)
    targets
    up
    expect 1 http_2xx "http://127.0.0.1:$web/"
    expect 1 pack_http "http://localhost:$web/"
    expect 1 icmp 127.0.0.1
    expect 1 icmp ::1
    expect 1 tcp_connect "127.0.0.1:$web"
    expect 1 pack_dns "127.0.0.1:$dnsport"
    expect 0 tcp_connect 127.0.0.1:1
    curl -fsS --max-time 5 "$url/metrics" | grep -q '^blackbox_exporter_config_last_reload_successful 1$' ||
        { echo "the config did not load" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
