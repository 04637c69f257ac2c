#!/bin/sh
# Dante 1.4.2 (danted, a SOCKS v4 and v5 proxy) as Debian 12 packages it (dante-server;
# danted.service: Type=simple, `/usr/sbin/danted` in the foreground, as root, an ExecStartPre
# chowning /run/danted.pid to the config's user.privileged, PrivateTmp=yes,
# InaccessibleDirectories=/boot /home /media /mnt /opt /root, ReadOnlyDirectories=/bin /etc /lib
# /sbin /usr /var, DeviceAllow=/dev/null rw; no ExecReload; no /etc/logrotate.d entry), run
# inside the pack's guest systemd. Debian's /etc/danted.conf sets only `logoutput: stderr` (the
# journal), user.privileged: proxy, user.unprivileged: nobody and user.libwrap: nobody: no
# internal/external address and no rules, so danted does not start until it is given them.
# Clients: curl (--socks5, --socks5-hostname, --socks4) and a small python3 speaking
# SOCKS5 itself; the destinations are python3 http.servers as transient units.
#   setup: appends to Debian's /etc/danted.conf (its own lines kept): listeners on
#          127.0.0.1:1080 and [::1]:1080, `external: lo`, socksmethod none, clients from
#          127.0.0.0/8 and ::1, a `socks block` rule for destination port 8089, connect, bind
#          and udpassociate passed (bindreply and udpreply back to loopback); a directory
#          /srv/pack-socks with an 8 MB random file (its sha256 kept in
#          /var/lib/pack-socks/big.sha256) served by pack-target.service (http.server on
#          [::]:8088, dual-stack, as nobody), a second http.server on 8089
#          (pack-target-blocked.service) only for the block rule to refuse; the unit started.
#   load:  for about 8 s, 6 curl clients at once through the proxy: small and large downloads,
#          a 404, SOCKS5 with addresses and with names (localhost, resolved by danted), SOCKS4
#          (Dante has no SOCKS4a), IPv6 destinations, the [::1] listener; a python3 client: UDP
#          ASSOCIATE with datagrams relayed to an echo socket and back, BIND with a peer
#          connecting to danted's bound port and data both ways, the blocked port (refused by
#          the rule), a closed port (connection refused), a name that does not resolve, a client
#          offering only username/password (no acceptable method), a malformed greeting, an
#          HTTP request to the SOCKS port, a client that connects and says nothing; SIGUSR1
#          (danted logs its state) and SIGHUP (danted re-reads its config: the unit has no
#          ExecReload, an admin sends it); then two slow downloads left running into the
#          recording's restart.
#   check: a file with fresh random content written to /srv/pack-socks is fetched through the
#          proxy with SOCKS5 (name resolved by danted) and with SOCKS4, byte for byte identical;
#          the 8 MB file from setup comes through with its sha256; a SOCKS5 CONNECT to port
#          8089 is refused by the ruleset (reply 2) though the port answers directly.
set -eu
SRV=/srv/pack-socks
STATE=/var/lib/pack-socks
sk() {
    /usr/bin/python3 - "$@" <<'PY'
import os, socket, struct, sys, threading, time

PROXY = ("127.0.0.1", 1080)

def recvn(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError(f"closed after {len(b)} of {n} bytes")
        b += d
    return b

def addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack("!H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack("!H", port)
    except OSError:
        h = host.encode()
        return b"\x03" + bytes([len(h)]) + h + struct.pack("!H", port)

def read_reply(s):
    ver, rep, _, atyp = recvn(s, 4)
    if atyp == 1:
        a = socket.inet_ntop(socket.AF_INET, recvn(s, 4))
    elif atyp == 4:
        a = socket.inet_ntop(socket.AF_INET6, recvn(s, 16))
    else:
        a = recvn(s, recvn(s, 1)[0]).decode()
    port = struct.unpack("!H", recvn(s, 2))[0]
    return rep, a, port

def greet(proxy=PROXY, timeout=10):
    s = socket.create_connection(proxy, timeout=timeout)
    s.sendall(b"\x05\x01\x00")
    r = recvn(s, 2)
    if r != b"\x05\x00":
        raise RuntimeError(f"greeting answered {r!r}")
    return s

def request(cmd, host, port, proxy=PROXY, timeout=10):
    s = greet(proxy, timeout)
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00" + addr(host, port))
    rep, a, p = read_reply(s)
    return s, rep, a, p

def connect_rep(host, port):
    s, rep, _, _ = request(1, host, port)
    s.close()
    return rep

def udp(n=5):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    stop = threading.Event()
    def serve():
        echo.settimeout(0.2)
        while not stop.is_set():
            try:
                d, peer = echo.recvfrom(65535)
            except socket.timeout:
                continue
            echo.sendto(b"echo:" + d, peer)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(5)
    ctl, rep, ra, rp = request(3, *c.getsockname())
    try:
        if rep != 0:
            raise RuntimeError(f"UDP ASSOCIATE refused: {rep}")
        for i in range(n):
            msg = os.urandom(16 + 97 * i).hex().encode()
            c.sendto(b"\x00\x00\x00" + addr(*echo.getsockname()) + msg, (ra, rp))
            d, _ = c.recvfrom(65535)
            if not d.endswith(b"echo:" + msg):
                raise RuntimeError(f"UDP datagram {i} came back as {d[:40]!r}")
    finally:
        stop.set()
        ctl.close()
        c.close()

def bind():
    ctl, rep, ba, bp = request(2, "127.0.0.1", 0)
    if rep != 0:
        raise RuntimeError(f"BIND refused: {rep}")
    peer = socket.create_connection((ba, bp), timeout=10)
    rep2, pa, pp = read_reply(ctl)
    if rep2 != 0:
        raise RuntimeError(f"BIND second reply {rep2}")
    tok = os.urandom(2000)
    peer.sendall(tok)
    if recvn(ctl, len(tok)) != tok:
        raise RuntimeError("BIND: peer to client differs")
    ctl.sendall(tok[::-1])
    if recvn(peer, len(tok)) != tok[::-1]:
        raise RuntimeError("BIND: client to peer differs")
    peer.close()
    ctl.close()

def errors():
    def one(send, n=10):
        s = socket.create_connection(PROXY, timeout=10)
        try:
            s.sendall(send)
            s.recv(n)
        except OSError:
            pass
        s.close()
    # A client offering only username/password: no acceptable method (0xff).
    one(b"\x05\x01\x02")
    # A malformed greeting, an HTTP request to the SOCKS port.
    one(b"\x07\x01\x00")
    one(b"GET / HTTP/1.0\r\n\r\n")
    # SOCKS4 to the blocked port (request rejected, 91).
    one(b"\x04\x01" + struct.pack("!H", 8089) + socket.inet_aton("127.0.0.1") + b"pack\x00")
    # An unknown command (danted closes the connection).
    one(b"\x05\x01\x00\x09\x00" + addr("127.0.0.1", 8088))
    # A name that does not resolve (host unreachable, 4).
    s, rep, _, _ = request(1, "no-such-host.invalid", 80)
    s.close()

mode = sys.argv[1]
if mode == "ping":
    greet(timeout=2).close()
elif mode == "blocked":
    rep = connect_rep("127.0.0.1", 8089)
    if rep != 2:
        sys.exit(f"a CONNECT to the blocked port 8089 got reply {rep}, not 2 (not allowed by ruleset)")
    socket.create_connection(("127.0.0.1", 8089), timeout=5).close()
elif mode == "client":
    secs = float(sys.argv[2])
    end = time.time() + secs
    idle = socket.create_connection(PROXY, timeout=30)  # says nothing until the end
    def refused():
        connect_rep("127.0.0.1", 8089)  # blocked by the rule
        connect_rep("127.0.0.1", 8090)  # closed: connection refused
        connect_rep("::1", 8090)
    def over_ipv6():
        s, rep, _, _ = request(1, "localhost", 8088, proxy=("::1", 1080))
        if rep == 0:
            s.sendall(b"GET /small-1.txt HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass
        s.close()
    while time.time() < end:
        for f in (udp, bind, errors, refused, over_ipv6):
            try:
                f()
            except Exception as e:
                # danted restarted under the recording: wait for it again.
                print(f"{f.__name__}: {e}", file=sys.stderr)
                time.sleep(0.2)
        time.sleep(0.1)
    idle.close()
PY
}
up() {
    i=0
    until sk ping 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "danted does not answer on 127.0.0.1:1080" >&2; return 1; }; sleep 0.2
    done
}
# The destinations: http.servers as transient units (started again if they are gone).
target() {
    for t in "pack-target 8088" "pack-target-blocked 8089"; do
        set -- $t
        systemctl is-active -q "$1" 2>/dev/null || {
            systemctl reset-failed "$1" 2>/dev/null || true
            systemd-run --quiet --unit="$1" --property=User=nobody --property=Restart=always \
                /usr/bin/python3 -m http.server --bind :: --directory "$SRV" "$2"
        }
    done
    i=0
    until curl -fsS -o /dev/null http://127.0.0.1:8088/small-1.txt 2>/dev/null &&
        curl -fsS -o /dev/null http://127.0.0.1:8089/small-1.txt 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "the http.servers on 8088/8089 do not answer" >&2; return 1; }; sleep 0.2
    done
}
px() { curl -fsS --max-time 30 "$@"; }
case "${1:-}" in
setup)
    mkdir -p "$SRV" "$STATE"
    head -c 8M /dev/urandom >"$SRV/big.bin"
    sha256sum <"$SRV/big.bin" | cut -d' ' -f1 >"$STATE/big.sha256"
    for n in 1 2 3 4 5; do head -c $((n * 1500)) /dev/urandom | od -An -tx1 >"$SRV/small-$n.txt"; done
    chmod -R a+rX "$SRV"
    grep -q '^# pack: ' /etc/danted.conf || cat >>/etc/danted.conf <<'EOF'

# pack: a SOCKS server for this host's own clients, on loopback.
internal: 127.0.0.1 port = 1080
internal: ::1 port = 1080
external: lo
socksmethod: none
clientmethod: none

client pass {
        from: 127.0.0.0/8 to: 0/0
        log: error
}
client pass {
        from: ::1/128 to: 0/0
        log: error
}

# Nobody reaches port 8089 through the proxy.
socks block {
        from: 0/0 to: 0/0 port = 8089
        log: connect error
}
socks pass {
        from: 127.0.0.0/8 to: 0/0
        command: connect bind udpassociate
        log: connect disconnect error
}
socks pass {
        from: ::1/128 to: 0/0
        command: connect bind udpassociate
        log: connect disconnect error
}
socks pass {
        from: 0/0 to: 127.0.0.0/8
        command: bindreply udpreply
        log: connect error
}
EOF
    target
    systemctl start danted.service
    up
    px --socks5 127.0.0.1:1080 -o /dev/null http://127.0.0.1:8088/small-1.txt
    ;;
load)
    up
    target
    end=$(($(date +%s) + 8))
    sk client 8 &
    for c in 1 2 3 4 5 6; do
        (
            n=0
            while [ "$(date +%s)" -lt "$end" ]; do
                n=$((n + 1)); f=small-$(((n + c) % 5 + 1)).txt
                case $(((n + c) % 8)) in
                0) px --socks5 127.0.0.1:1080 -o /dev/null http://127.0.0.1:8088/big.bin ;;
                1) px --socks5-hostname 127.0.0.1:1080 -o /dev/null "http://localhost:8088/$f" ;;
                2) px --socks4 127.0.0.1:1080 -o /dev/null "http://127.0.0.1:8088/$f" ;;
                3) px --socks5 127.0.0.1:1080 -o /dev/null "http://[::1]:8088/$f" ;;
                4) px -x 'socks5h://[::1]:1080' -o /dev/null "http://[::1]:8088/$f" ;;
                5) px --socks5 127.0.0.1:1080 -o /dev/null "http://127.0.0.1:8088/no-such-$n" ;;
                6) px --socks5 127.0.0.1:1080 -o /dev/null http://127.0.0.1:8089/small-1.txt ;;
                7) px --socks5 127.0.0.1:1080 -o /dev/null "http://127.0.0.1:8088/$f" \
                    -o /dev/null "http://127.0.0.1:8088/small-1.txt" ;;
                esac >/dev/null 2>&1 || true
            done
        ) &
    done
    sleep 3
    systemctl kill -s USR1 --kill-who=main danted.service || true
    sleep 1
    systemctl kill -s HUP --kill-who=main danted.service || true
    wait
    up
    px --socks5 127.0.0.1:1080 -o /dev/null http://127.0.0.1:8088/small-2.txt || true
    # Slow downloads still running when the recording restarts the unit.
    for c in 1 2; do
        (px --max-time 40 --limit-rate 200k --socks5 127.0.0.1:1080 -o /dev/null \
            http://127.0.0.1:8088/big.bin) >/dev/null 2>&1 </dev/null &
    done
    ;;
check)
    up
    target
    tok="check-$$-$(date +%s%N)"
    f="$SRV/$tok.bin"
    out=$(mktemp)
    trap 'rm -f "$f" "$out"' EXIT
    { echo "$tok"; head -c 100000 /dev/urandom; } >"$f"
    chmod 644 "$f"
    px --socks5-hostname 127.0.0.1:1080 -o "$out" "http://localhost:8088/$tok.bin" ||
        { echo "fetching $tok.bin through SOCKS5 failed" >&2; exit 1; }
    cmp -s "$f" "$out" || { echo "$tok.bin through SOCKS5 differs from the file" >&2; exit 1; }
    px --socks4 127.0.0.1:1080 -o "$out" "http://127.0.0.1:8088/$tok.bin" ||
        { echo "fetching $tok.bin through SOCKS4 failed" >&2; exit 1; }
    cmp -s "$f" "$out" || { echo "$tok.bin through SOCKS4 differs from the file" >&2; exit 1; }
    sum=$(px --socks5 127.0.0.1:1080 http://127.0.0.1:8088/big.bin | sha256sum | cut -d' ' -f1)
    [ "$sum" = "$(cat "$STATE/big.sha256")" ] ||
        { echo "big.bin from setup came through the proxy with another sha256" >&2; exit 1; }
    sk blocked
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
