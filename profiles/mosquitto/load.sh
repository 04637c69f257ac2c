#!/bin/sh
# Mosquitto 2.0 as Debian packages it (MQTT on 127.0.0.1:1883 only, anonymous clients refused
# by default), run inside the pack's guest systemd. Clients are mosquitto-clients.
#   setup: a conf.d file: a listener on 1883 for anonymous clients, persistence in
#          /var/lib/mosquitto saved every 2 s; the unit started; a retained message on
#          pack/kept.
#   load:  a subscriber on pack/#, 500 messages published at QoS 0, 1 and 2, retained ones,
#          a persistent session (clean session off) with messages queued while it is
#          offline, a reload, for about 4 s.
#   check: a message with a new token is delivered to a subscriber (QoS 1); the retained
#          message on pack/kept (from setup, kept by persistence across restarts and crashes) is
#          delivered to a new subscriber.
set -eu
h=127.0.0.1
up() {
    i=0
    until mosquitto_pub -h $h -t pack/up -m up -q 1 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "mosquitto does not answer on :1883" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    cat >/etc/mosquitto/conf.d/pack.conf <<'CONF'
listener 1883 127.0.0.1
allow_anonymous true
autosave_interval 2
CONF
    systemctl start mosquitto.service
    up
    mosquitto_pub -h $h -t pack/kept -m "kept since setup" -q 1 -r
    # Saved on a clean stop: it survives the crash the pack exercises.
    systemctl restart mosquitto.service
    up
    ;;
load)
    up
    out=$(mktemp)
    mosquitto_sub -h $h -t 'pack/#' -q 2 -W 4 >"$out" 2>/dev/null &
    sub=$!
    # A persistent session that is offline while messages for it arrive.
    mosquitto_sub -h $h -i pack-offline -c -t pack/queued -q 1 -C 1 -W 2 >/dev/null 2>&1 || true
    sleep 0.3
    for q in 0 1 2; do
        for i in $(seq 100); do echo "message $q $i"; done | mosquitto_pub -h $h -t pack/q$q -q $q -l || true
    done
    for i in $(seq 20); do mosquitto_pub -h $h -t pack/retained/$i -m "r $i" -r -q 1 || true; done
    for i in $(seq 20); do mosquitto_pub -h $h -t pack/queued -m "queued $i" -q 1 || true; done
    mosquitto_sub -h $h -i pack-offline -c -t pack/queued -q 1 -C 20 -W 2 >/dev/null 2>&1 || true
    systemctl reload mosquitto.service || true
    for i in $(seq 100); do echo "after reload $i"; done | mosquitto_pub -h $h -t pack/q1 -q 1 -l || true
    wait $sub || true
    rm -f "$out"
    ;;
check)
    up
    token="token $(date +%s%N)"
    out=$(mktemp)
    mosquitto_sub -h $h -t pack/check -q 1 -C 1 -W 10 >"$out" 2>/dev/null &
    sub=$!
    # Publish until the subscriber has it (it may not have subscribed yet).
    i=0
    while kill -0 $sub 2>/dev/null && [ $i -lt 40 ]; do
        mosquitto_pub -h $h -t pack/check -m "$token" -q 1; sleep 0.25; i=$((i + 1))
    done
    wait $sub || true
    got=$(cat "$out"); rm -f "$out"
    [ "$got" = "$token" ] || { echo "pack/check delivered '$got', not '$token'" >&2; exit 1; }
    kept=$(mosquitto_sub -h $h -t pack/kept -C 1 -W 5) || { echo "no retained message on pack/kept" >&2; exit 1; }
    [ "$kept" = "kept since setup" ] || { echo "pack/kept held '$kept'" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
