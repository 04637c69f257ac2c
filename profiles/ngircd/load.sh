#!/bin/sh
# ngIRCd 26 as Debian packages it (ngircd.service), run inside the pack's guest systemd, with an
# operator and a predefined channel added to its configuration. IRC clients in Python.
#   setup: [Operator] pack and [Channel] #pack added to /etc/ngircd/ngircd.conf, the unit
#          started, a client registered.
#   load:  rounds of 8 clients (4 over IPv4, 4 over IPv6; ngIRCd allows 10 per address)
#          registering, joining #pack and a channel of their own, messages to the channel and
#          to each other read back, TOPIC, MODE, WHOIS, WHO, LIST, NAMES, MOTD, VERSION, an
#          operator's OPER and REHASH, PART and QUIT; a reload (HUP) between rounds.
#   check: two clients join a fresh channel; a message with a fresh token sent by one reaches
#          the other, and a private message comes back the other way.
set -eu
client() {
    python3 - "$@" <<'PY'
import os, socket, sys, time
mode, rounds = sys.argv[1], int(sys.argv[2])

class Irc:
    def __init__(self, nick, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(15)
        self.s.connect((host, 6667))
        self.buf = b""
        self.nick = nick
        self.send(f"NICK {nick}", f"USER {nick} 0 * :pack client")
        self.until(" 001 ")
    def send(self, *lines):
        self.s.sendall("".join(l + "\r\n" for l in lines).encode())
    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(4096)
            assert data, f"{self.nick}: connection closed"
            self.buf += data
        l, self.buf = self.buf.split(b"\r\n", 1)
        l = l.decode(errors="replace")
        if l.startswith("PING "):
            self.send("PONG " + l[5:])
        return l
    def until(self, needle):
        end = time.time() + 15
        while time.time() < end:
            l = self.line()
            if needle in l:
                return l
            assert " 464 " not in l and "ERROR" not in l.split(" ")[0], (self.nick, l)
        raise AssertionError(f"{self.nick}: no {needle!r}")
    def quit(self):
        self.send("QUIT :bye")
        try:
            self.until("ERROR")
        except (AssertionError, OSError):
            pass
        self.s.close()

tag = f"{os.getpid() % 10000}"
if mode == "check":
    token = f"tok{time.time_ns()}"
    chan = f"#c{tag}"
    a, b = Irc(f"ca{tag}"), Irc(f"cb{tag}", "::1")
    a.send(f"JOIN {chan}"); a.until(" 366 ")
    b.send(f"JOIN {chan}"); b.until(" 366 ")
    a.send(f"PRIVMSG {chan} :{token}")
    b.until(token)
    b.send(f"PRIVMSG {a.nick} :back {token}")
    a.until(f"back {token}")
    a.quit(); b.quit()
    print("ok check")
    sys.exit(0)

for r in range(rounds):
    clients = [Irc(f"p{tag}r{r}n{i}", "127.0.0.1" if i < 4 else "::1") for i in range(8)]
    for c in clients:
        c.send("JOIN #pack", f"JOIN #{c.nick}")
        c.until(f"#{c.nick}")
    for i, c in enumerate(clients):
        c.send(f"PRIVMSG #pack :hello {i} round {r}")
    for i, c in enumerate(clients):
        other = clients[(i + 1) % len(clients)]
        c.send(f"PRIVMSG {other.nick} :direct {i}")
        other.until(f"direct {i}")
    op = clients[0]
    op.send(f"TOPIC #{op.nick} :round {r}", f"MODE #{op.nick} +nt", f"MODE #{op.nick} +l 20",
            f"WHOIS {clients[1].nick}", "WHO #pack", "LIST", "NAMES #pack", "MOTD", "VERSION",
            "LUSERS", "TIME", "ADMIN", "INFO")
    op.until(" 376 ")
    op.send("OPER pack packpass")
    op.until(" 381 ")
    op.send("REHASH")
    op.until(" 382 ")
    op.send("NICK !bad", "JOIN 0")
    for c in clients:
        c.send(f"PART #{c.nick} :done")
        c.quit()
print("ok", mode, rounds)
PY
}
up() {
    i=0
    until python3 -c 'import socket; socket.create_connection(("127.0.0.1", 6667), timeout=2).close()' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "ngircd does not answer" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    grep -q 'Name = pack' /etc/ngircd/ngircd.conf || cat >> /etc/ngircd/ngircd.conf <<'CONF'

[Operator]
	Name = pack
	Password = packpass

[Channel]
	Name = #pack
	Topic = the pack's channel
	Modes = n
CONF
    systemctl start ngircd.service
    up
    client check 1
    ;;
load)
    up
    client load 2
    systemctl reload ngircd.service
    sleep 1
    up
    client load 1
    ;;
check)
    up
    client check 1
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
