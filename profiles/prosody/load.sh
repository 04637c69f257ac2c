#!/bin/sh
# Prosody 0.12 (Lua 5.4) as Debian packages it (c2s on port 5222 on every address, the
# VirtualHost localhost, internal file storage in /var/lib/prosody), run inside the pack's guest
# systemd. The client is a small XMPP client in Python below (STARTTLS, SASL PLAIN, bind).
#   setup: a self-signed certificate for localhost in /etc/prosody/certs (Debian's package
#          ships none, and c2s requires encryption); the unit started; users alice, bob and
#          carol registered with prosodyctl; bob's private XML storage (XEP-0049) holds
#          "kept since setup".
#   load:  chats between alice and bob (110 messages), messages to carol while she is offline
#          delivered when she logs in (offline storage), a roster entry added and read back,
#          private storage written, a login with a wrong password, the admin shell over its
#          socket (prosodyctl shell), a reload (SIGHUP), for about 5 s.
#   check: a message with a fresh token from alice is delivered to bob, logged in meanwhile;
#          bob's private storage still holds "kept since setup" (written at setup, read back
#          from /var/lib/prosody after every restart and crash); a wrong password is refused.
set -eu
pw=pack-secret
XMPP_PY=$(cat <<'PY'
import base64, re, socket, ssl, sys, time

NS = "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'"


class Client:
    def __init__(self, user, password, resource="pack"):
        self.user = user
        self.buf = ""
        self.s = socket.create_connection(("127.0.0.1", 5222), timeout=10)
        self.open()
        self.until("</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.until("<proceed")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")
        self.buf = ""
        self.open()
        self.until("</stream:features>")
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{cred}</auth>")
        got = self.until("<success", "<failure")
        if got == "<failure":
            raise SystemExit(f"{user}: authentication refused")
        self.buf = ""
        self.open()
        self.until("</stream:features>")
        self.send(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")
        self.until("id='bind'", "id=\"bind\"")
        self.send("<presence/>")

    def open(self):
        self.send(f"<?xml version='1.0'?><stream:stream to='localhost' {NS}>")

    def send(self, text):
        self.s.sendall(text.encode())

    def until(self, *marks, timeout=10):
        end = time.time() + timeout
        while True:
            hits = [(self.buf.find(m), m) for m in marks if m in self.buf]
            if hits:
                at, mark = min(hits)
                self.last = self.buf[:at + len(mark)]
                self.buf = self.buf[at + len(mark):]
                return mark
            left = end - time.time()
            if left <= 0:
                raise SystemExit(f"{self.user}: no {marks} within {timeout} s")
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise SystemExit(f"{self.user}: connection closed waiting for {marks}")
            self.buf += data.decode(errors="replace")

    def iq(self, kind, ident, payload):
        self.send(f"<iq type='{kind}' id='{ident}'>{payload}</iq>")
        self.until(f"id='{ident}'", f'id="{ident}"')
        # The reply up to its end: the caller reads what it carries.
        self.until("</iq>", "/>")
        return self.buf

    def message(self, to, body):
        self.send(f"<message to='{to}@localhost' type='chat'><body>{body}</body></message>")

    def close(self):
        try:
            self.send("</stream:stream>")
            self.s.close()
        except OSError:
            pass


def main(cmd, *args):
    if cmd == "roundtrip":  # roundtrip FROM TO PASSWORD TOKEN: TO receives FROM's message
        frm, to, pw, token = args
        rx = Client(to, pw)
        tx = Client(frm, pw)
        # The server answers a ping to rx once its presence is in: then the message.
        rx.iq("get", "ping", "<ping xmlns='urn:xmpp:ping'/>")
        tx.message(to, token)
        rx.until(f"<body>{token}</body>")
        tx.close(); rx.close()
    elif cmd == "send":  # send FROM TO PASSWORD BODY...
        frm, to, pw, *bodies = args
        tx = Client(frm, pw)
        for b in bodies:
            tx.message(to, b)
        tx.iq("get", "ping", "<ping xmlns='urn:xmpp:ping'/>")
        tx.close()
    elif cmd == "recv":  # recv USER PASSWORD BODY: BODY delivered (offline store included)
        user, pw, body = args
        rx = Client(user, pw)
        rx.until(f"<body>{body}</body>")
        rx.close()
    elif cmd == "keep":  # keep USER PASSWORD TEXT: private XML storage (XEP-0049)
        user, pw, text = args
        c = Client(user, pw)
        c.iq("set", "keep", f"<query xmlns='jabber:iq:private'><pack xmlns='pack:kept'>{text}</pack></query>")
        c.close()
    elif cmd == "kept":  # kept USER PASSWORD: prints the private XML stored
        user, pw = args
        c = Client(user, pw)
        c.send("<iq type='get' id='kept'><query xmlns='jabber:iq:private'><pack xmlns='pack:kept'/></query></iq>")
        c.until("id='kept'", 'id="kept"')
        c.until("</iq>")
        m = re.search(r"<pack xmlns=.pack:kept.>([^<]*)</pack>", c.last)
        print(m.group(1) if m else "")
        c.close()
    elif cmd == "roster":  # roster USER PASSWORD CONTACT: add CONTACT, read the roster back
        user, pw, contact = args
        c = Client(user, pw)
        c.iq("set", "radd", f"<query xmlns='jabber:iq:roster'><item jid='{contact}@localhost' name='{contact}'/></query>")
        c.send("<iq type='get' id='rget'><query xmlns='jabber:iq:roster'/></iq>")
        c.until("id='rget'", 'id="rget"')
        c.until(f"{contact}@localhost")
        c.close()
    elif cmd == "login":  # login USER PASSWORD: fails when refused
        Client(*args).close()
    else:
        raise SystemExit(f"unknown command {cmd}")


main(*sys.argv[1:])
PY
)
xmpp() { /usr/bin/python3 -c "$XMPP_PY" "$@"; }
up() {
    i=0
    until xmpp login alice $pw 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "prosody does not log alice in on :5222" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    openssl req -new -x509 -nodes -days 3650 -subj /CN=localhost \
        -keyout /etc/prosody/certs/localhost.key -out /etc/prosody/certs/localhost.crt 2>/dev/null
    chown root:prosody /etc/prosody/certs/localhost.key /etc/prosody/certs/localhost.crt
    chmod 640 /etc/prosody/certs/localhost.key
    systemctl start prosody.service
    for u in alice bob carol; do prosodyctl register $u localhost $pw; done
    up
    xmpp keep bob $pw "kept since setup"
    ;;
load)
    up
    xmpp roundtrip alice bob $pw "hello $(date +%s%N)"
    xmpp send alice bob $pw $(seq -f 'chat%g' 100)
    for i in $(seq 5); do xmpp roundtrip bob alice $pw "reply$i" || true; done
    xmpp send alice carol $pw offline1 offline2 offline3
    xmpp recv carol $pw offline3 || true
    xmpp roster alice $pw bob || true
    xmpp roster bob $pw alice || true
    xmpp keep alice $pw "written in load" || true
    xmpp kept alice $pw >/dev/null || true
    xmpp login alice wrong-secret 2>/dev/null || true
    prosodyctl shell 'server:version()' >/dev/null 2>&1 || true
    prosodyctl shell 'c2s:show()' >/dev/null 2>&1 || true
    systemctl reload prosody.service || true
    up
    for i in $(seq 3); do xmpp roundtrip alice bob $pw "after reload $i" || true; done
    ;;
check)
    up
    token="token$(date +%s%N)"
    xmpp roundtrip alice bob $pw "$token" || { echo "bob did not get alice's message $token" >&2; exit 1; }
    kept=$(xmpp kept bob $pw)
    [ "$kept" = "kept since setup" ] || { echo "bob's private storage held '$kept'" >&2; exit 1; }
    if xmpp login alice wrong-secret 2>/dev/null; then echo "a wrong password was accepted" >&2; exit 1; fi
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
