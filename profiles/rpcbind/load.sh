#!/bin/sh
# rpcbind 1.2.6 as Debian packages it: `rpcbind -f -w` (warm start from /run/rpcbind/*.xdr,
# dropping to user _rpc), started on demand by rpcbind.socket, which systemd listens on for it
# (/run/rpcbind.sock, port 111 over TCP and UDP on 0.0.0.0 and [::]), run inside the pack's
# guest systemd. Programs are registered as libtirpc's servers do, over /run/rpcbind.sock
# (RPCBPROC_SET and UNSET, version 4), by a small python3 client below, which can also serve a
# program's NULL procedure on a UDP port and send an old-style PMAP_SET over UDP.
#   setup: rpcbind.socket started (rpcbind.service is not: the first client, rpcinfo -p over
#          the socket's port 111, starts it); program 400100 version 1 registered (udp and tcp).
#   load:  rounds begun within 4 s, a restart after the first (the warm start keeps program
#          400100). A round: rpcinfo -p over 127.0.0.1, ::1 and the local socket, rpcinfo -T over
#          tcp, udp, tcp6 and udp6, rpcinfo -s, -m, -a and -l (GETADDRLIST); 20 programs
#          registered and deleted (half with rpcinfo -d); a program served on UDP and called
#          through rpcbind's lookup (rpcinfo -u, GETADDR), then deleted; a PMAP_SET (version 2)
#          over UDP from 127.0.0.1, then rpcinfo -d; a call to a program nobody registered.
#   check: rpcinfo -p 127.0.0.1 lists portmapper (100000) versions 2, 3 and 4 over tcp and
#          udp on port 111, `rpcinfo -u 127.0.0.1 100000 2` is ready and waiting; a program
#          with a fresh number, registered just then for a UDP port where this script answers
#          its NULL procedure, is listed by rpcinfo -p and answers `rpcinfo -u` through
#          rpcbind's lookup; `rpcinfo -d` removes it and it is no longer listed.
set -eu
PY='
import os, socket, struct, sys, time
def s_(x):
    b = x.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)
def recvn(s, n):
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c: raise SystemExit("rpcbind closed the connection")
        d += c
    return d
def call(proc, args, vers=4):
    xid = struct.unpack(">I", os.urandom(4))[0]
    msg = struct.pack(">6I4I", xid, 0, 2, 100000, vers, proc, 0, 0, 0, 0) + args
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(5)
    s.connect("/run/rpcbind.sock")
    s.sendall(struct.pack(">I", 0x80000000 | len(msg)) + msg)
    d = b""
    while True:
        n = struct.unpack(">I", recvn(s, 4))[0]
        d += recvn(s, n & 0x7fffffff)
        if n & 0x80000000: break
    s.close()
    rxid, mt, rs = struct.unpack(">3I", d[:12])
    if rxid != xid or mt != 1 or rs != 0: raise SystemExit("rpcbind denied the call")
    vl = struct.unpack(">I", d[16:20])[0]; o = 20 + (vl + 3) // 4 * 4
    if struct.unpack(">I", d[o:o + 4])[0] != 0: raise SystemExit("rpcbind: call not accepted")
    return struct.unpack(">I", d[o + 4:o + 8])[0]
def uaddr(host, port): return "%s.%d.%d" % (host, port >> 8, port & 255)
def rpcb(proc, prog, vers, netid, addr):
    return call(proc, struct.pack(">2I", prog, vers) + s_(netid) + s_(addr) + s_("pack"))
cmd = sys.argv[1]
if cmd in ("set", "unset"):
    prog, vers, port = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ok = True
    for netid, host in (("udp", "127.0.0.1"), ("tcp", "127.0.0.1")):
        if cmd == "set": ok &= rpcb(1, prog, vers, netid, uaddr(host, port)) == 1
        else: ok &= rpcb(2, prog, vers, netid, "") == 1
    sys.exit(0 if ok else 1)
elif cmd == "pmapset":
    # PMAPPROC_SET (version 2) over UDP from 127.0.0.1, as glibc pmap_set() did.
    prog, port = int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    msg = struct.pack(">6I4I4I", 7, 0, 2, 100000, 2, 1, 0, 0, 0, 0, prog, 1, 17, port)
    s.sendto(msg, ("127.0.0.1", 111))
    try: d = s.recv(512); print("PMAP_SET over UDP answered", struct.unpack(">I", d[-4:])[0])
    except socket.timeout: print("PMAP_SET over UDP: no answer")
elif cmd == "serve":
    # Answers NULL calls to PROG VERS on a UDP port of 127.0.0.1, registered with rpcbind
    # while it runs (at most SECONDS); prints the port once registered.
    prog, vers, secs = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    if rpcb(1, prog, vers, "udp", uaddr("127.0.0.1", port)) != 1: sys.exit("SET refused")
    print(port, flush=True)
    end = time.time() + secs
    while time.time() < end:
        u.settimeout(max(0.05, end - time.time()))
        try: d, peer = u.recvfrom(9000)
        except socket.timeout: break
        if len(d) < 40: continue
        xid, mt, rv, p, v, proc = struct.unpack(">6I", d[:24])
        if mt != 0: continue
        if p != prog: stat = 1
        elif v != vers: stat = 2
        elif proc != 0: stat = 3
        else: stat = 0
        r = struct.pack(">6I", xid, 1, 0, 0, 0, stat)
        if stat == 2: r += struct.pack(">2I", vers, vers)
        u.sendto(r, peer)
    rpcb(2, prog, vers, "udp", "")
