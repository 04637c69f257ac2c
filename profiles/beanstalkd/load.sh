#!/bin/sh
# beanstalkd 1.12 as Debian packages it (beanstalkd.service: `beanstalkd -l 127.0.0.1 -p 11300`
# from /etc/default/beanstalkd, User=beanstalkd, no hardening; the package enables the service,
# not beanstalkd.socket, which it ships too; no binlog: Debian's BEANSTALKD_EXTRA with
# `-b /var/lib/beanstalkd` is commented out, so jobs are kept in memory only), run inside the
# pack's guest systemd. Client: a small python3 speaking beanstalkd's text protocol over TCP.
#   setup: nothing changed from Debian's defaults; the unit started; a job put and reserved.
#   load:  4 clients for about 8 s, each on tubes of its own and a shared one: puts with
#          varied priorities, delays and TTRs, reserves (with and without a timeout), deletes,
#          releases with a delay, bury and kick (kick, kick-job), touch, peeks (peek,
#          peek-ready, peek-delayed, peek-buried), stats, stats-job, stats-tube, list-tubes,
#          list-tube-used, list-tubes-watched, watch and ignore, pause-tube, a job whose TTR
#          runs out (back to ready), a job larger than the maximum (JOB_TOO_BIG), an unknown
#          command; then 2 workers left waiting in `reserve` into the recording's restart.
#   check: a job with a fresh token put on a fresh tube is reserved back with the same body,
#          released with a 1 s delay, reserved again once it is ready, deleted (and then no
#          longer found); stats answers with the server's pid and version.
set -eu
bs() {
    python3 - "$@" <<'PY'
import os, random, socket, sys, time

class B:
    def __init__(self, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", 11300), timeout=timeout)
        self.f = self.s.makefile("rb")
    def cmd(self, line, body=None):
        data = line.encode() + b"\r\n"
        if body is not None:
            data += body + b"\r\n"
        self.s.sendall(data)
        r = self.f.readline()
        if not r:
            raise EOFError(f"{line!r}: connection closed")
        return r.decode().rstrip("\r\n").split()
    def data(self, r):
        """The body after FOUND/RESERVED/OK <bytes>."""
        n = int(r[-1])
        d = self.f.read(n + 2)
        return d[:-2]
    def put(self, body, pri=1024, delay=0, ttr=60):
        r = self.cmd(f"put {pri} {delay} {ttr} {len(body)}", body)
        if r[0] != "INSERTED":
            raise RuntimeError(f"put: {r}")
        return int(r[1])
    def reserve(self, timeout=None):
        r = self.cmd("reserve" if timeout is None else f"reserve-with-timeout {timeout}")
        if r[0] != "RESERVED":
            return None, None
        return int(r[1]), self.data(r)
    def yaml(self, line):
        r = self.cmd(line)
        if r[0] != "OK":
            return r
        return self.data(r).decode()
    def peek(self, line):
        r = self.cmd(line)
        if r[0] == "FOUND":
            self.data(r)
        return r[0]

mode = sys.argv[1]
if mode == "ping":
    B(timeout=2).yaml("stats")
elif mode == "check":
    token = sys.argv[2].encode()
    tube = "check-" + sys.argv[2][-20:]
    b = B()
    assert b.cmd(f"use {tube}") == ["USING", tube]
    assert b.cmd(f"watch {tube}")[0] == "WATCHING"
    assert b.cmd("ignore default")[0] == "WATCHING"
    jid = b.put(token, pri=10, ttr=30)
    rid, body = b.reserve(5)
    if rid != jid or body != token:
        sys.exit(f"put job {jid} {token!r}, reserved {rid} {body!r}")
    assert b.cmd(f"release {jid} 10 1") == ["RELEASED"], "release"
    t = time.time()
    rid, body = b.reserve(5)
    if rid != jid or body != token:
        sys.exit(f"released job {jid} not reserved again after its delay: {rid} {body!r}")
    if time.time() - t < 0.5:
        sys.exit("a job released with a 1 s delay was ready at once")
    assert b.cmd(f"delete {jid}") == ["DELETED"], "delete"
    assert b.cmd(f"peek {jid}") == ["NOT_FOUND"], "a deleted job is still there"
    st = b.yaml("stats")
    if "pid:" not in st or "version:" not in st:
        sys.exit(f"stats: {st!r}")
elif mode == "setup":
    b = B()
    b.cmd("use setup")
    b.cmd("watch setup")
    jid = b.put(b"setup job")
    rid, body = b.reserve(5)
    assert rid == jid and body == b"setup job", (jid, rid, body)
    assert b.cmd(f"delete {jid}") == ["DELETED"]
elif mode == "client":
    n, secs = int(sys.argv[2]), float(sys.argv[3])
    rnd = random.Random(n)
    end = time.time() + secs
    mine, shared = f"pack-{n}", "pack-shared"
    prod, cons = B(), B()
    cons.cmd(f"watch {mine}")
    cons.cmd(f"watch {shared}")
    cons.cmd("ignore default")
    i = 0
    while time.time() < end:
        i += 1
        prod.cmd(f"use {mine if i % 3 else shared}")
        for k in range(10):
            prod.put(f"job {n}.{i}.{k} ".encode() + os.urandom(rnd.randint(1, 2000)).hex().encode(),
                     pri=rnd.choice([0, 10, 1024, 4294967295]),
                     delay=rnd.choice([0, 0, 0, 1]), ttr=rnd.choice([1, 5, 60]))
        for k in range(10):
            jid, body = cons.reserve(0)
            if jid is None:
                break
            op = (i + k) % 6
            if op == 0:
                cons.cmd(f"release {jid} 100 1")
            elif op == 1:
                cons.cmd(f"bury {jid} 50")
            elif op == 2:
                cons.cmd(f"touch {jid}")
                cons.yaml(f"stats-job {jid}")
                cons.cmd(f"delete {jid}")
            else:
                cons.cmd(f"delete {jid}")
        prod.cmd(f"use {mine}")
        prod.peek("peek-ready")
        prod.peek("peek-delayed")
        if prod.peek("peek-buried") == "FOUND":
            prod.cmd("kick 3")
        jid = prod.put(b"kick-job me", pri=5)
        cons.reserve(1)
        r = cons.cmd(f"bury {jid} 5")
        prod.cmd(f"kick-job {jid}")
        prod.yaml(f"stats-tube {mine}")
        prod.yaml("list-tubes")
        prod.cmd("list-tube-used")
        cons.yaml("list-tubes-watched")
        if i % 4 == 0:
            prod.yaml("stats")
            prod.cmd(f"pause-tube {shared} 1")
        if i % 5 == 0:
            # A job whose TTR (1 s) runs out while reserved: back to ready for another.
            prod.cmd(f"use {mine}")
            jid = prod.put(b"slow worker", pri=0, ttr=1)
            c2 = B()
            c2.cmd(f"watch {mine}")
            c2.reserve(1)
            time.sleep(1.2)
            c2.s.close()
        if i % 7 == 0:
            r = prod.cmd(f"put 1 0 10 70000", b"x" * 70000)
            assert r == ["JOB_TOO_BIG"], r
            assert prod.cmd("frobnicate")[0] == "UNKNOWN_COMMAND"
        time.sleep(0.05)
    # Drain what is left of the client's own tube.
    while True:
        jid, body = cons.reserve(0)
        if jid is None:
            break
        cons.cmd(f"delete {jid}")
elif mode == "worker":
    # Waits in `reserve` (no timeout) until the server goes away (at most 60 s), as a worker does.
    b = B(timeout=60)
    b.cmd("watch pack-idle")
    try:
        b.reserve()
    except Exception:
        pass
PY
}
up() {
    i=0
    until bs ping 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "beanstalkd does not answer on 127.0.0.1:11300" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start beanstalkd.service
    up
    bs setup
    ;;
load)
    up
    for n in 1 2 3 4; do bs client "$n" 8 & done
    wait
    bs check "load-$$-$(date +%s%N)"
    # Workers waiting for a job when the recording's restart comes.
    for n in 1 2; do
        (bs worker) >/dev/null 2>&1 </dev/null &
    done
    ;;
check)
    up
    bs check "check-$$-$(date +%s%N)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
