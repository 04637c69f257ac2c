#!/bin/sh
# darkstat 3.0.719 as Debian 12 packages it: no unit file, only /etc/init.d/darkstat, so
# darkstat.service is systemd-sysv-generator's (Type=forking, RemainAfterExit=yes,
# KillMode=process, GuessMainPID=no); the script's start-stop-daemon runs darkstat as root,
# which opens its libpcap capture (AF_PACKET, promiscuous) and its web UI on port 667, then
# chroots to /var/lib/darkstat and drops to nobody (the package makes no user of its own),
# with a second process for reverse DNS. The init script always passes
# `--import darkstat.db --export darkstat.db`: the hosts database is written in the chroot
# on shutdown and on SIGUSR2, and read back at start.
#   setup: a veth pair pk0 (10.77.1.1, fd77:1::1, here) - pk1 (10.77.1.2, fd77:1::2, in a
#          network namespace `packd`), and a route to 10.78.0.0/16 through 10.77.1.2, so that
#          traffic to any address there leaves on pk0 as plain IP (a host's NIC, not
#          loopback); /etc/darkstat/init.cfg: START_DARKSTAT=yes, INTERFACE="-i pk0",
#          PORT="-p 667", BINDIP="-b 127.0.0.1" and the commented-out DAYLOG (darkstat.log in
#          the chroot); the unit started; 5 UDP datagrams (500 bytes of IP) to 10.78.0.1:7001,
#          seen in the UI, and the database exported (SIGUSR2).
#   load:  pings to the peer (IPv4 and IPv6) and to an address beyond it that never answers;
#          then 3 rounds of: TCP conversations with an echo server in packd, a TCP connection
#          refused (RST), UDP datagrams answered (IPv4 and IPv6), refused (ICMP port
#          unreachable) and to 30 addresses and ports beyond the peer, a TCP SYN nobody
#          answers, and the web UI: the graphs page, graphs.xml, graph.js, style.css, the
#          hosts table (paged, full, each sort order, gzip), every host's page (IPv4 and
#          IPv6), HEAD, a 404 page and unknown hosts, a PUT (501); then the database exported
#          (SIGUSR2 to the pid in /run/darkstat.pid).
#   check: UDP datagrams of a fresh size to a fresh address in 10.78.0.0/16 and a fresh port
#          (both unseen before) appear within 60 s in the UI: the host in the full hosts
#          table, and its page counts exactly their bytes of IP in, on that UDP port; the
#          host from setup (10.78.0.1) still has its 500 bytes on port 7001 (the database
#          exported and imported across every restart and crash).
set -eu
# The client (and, in packd, the echo server): python3 -c "$PY" MODE [ARGS], modes below.
PY=$(cat <<'PY'
import gzip, re, socket, sys, time, urllib.error, urllib.request

UI = "http://127.0.0.1:667"

def get(path, method="GET", headers=None):
    req = urllib.request.Request(UI + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def num(s):
    return int(s.replace(",", ""))

def host_in(addr, port):
    """(In of the host, In of its UDP port `port`) from its page, or None if unknown."""
    code, body = get("/hosts/%s/" % addr)
    if code == 404:
        return None
    assert code == 200, ("host page", addr, code)
    page = body.decode()
    m = re.search(r"<b>In:</b> ([\d,]+)<br>", page)
    assert m, ("no In on the page of", addr)
    udp = page.split("<h3>UDP ports on this host</h3>", 1)[1].split("<h3>", 1)[0]
    p = re.search(r'<td class="num">%d</td>\s*<td>[^<]*</td>\s*<td class="num">([\d,]+)</td>'
                  % port, udp)
    return num(m.group(1)), (num(p.group(1)) if p else None)

def send_udp(addr, port, size, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(count):
        s.sendto(b"d" * size, (addr, port))
        time.sleep(0.02)
    s.close()

def expect(addr, port, size, count, limit=60):
    """Waits until darkstat counts exactly `count` datagrams of `size` bytes to addr:port."""
    want = count * (20 + 8 + size)   # darkstat counts IP bytes: header, UDP header, payload
    end = time.time() + limit
    got = None
    while time.time() < end:
        got = host_in(addr, port)
        if got == (want, want):
            return
        time.sleep(0.5)
    sys.exit("darkstat counts %s for %s UDP %d, not %d bytes in (host, port)" % (got, addr, port, want))

def load():
    pages = ["/", "/graphs.xml", "/graph.js", "/style.css", "/hosts/", "/hosts/?full=yes",
             "/hosts/?sort=in", "/hosts/?sort=out", "/hosts/?sort=total",
             "/hosts/?sort=lastseen", "/hosts/?start=5&end=15", "/hosts/?start=1000",
             "/hosts/10.77.1.1/", "/hosts/10.77.1.2/", "/hosts/10.78.0.1/",
             "/hosts/fd77:1::2/", "/hosts/10.78.0.7/?full=yes",
             "/nope", "/hosts/192.0.2.1/", "/hosts/not-an-ip/", "/favicon.ico"]
    for p in pages:
        get(p)
    for p in ["/", "/hosts/?full=yes", "/graphs.xml", "/style.css"]:
        code, body = get(p, headers={"Accept-Encoding": "gzip"})
        if body[:2] == b"\x1f\x8b":
            gzip.decompress(body)
    get("/", method="HEAD")
    get("/hosts/", method="PUT")
    # Links from the full hosts table: each host's page.
    code, body = get("/hosts/?full=yes")
    for h in re.findall(r'<a href="\./([^/"]+)/">', body.decode())[:40]:
        get("/hosts/%s/" % h)

def traffic(r):
    # TCP conversations with the echo server in packd, and a refused one.
    for i in range(6):
        try:
            c = socket.create_connection(("10.77.1.2", 8080), timeout=3)
            c.sendall(b"x" * (100 * (i + 1) + 7 * r))
            c.recv(65536)
            c.close()
        except OSError as e:
            print("tcp:", e)
    try:
        socket.create_connection(("10.77.1.2", 8081), timeout=3)
    except OSError:
        pass
    # UDP: answered, refused (ICMP port unreachable), and beyond the peer.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(1)
    for i in range(5):
        u.sendto(b"q%d" % i, ("10.77.1.2", 5300))
        try:
            u.recvfrom(2048)
        except OSError:
            pass
    u.sendto(b"nobody", ("10.77.1.2", 5301))
    for i in range(30):
        u.sendto(b"z" * (10 + i + r), ("10.78.0.%d" % (10 + i + 3 * r), 1000 + 37 * i + r))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u6.settimeout(1)
    for i in range(3):
        u6.sendto(b"six%d" % i, ("fd77:1::2", 5300))
        try:
            u6.recvfrom(2048)
        except OSError:
            pass
    # A SYN nobody answers.
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setblocking(False)
    try:
        t.connect(("10.78.0.99", 80))
    except OSError:
        pass
    time.sleep(0.3)
    t.close()

def server():
    # In packd: echoes TCP on 8080 and UDP on 5300 (IPv4 and IPv6) for a while.
    import selectors
    sel = selectors.DefaultSelector()
    ts = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ts.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ts.bind(("10.77.1.2", 8080)); ts.listen(16)
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); us.bind(("10.77.1.2", 5300))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("fd77:1::2", 5300))
    for s in (ts, us, u6):
        sel.register(s, selectors.EVENT_READ)
    end = time.time() + float(sys.argv[2])
    while time.time() < end:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            if s is ts:
                c, _ = ts.accept()
                c.settimeout(2)
                try:
                    c.sendall(c.recv(65536))
                except OSError:
                    pass
                c.close()
            else:
                d, a = s.recvfrom(2048)
                s.sendto(d, a)

def main(mode):
    if mode == "up":
        code, body = get("/")
        assert code == 200 and b"<title>Graphs (darkstat pk0)</title>" in body, ("graphs page", code)
    elif mode == "setup-host":
        send_udp("10.78.0.1", 7001, 72, 5)
        expect("10.78.0.1", 7001, 72, 5)
    elif mode == "check":
        seed = int(sys.argv[2])
        for i in range(20):
            h = (seed // 7 + i * 7919) % (250 * 254)
            addr = "10.78.%d.%d" % (1 + h // 254, 1 + h % 254)
            if host_in(addr, 0) is None:
                break
        else:
            sys.exit("no unseen address found in 10.78.1.0-10.78.250.255")
        port = 10000 + seed % 50000
        size = 20 + (seed // 13) % 400
        send_udp(addr, port, size, 3)
        expect(addr, port, size, 3)
        code, body = get("/hosts/?full=yes")
        assert code == 200, ("hosts table", code)
        assert ('<a href="./%s/">%s</a>' % (addr, addr)).encode() in body, "%s not in the hosts table" % addr
        # From setup, before every restart and crash: 5 datagrams of 72 bytes, 500 bytes of IP.
        got = host_in("10.78.0.1", 7001)
        assert got == (500, 500), "setup's host 10.78.0.1 counts %s, not 500 bytes on UDP 7001" % (got,)
        code, _ = get("/hosts/192.0.2.1/")
        assert code == 404, ("unknown host", code)
    elif mode == "load":
        for r in range(int(sys.argv[2])):
            traffic(r)
            load()
            time.sleep(0.5)
    elif mode == "server":
        server()
    else:
        sys.exit("usage")

try:
    main(sys.argv[1])
except Exception as e:  # one line: what failed
    sys.exit("%s: %s" % (type(e).__name__, e))
PY
)
ds() { /usr/bin/python3 -c "$PY" "$@"; }
up() {
    i=0
    until ds up 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 120 ] || { ds up; return 1; }; sleep 0.5
    done
}
export_db() { # SIGUSR2: darkstat writes darkstat.db in its chroot, keeping its counts
    pid=$(cat /run/darkstat.pid 2>/dev/null) || return 0
    kill -USR2 "$pid"
}
case "${1:-}" in
setup)
    ip link add pk0 type veth peer name pk1
    ip netns add packd
    ip link set pk1 netns packd
    ip addr add 10.77.1.1/24 dev pk0
    ip addr add fd77:1::1/64 dev pk0 nodad
    ip link set pk0 up
    ip netns exec packd ip link set lo up
    ip netns exec packd ip addr add 10.77.1.2/24 dev pk1
    ip netns exec packd ip addr add fd77:1::2/64 dev pk1 nodad
    ip netns exec packd ip link set pk1 up
    ip route add 10.78.0.0/16 via 10.77.1.2
    sed -i -e 's/^START_DARKSTAT=.*/START_DARKSTAT=yes/' \
        -e 's/^INTERFACE=.*/INTERFACE="-i pk0"/' \
        -e 's/^#PORT=.*/PORT="-p 667"/' \
        -e 's/^#BINDIP=.*/BINDIP="-b 127.0.0.1"/' \
        -e 's/^#DAYLOG=/DAYLOG=/' /etc/darkstat/init.cfg
    systemctl start darkstat.service
    up
    ds setup-host
    rm -f /var/lib/darkstat/darkstat.db
    export_db
    i=0
    until [ -s /var/lib/darkstat/darkstat.db ]; do
        i=$((i + 1)); [ $i -lt 120 ] || { echo "darkstat.db not exported" >&2; exit 1; }; sleep 0.5
    done
    ;;
load)
    up
    # The echo server in packd, for the conversations below.
    ip netns exec packd timeout 30 /usr/bin/python3 -c "$PY" server 15 &
    srv=$!
    i=0
    until ip netns exec packd ss -Hltn 'sport = 8080' | grep -q LISTEN; do
        i=$((i + 1)); [ $i -lt 40 ] || break; sleep 0.25
    done
    ping -c 5 -i 0.2 -W 1 10.77.1.2 >/dev/null || true
    ping -6 -c 3 -i 0.2 -W 1 fd77:1::2 >/dev/null || true
    ping -c 2 -i 0.2 -W 1 10.78.0.5 >/dev/null || true
    ping -s 1200 -c 3 -i 0.2 -W 1 10.77.1.2 >/dev/null || true
    ds load 3 || true
    export_db || true
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    ;;
check)
    up
    ds check "$$$(date +%s%N | cut -c9-16)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