'
rpcb() { python3 -c "$PY" "$@"; }
up() {
    i=0
    until rpcinfo -p 127.0.0.1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
# Registers PROG 1 with a UDP server of this script (at most $3 s, or until killed: $! is
# python3's pid), waits for its port in file $2.
serve() {
    rm -f "$2"
    python3 -c "$PY" serve "$1" 1 "${3:-20}" >"$2" &
    i=0
    until [ -s "$2" ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "program $1 not registered" >&2; return 1; }; sleep 0.1
    done
}
# One round of the load: lookups over every transport, registrations, calls, a PMAP_SET.
round() {
    rpcinfo -p 127.0.0.1 >/dev/null || true
    rpcinfo -p ::1 >/dev/null || true
    rpcinfo -p >/dev/null || true
    rpcinfo >/dev/null || true
    rpcinfo -s >/dev/null || true
    rpcinfo -m 127.0.0.1 >/dev/null || true
    for t in tcp udp; do
        rpcinfo -T $t 127.0.0.1 100000 >/dev/null || true
        rpcinfo -T ${t}6 ::1 100000 >/dev/null || true
        rpcinfo -l -T $t 127.0.0.1 100000 4 >/dev/null || true
    done
    rpcinfo -T local localhost 100000 >/dev/null 2>&1 || true
    rpcinfo -t 127.0.0.1 100000 >/dev/null || true
    rpcinfo -u 127.0.0.1 100000 >/dev/null || true
    rpcinfo -a 127.0.0.1.0.111 -T tcp 100000 2 >/dev/null || true
    # 20 programs registered, half removed by rpcinfo -d, half by RPCBPROC_UNSET.
    for n in $(seq 0 19); do
        rpcb set $((400200 + n)) 1 $((5000 + n)) || true
    done
    echo "$(rpcinfo -p 127.0.0.1 | grep -c '^ *4002') registrations of 4002xx"
    for n in $(seq 0 19); do
        if [ $((n % 2)) = 0 ]; then rpcinfo -d $((400200 + n)) 1 || true
        else rpcb unset $((400200 + n)) 1 0 || true; fi
    done
    # A program served on UDP, called through rpcbind's lookup.
    if serve 400300 /tmp/pack-serve 10; then
        for i in 1 2 3 4 5; do rpcinfo -u 127.0.0.1 400300 1 >/dev/null || true; done
        rpcinfo -u 127.0.0.1 400300 >/dev/null 2>&1 || true
        rpcinfo -l 127.0.0.1 400300 1 >/dev/null 2>&1 || true
        rpcinfo -d 400300 1 || true
        kill $! 2>/dev/null || true
    fi
    rpcb pmapset 400400 4004 || true
    rpcinfo -p 127.0.0.1 | grep -E '^ *400400 ' || true
    rpcinfo -d 400400 1 || true
    rpcinfo -u 127.0.0.1 400999 1 >/dev/null 2>&1 || true
    wait 2>/dev/null || true
}
case "${1:-}" in
setup)
    # Not running yet in a fresh guest; stopped should a boot have started it.
    systemctl stop rpcbind.service rpcbind.socket
    systemctl start rpcbind.socket
    up
    rpcb set 400100 1 4001
    rpcinfo -p 127.0.0.1 | grep -Eq '^ *400100 +1 +udp +4001'
    ;;
load)
    start=$(date +%s)
    up
    round
    # A restart: the warm start (-w) keeps program 400100 from setup.
    systemctl restart rpcbind.service || true
    up || true
    rpcinfo -p 127.0.0.1 | grep -E '^ *400100 ' || echo "400100 not kept by the warm start"
    # More rounds, begun within 4 s of the first: the load ends before the recording's window
    # (10 s from learner's restart on, 2 s before this script) and the life's events.
    while [ "$(date +%s)" -lt $((start + 4)) ]; do round; done
    echo "load: $(($(date +%s) - start)) s"
    ;;
check)
    up
    out=$(rpcinfo -p 127.0.0.1)
    for v in 2 3 4; do
        for t in tcp udp; do
            echo "$out" | grep -Eq "^ *100000 +$v +$t +111 +portmapper" || {
                echo "portmapper $v/$t not listed:" >&2; echo "$out" >&2; exit 1; }
        done
    done
    rpcinfo -u 127.0.0.1 100000 2 | grep -q 'program 100000 version 2 ready and waiting'
    # A program with a fresh number, served on UDP and registered just then.
    prog=$((400500 + $(date +%s) % 100000))
    serve $prog /tmp/pack-check 20
    port=$(cat /tmp/pack-check)
    rpcinfo -p 127.0.0.1 | grep -Eq "^ *$prog +1 +udp +$port( |\$)" || {
        echo "program $prog not listed at port $port" >&2; rpcinfo -p 127.0.0.1 >&2; exit 1; }
    rpcinfo -u 127.0.0.1 $prog 1 | grep -q "program $prog version 1 ready and waiting"
    rpcinfo -d $prog 1
    if rpcinfo -p 127.0.0.1 | grep -Eq "^ *$prog "; then
        echo "program $prog still listed after rpcinfo -d" >&2; exit 1
    fi
    kill $! 2>/dev/null || true
    wait 2>/dev/null || true
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
