#!/bin/sh
# Kamailio 5.6 as Debian packages it (kamailio.service: Type=forking as kamailio, Debian's
# kamailio.cfg unchanged: registrar and usrloc in memory, no authentication), run inside the
# pack's guest systemd. SIP clients in Python speak to it on 127.0.0.1:5060.
#   setup: a second address, 10.77.0.1 on a veth pair (a host has a NIC; Kamailio binds
#          every address it finds), the unit started and a user registered (usrloc keeps registrations in memory: a
#          restart forgets them, as it does without any drop-in, so the check registers its own).
#   load:  rounds of OPTIONS (200 Keepalive), REGISTERs over UDP and TCP with and without
#          expiry, MESSAGEs relayed to a registered contact and answered, a MESSAGE to an
#          unknown user (404), one to another domain (403 Not relaying), kamcmd over the ctl
#          socket (core.version, ul.dump, stats), a de-registration.
#   check: OPTIONS answers 200; a user with a fresh name registers over UDP, kamcmd finds its
#          contact, and a MESSAGE with a fresh token from another client reaches it through
#          Kamailio (relayed, answered 200 end to end); an unknown user gets 404; OPTIONS
#          to 10.77.0.1 from that address answers 200 (a client beyond loopback).
set -eu
sip() { # sip MODE [ARGS]: see the modes below
    /usr/bin/python3 - "$@" <<'PY'
import random, socket, sys

def rid():
    return "%x" % random.getrandbits(48)

def request(method, ruri, frm, to, port, proto="UDP", body="", extra=""):
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:%s@127.0.0.1>;tag=%s\r\n"
            "To: <sip:%s>\r\n"
            "Call-ID: %s@127.0.0.1\r\n"
            "CSeq: 1 %s\r\n"
            "Contact: <sip:%s@127.0.0.1:%d;transport=%s>\r\n"
            "%s"
            "Content-Length: %d\r\n\r\n%s" % (
                method, ruri, proto, port, rid(), frm, rid(), to, rid(), method, frm, port,
                proto.lower(), extra, len(body), body)).encode()

def status(data):
    return int(data.split(b" ", 2)[1])

def udp(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(10)
    return s

def ask_udp(s, msg):
    s.sendto(msg, ("127.0.0.1", 5060))
    while True:
        data, _ = s.recvfrom(65535)
        if data.startswith(b"SIP/2.0 1"):
            continue  # provisional
        return status(data)

def ask_tcp(msg):
    s = socket.create_connection(("127.0.0.1", 5060), timeout=10)
    s.sendall(msg)
    data = s.recv(65535)
    s.close()
    return status(data)

def register(s, user, expires=300):
    port = s.getsockname()[1]
    msg = request("REGISTER", "sip:127.0.0.1", user, "%s@127.0.0.1" % user, port,
                  extra="Expires: %d\r\n" % expires)
    return ask_udp(s, msg)

def options():
    s = udp()
    code = ask_udp(s, request("OPTIONS", "sip:127.0.0.1", "ping", "127.0.0.1",
                              s.getsockname()[1]))
    assert code == 200, ("OPTIONS", code)

def deliver(user, token):
    # The contact: answers the MESSAGE Kamailio relays to it.
    contact = udp()
    assert register(contact, user) == 200, "REGISTER " + user
    sender = udp()
    msg = request("MESSAGE", "sip:%s@127.0.0.1" % user, "alice", "%s@127.0.0.1" % user,
                  sender.getsockname()[1], body=token,
                  extra="Content-Type: text/plain\r\n")
    sender.sendto(msg, ("127.0.0.1", 5060))
    got, addr = contact.recvfrom(65535)
    assert got.startswith(b"MESSAGE "), got[:80]
    assert token.encode() in got, got
    head = got.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].lower() in
            (b"via", b"from", b"to", b"call-id", b"cseq")]
    contact.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n", addr)
    while True:
        data, _ = sender.recvfrom(65535)
        if not data.startswith(b"SIP/2.0 1"):
            break
    assert status(data) == 200, data[:80]

mode = sys.argv[1]
if mode == "options":
    options()
elif mode == "options-at":
    # From and to the guest's second address: a client beyond loopback, as on a real host.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], 0))
    s.settimeout(10)
    s.sendto(request("OPTIONS", "sip:%s" % sys.argv[2], "ping", sys.argv[2],
                     s.getsockname()[1]), (sys.argv[2], 5060))
    data, _ = s.recvfrom(65535)
    assert status(data) == 200, ("OPTIONS at " + sys.argv[2], data[:80])
elif mode == "register":
    s = udp()
    assert register(s, sys.argv[2], int(sys.argv[3])) == 200
elif mode == "deliver":
    deliver(sys.argv[2], sys.argv[3])
elif mode == "unknown":
    s = udp()
    code = ask_udp(s, request("MESSAGE", "sip:nobody-%s@127.0.0.1" % rid(), "alice",
                              "nobody@127.0.0.1", s.getsockname()[1], body="x"))
    assert code == 404, ("unknown user", code)
elif mode == "load":
    for r in range(int(sys.argv[2])):
        options()
        s = udp()
        register(s, "bob%d" % r)
        ask_tcp(request("REGISTER", "sip:127.0.0.1", "tcp%d" % r, "tcp%d@127.0.0.1" % r,
                        5999, proto="TCP", extra="Expires: 60\r\n"))
        try:
            deliver("dan%d" % r, "load-%d" % r)
        except Exception as e:
            print("deliver:", e)
        ask_udp(s, request("MESSAGE", "sip:x@example.net", "alice", "x@example.net",
                           s.getsockname()[1], body="x"))
        register(s, "bob%d" % r, 0)
else:
    sys.exit("usage")
PY
}
up() {
    i=0
    until sip options 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 60 ] || { sip options; return 1; }; sleep 0.5
    done
}
case "${1:-}" in
setup)
    # A host has an address beyond loopback, and Kamailio (no listen= in Debian's cfg) binds
    # every address it finds: the guest gets one on a veth pair, as a NIC would give it.
    ip link add pk0 type veth peer name pk1
    ip addr add 10.77.0.1/24 dev pk0
    ip link set pk1 up
    ip link set pk0 up
    systemctl start kamailio.service
    up
    sip register carol 3600
    ;;
load)
    up
    sip load 5 || true
    sip unknown || true
    kamcmd core.version >/dev/null || true
    kamcmd ul.dump >/dev/null || true
    kamcmd stats.get_statistics all >/dev/null || true
    kamcmd core.uptime >/dev/null || true
    ;;
check)
    up
    tok="t$(date +%s%N)"
    sip register "u$tok" 300
    kamcmd ul.lookup location "u$tok@127.0.0.1" | grep -q "u$tok"
    sip deliver "v$tok" "token-$tok"
    sip unknown
    sip options-at 10.77.0.1
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
