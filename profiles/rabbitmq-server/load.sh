#!/bin/sh
# RabbitMQ 3.10 as Debian packages it (Erlang/OTP 25 with its JIT, AMQP 0-9-1 on :5672, the
# Erlang distribution on :25672 through epmd, Mnesia and the message store in
# /var/lib/rabbitmq), run inside the pack's guest systemd. Clients are amqp-tools (librabbitmq)
# as the default guest user, which may log in from localhost.
#   setup: the unit started; a durable queue pack-kept holding one persistent message.
#   load:  a durable queue, 300 persistent messages published and all consumed, 50 transient
#          ones through a second queue, `rabbitmqctl list_queues` and `status` (CLI over the
#          Erlang distribution), for about 6 s.
#   check: rabbitmqctl lists pack-kept; a persistent message published to a new durable queue
#          is delivered back (the queue then deleted); pack-kept (from setup, across every restart and crash)
#          still holds its message.
set -eu
amqp="amqp://guest:guest@127.0.0.1:5672"
up() {
    i=0
    until amqp-declare-queue -u "$amqp" -d -q pack >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "rabbitmq does not answer on :5672" >&2; return 1; }; sleep 0.3
    done
}
case "${1:-}" in
setup)
    systemctl start rabbitmq-server.service
    up
    amqp-declare-queue -u "$amqp" -d -q pack-kept >/dev/null
    amqp-publish -u "$amqp" -p -r pack-kept -b "kept since setup"
    ;;
load)
    up
    for i in $(seq 300); do
        amqp-publish -u "$amqp" -p -r pack -b "message $i" || true
    done
    amqp-consume -u "$amqp" -q pack -c 300 cat >/dev/null 2>&1 || true
    amqp-declare-queue -u "$amqp" -q pack-transient >/dev/null || true
    for i in $(seq 50); do
        amqp-publish -u "$amqp" -r pack-transient -b "transient $i" || true
    done
    amqp-consume -u "$amqp" -q pack-transient -c 50 cat >/dev/null 2>&1 || true
    rabbitmqctl -q list_queues name messages >/dev/null || true
    rabbitmqctl -q status >/dev/null || true
    ;;
check)
    up
    rabbitmqctl -q list_queues name durable | grep -q "pack-kept"
    q=check-$(date +%s%N)
    amqp-declare-queue -u "$amqp" -d -q "$q" >/dev/null
    amqp-publish -u "$amqp" -p -r "$q" -b "token for $q"
    got=$(amqp-get -u "$amqp" -q "$q") || { echo "nothing to get from $q" >&2; exit 1; }
    amqp-delete-queue -u "$amqp" -q "$q" >/dev/null
    [ "$got" = "token for $q" ] || { echo "$q delivered '$got'" >&2; exit 1; }
    # Peek at the kept message: get it, then put it back.
    kept=$(amqp-get -u "$amqp" -q pack-kept) || { echo "pack-kept is empty" >&2; exit 1; }
    amqp-publish -u "$amqp" -p -r pack-kept -b "$kept"
    [ "$kept" = "kept since setup" ] || { echo "pack-kept held '$kept'" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
