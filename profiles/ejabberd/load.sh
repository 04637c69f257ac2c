#!/bin/sh
# ejabberd 23.01 as Debian packages it (Erlang/OTP 25, Type=notify with a watchdog, epmd from
# its own unit, started through `ejabberdctl foreground`, the unit's own hardening:
# PrivateDevices=, PrivateTmp=, ProtectHome=, ProtectSystem=full), with Debian's
# ejabberd.yml unchanged (XMPP on 5222/5223, s2s on 5269, HTTPS 5280/5443, STUN on 3478/udp,
# MQTT on 1883; its self-signed certificate from the postinst).
#   setup: starts it, registers two users (alice, bob) with ejabberdctl.
#   load:  XMPP clients (direct TLS on 5223, SASL PLAIN, resource binding) sending chat
#          messages to each other, one to an offline user (stored in Mnesia), MQTT messages
#          published and subscribed as XMPP users, ejabberdctl status, connected_users,
#          stats and a user registered and removed, the HTTPS API asked from loopback, a
#          reload (ejabberdctl reload_config).
#   check: a user registered just then logs in over XMPP and receives a chat message with a
#          fresh token from alice; an MQTT message with a fresh token reaches a subscriber;
#          the offline message stored at setup for carol is still there.
set -eu
PY=/usr/bin/python3
xmpp() { # xmpp USER PASS send TO BODY | xmpp USER PASS recv BODY
    $PY - "$@" <<'PY'
import base64, re, socket, ssl, sys, time
user, password, mode = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 5223), timeout=20))
buf = ""
def until(pattern):
    global buf
    while not re.search(pattern, buf, re.S):
        data = s.recv(65536)
        if not data:
            sys.exit("xmpp: connection closed waiting for %s: %r" % (pattern, buf[-300:]))
        buf += data.decode()
def stream():
    s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
              b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
stream()
until("</stream:features>")
cred = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % cred).encode())
until("<success|<failure")
if "<failure" in buf:
    sys.exit("xmpp: authentication failed for " + user)
buf = ""
stream()
until("</stream:features>")
s.sendall(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
          b"<resource>pack</resource></bind></iq>")
until("id=.b1.")
s.sendall(b"<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
          b"<presence/>")
if mode == "send":
    s.sendall(("<message type='chat' to='%s@localhost'><body>%s</body></message>"
               % (sys.argv[4], sys.argv[5])).encode())
    s.sendall(b"<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    until("id=.p1.")
else:
    until(re.escape(sys.argv[4]))
s.sendall(b"</stream:stream>")
s.close()
PY
}
up() {
    i=0
    until ejabberdctl status >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 90 ] || return 1; sleep 1
    done
    # ejabberd says started before every listener accepts.
    until $PY -c 'import socket; socket.create_connection(("127.0.0.1", 5223), timeout=2).close()' 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 90 ] || return 1; sleep 1
    done
}
deliver() { # deliver FROM FROMPASS TO TOPASS BODY
    xmpp "$3" "$4" recv "$5" &
    r=$!
    sleep 1.5
    xmpp "$1" "$2" send "$3" "$5"
    wait $r
}
mqtt() { # mqtt TOKEN
    mosquitto_sub -h 127.0.0.1 -u alice@localhost -P alicepw -t "pack/$1" -C 1 -W 15 >/tmp/pack-mqtt.$$ &
    r=$!
    sleep 1
    mosquitto_pub -h 127.0.0.1 -u bob@localhost -P bobpw -t "pack/$1" -q 1 -m "$1"
    wait $r
    grep -qx "$1" /tmp/pack-mqtt.$$
    rm -f /tmp/pack-mqtt.$$
}
case "${1:-}" in
setup)
    systemctl start ejabberd.service
    up
    ejabberdctl register alice localhost alicepw
    ejabberdctl register bob localhost bobpw
    ejabberdctl register carol localhost carolpw
    ejabberdctl send_message chat alice@localhost carol@localhost hi pack-offline-setup
    ;;
load)
    up
    for n in 1 2 3 4 5; do
        deliver alice alicepw bob bobpw "load-$n-$$" || true
        mqtt "load$n$$" || true
    done
    xmpp bob bobpw send dave "for-dave-$$" || true
    ejabberdctl register "u$$" localhost pw >/dev/null || true
    ejabberdctl connected_users >/dev/null || true
    ejabberdctl stats registeredusers >/dev/null || true
    ejabberdctl get_offline_count carol localhost >/dev/null || true
    ejabberdctl unregister "u$$" localhost >/dev/null || true
    curl -sk https://127.0.0.1:5443/api/status -H 'Content-Type: application/json' -d '{}' >/dev/null || true
    curl -sk https://127.0.0.1:5280/admin/ >/dev/null || true
    systemctl reload ejabberd.service || true
    up || true
    deliver bob bobpw alice alicepw "after-reload-$$" || true
    ;;
check)
    up
    tok="c$(date +%s%N)"
    ejabberdctl register "$tok" localhost "p$tok"
    deliver alice alicepw "$tok" "p$tok" "token-$tok"
    ejabberdctl unregister "$tok" localhost
    mqtt "$tok"
    [ "$(ejabberdctl get_offline_count carol localhost)" -ge 1 ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
