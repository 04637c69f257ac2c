#!/bin/sh
# nats-server as Debian packages it (nats-server.service: the NATS message broker, written in
# Go, as the nats user, on 127.0.0.1:4222 from /etc/nats-server.conf), run inside the pack's
# guest systemd. A small NATS client in Python speaks the text protocol.
#   setup: the unit started, a round trip answered.
#   load:  20 clients, each subscribing (one in a queue group), publishing 50 messages and
#          reading them back; a request-reply; a reload (HUP) and round trips after it.
#   check: a message published on a fresh subject comes back to its subscriber, byte for
#          byte, and a PING gets its PONG.
set -eu
client() {
    python3 - "$@" <<'PY'
import socket, sys, time
mode, n = sys.argv[1], int(sys.argv[2])

def conn():
    s = socket.create_connection(("127.0.0.1", 4222), timeout=5)
    f = s.makefile("rb")
    info = f.readline()
    assert info.startswith(b"INFO "), info
    s.sendall(b'CONNECT {"verbose":false,"pedantic":true,"name":"pack"}\r\nPING\r\n')
    assert f.readline() == b"PONG\r\n"
    return s, f

def msgs(f, count):
    got = []
    while len(got) < count:
        line = f.readline()
        if line == b"PING\r\n":
            continue
        assert line.startswith(b"MSG "), line
        size = int(line.split()[-1])
        got.append(f.read(size + 2)[:-2])
    return got

for i in range(n):
    subject = f"pack.{mode}.{i}.{time.time_ns()}"
    sub, sf = conn()
    sub.sendall(f"SUB {subject} 1\r\nSUB {subject} workers 2\r\nPING\r\n".encode())
    assert sf.readline() == b"PONG\r\n"
    pub, pf = conn()
    payloads = [f"message {j} of {subject}".encode() for j in range(50 if mode == "load" else 3)]
    pub.sendall(b"".join(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(p), p) for p in payloads) + b"PING\r\n")
    assert pf.readline() == b"PONG\r\n"
    got = msgs(sf, 2 * len(payloads))
    assert sorted(got) == sorted(payloads * 2), (got[:3], payloads[:3])
    # request-reply: the subscriber answers on the reply subject
    pub.sendall(f"SUB _INBOX.{i} 9\r\nPUB {subject} _INBOX.{i} 4\r\nping\r\n".encode())
    for _ in range(2):
        line = sf.readline()
        assert line.startswith(b"MSG "), line
        reply = line.split()[3].decode()
        sf.read(6)
        sub.sendall(f"PUB {reply} 4\r\npong\r\n".encode())
    answers = msgs(pf, 2)
    assert answers == [b"pong", b"pong"], answers
    sub.close(); pub.close()
print("ok", mode, n)
PY
}
up() {
    i=0
    until client check 1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "nats-server does not answer" >&2; client check 1; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start nats-server.service
    up
    ;;
load)
    up
    client load 20
    systemctl reload nats-server.service || true
    sleep 1
    up
    client load 5
    ;;
check)
    client check 3
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
