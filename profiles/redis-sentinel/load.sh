#!/bin/sh
# Redis 7.0 Sentinel as Debian 12 packages it (redis-sentinel.service: Type=notify as redis,
# `redis-sentinel /etc/redis/sentinel.conf --supervised systemd`, port 26379 on every address,
# the unit already hardened by Debian: ProtectSystem=strict with ReadWritePaths= for
# /var/lib/redis, /var/log/redis, /run/sentinel and ReadWriteDirectories=-/etc/redis, since
# Sentinel rewrites its own sentinel.conf (a temporary file beside it, renamed over it) at
# every start and on every change of state; NoExecPaths=/ with ExecPaths= for itself and the
# libraries), run inside the pack's guest systemd. Debian's sentinel.conf monitors
# `mymaster 127.0.0.1 6379 2`; its first rewrite, at the first start, also writes the command
# line's `daemonize no` and `supervised systemd` into it. In a failover Sentinel sends CONFIG
# REWRITE to the Redis instances too: they rewrite their own /etc/redis/redis*.conf.
# Clients: redis-cli and a small python3 speaking RESP.
#   setup: redis-server.service (Debian's, 127.0.0.1:6379) started; a second Redis as its
#          replica on 127.0.0.1:6380, as Debian's redis-server@.service describes it (its own
#          /etc/redis/redis-replica.conf copied from redis.conf: port, dbfilename, logfile,
#          pidfile, `replicaof 127.0.0.1 6379`), redis-server@replica.service started; then
#          redis-sentinel.service started, the quorum of mymaster set to 1 at run time
#          (`SENTINEL SET mymaster quorum 1`, which Sentinel writes into its sentinel.conf), and
#          waited for until it knows the replica (a `sentinel known-replica` line written).
#   load:  a subscriber on all of Sentinel's event channels (PSUBSCRIBE *) the whole time; a
#          real failover (`SENTINEL FAILOVER mymaster`: the replica promoted with REPLICAOF NO
#          ONE and CONFIG REWRITE, +switch-master, about 1 s) and the way back at once (the old
#          master promoted again), then Sentinel itself turns the demoted instance back into a
#          replica (+convert-to-slave, 8-10 s later: Sentinel's own wait before reconfiguring an
#          instance that claims the wrong role), waited for so that the state is consistent when
#          load ends (about 13 s in all); meanwhile:
#          SENTINEL MASTERS, MASTER, REPLICAS, SENTINELS, CKQUORUM, INFO-CACHE, MYID,
#          GET-MASTER-ADDR-BY-NAME, IS-MASTER-DOWN-BY-ADDR, PENDING-SCRIPTS, DEBUG, FLUSHCONFIG,
#          SENTINEL SET of down-after-milliseconds, parallel-syncs and failover-timeout (and
#          back), SENTINEL CONFIG GET/SET, a second master monitored, set, reset and removed,
#          ACL SETUSER/AUTH/DELUSER (the user written into sentinel.conf and removed), INFO,
#          ROLE, CLIENT, HELLO 3, COMMAND, PING; error paths: an unknown master, a duplicate
#          name, quorum 0, a notification script refused (deny-scripts-reconfig), a wrong
#          password, a command Sentinel does not have; the log rotated with Debian's
#          /etc/logrotate.d/redis-sentinel (Redis opens its log for each line: a new file).
#   check: waits until mymaster is consistent (its address 127.0.0.1:6379 or :6380, the other
#          one known as its replica, linked to it, quorum 1 as setup set it: state kept in
#          the rewritten sentinel.conf through restarts); then a master with a fresh name is
#          monitored (SENTINEL MONITOR, at mymaster's address, quorum 1): a subscriber on
#          +monitor gets exactly `master NAME 127.0.0.1 PORT quorum 1`,
#          GET-MASTER-ADDR-BY-NAME answers its address, /etc/redis/sentinel.conf holds
#          `sentinel monitor NAME 127.0.0.1 PORT 1`; SENTINEL REMOVE, and the line is gone
#          from the file.
set -eu
py() { # py MODE [ARGS]: see the modes at the end
    /usr/bin/python3 - "$@" <<'PY'
import os, socket, sys, time

class Err(str):
    pass

class R:
    """A RESP client with a buffer of its own: a timeout never loses half a reply."""
    def __init__(self, port=26379, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d
    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def bulk(self, n):
        while len(self.buf) < n + 2:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d
    def ready(self):
        """A whole reply may be read without waiting (or the socket's timeout passes first)."""
        if not self.buf:
            self.fill()
    def read(self):
        line = self.line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Err(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.bulk(n).decode(errors="replace")
        if t in (b"*", b">", b"%"):
            n = int(rest) * (2 if t == b"%" else 1)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")
    def cmd(self, *args):
        self.send(*args)
        return self.read()

def kv(flat):
    return dict(zip(flat[0::2], flat[1::2]))

def state(r, linked=True):
    """mymaster's port, its replica's port and None, or None, None and what is not right yet;
    linked=False: the replica may still be syncing."""
    addr = r.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
    if not isinstance(addr, list) or addr[0] != "127.0.0.1" or addr[1] not in ("6379", "6380"):
        return None, None, f"mymaster's address is {addr!r}"
    port = addr[1]
    other = "6380" if port == "6379" else "6379"
    m = kv(r.cmd("SENTINEL", "MASTER", "mymaster"))
    if m.get("flags") != "master":
        return None, None, f"mymaster at {port} has flags {m.get('flags')}"
    if m.get("quorum") != "1":
        return None, None, f"mymaster's quorum is {m.get('quorum')}, not the 1 set at setup"
    reps = [kv(x) for x in r.cmd("SENTINEL", "REPLICAS", "mymaster")]
    rep = [x for x in reps if x.get("ip") == "127.0.0.1" and x.get("port") == other]
    if not rep:
        return None, None, f"mymaster at {port}: {other} not known as its replica ({[x.get('name') for x in reps]})"
    rep = rep[0]
    if rep.get("flags") != "slave":
        return None, None, f"replica {other}: flags {rep.get('flags')}"
    # The instances themselves (Sentinel's view of a replica's role lags up to 10 s, its INFO
    # period): the other one replicating from mymaster's address.
    info = R(int(other)).cmd("INFO", "replication")
    info = dict(l.split(":", 1) for l in info.splitlines() if ":" in l)
    link = info.get("master_link_status") if linked else "up"
    if (info.get("role"), info.get("master_port"), link) != ("slave", port, "up"):
        return None, None, f"redis on {other}: role {info.get('role')}, master port {info.get('master_port')}, link {info.get('master_link_status')}"
    return port, other, None

def consistent(limit, linked=True):
    end = time.time() + limit
    why = "Sentinel does not answer on 127.0.0.1:26379"
    while time.time() < end:
        try:
            r = R()
            port, other, why = state(r, linked)
            if port:
                return r, port, other
        except (OSError, EOFError) as e:
            why = f"Sentinel on 127.0.0.1:26379: {e}"
        time.sleep(0.5)
    sys.exit(why)

def master_port(r):
    a = r.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
    return a[1] if isinstance(a, list) else None

def conf():
    with open("/etc/redis/sentinel.conf") as f:
        return f.read().splitlines()

mode = sys.argv[1]
if mode == "ping":
    # Sentinel answers and knows mymaster's address.
    r = R(timeout=2)
    assert r.cmd("PING") == "PONG"
    assert isinstance(r.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"), list)
elif mode == "consistent":
    r, port, other = consistent(float(sys.argv[2]), sys.argv[3:] != ["syncing"])
    print(port)
elif mode == "check":
    token = sys.argv[2]
    name = "pack-check-" + token
    r, port, other = consistent(45)
    sub = R()
    assert sub.cmd("SUBSCRIBE", "+monitor") == ["subscribe", "+monitor", 1]
    got = r.cmd("SENTINEL", "MONITOR", name, "127.0.0.1", port, 1)
    try:
        if got != "OK":
            sys.exit(f"SENTINEL MONITOR {name}: {got!r}")
        want = f"master {name} 127.0.0.1 {port} quorum 1"
        msg = sub.read()
        if msg != ["message", "+monitor", want]:
            sys.exit(f"+monitor event: {msg!r}, not {want!r}")
        addr = r.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
        if addr != ["127.0.0.1", port]:
            sys.exit(f"GET-MASTER-ADDR-BY-NAME {name}: {addr!r}")
        line = f"sentinel monitor {name} 127.0.0.1 {port} 1"
        if line not in conf():
            sys.exit(f"/etc/redis/sentinel.conf lacks {line!r}: not persisted")
    finally:
        removed = r.cmd("SENTINEL", "REMOVE", name)
    if removed != "OK":
        sys.exit(f"SENTINEL REMOVE {name}: {removed!r}")
    if r.cmd("SENTINEL", "MASTER", name) != Err("ERR No such master with that name"):
        sys.exit(f"{name} still monitored after SENTINEL REMOVE")
    if any(name in l for l in conf()):
        sys.exit(f"/etc/redis/sentinel.conf still names {name} after SENTINEL REMOVE")
elif mode == "known-replica":
    # Setup: the replica known and written into sentinel.conf.
    r, port, other = consistent(60)
    end = time.time() + 30
    while f"sentinel known-replica mymaster 127.0.0.1 {other}" not in conf():
        if time.time() > end:
            sys.exit(f"sentinel.conf has no known-replica line for {other}")
        time.sleep(0.5)
elif mode == "subscribe":
    # Every event Sentinel publishes, until the stop file appears; a summary at the end.
    stop = sys.argv[2]
    def subscribe():
        r = R()
        r.send("PSUBSCRIBE", "*")
        r.s.settimeout(0.5)
        return r
    r = subscribe()
    seen = {}
    end = time.time() + 120
    while not os.path.exists(stop) and time.time() < end:
        try:
            r.ready()
        except socket.timeout:
            continue
        except (OSError, EOFError):
            # Sentinel restarted under us: subscribe again.
            time.sleep(0.5)
            try:
                r = subscribe()
            except OSError:
                pass
            continue
        try:
            r.s.settimeout(5)
            m = r.read()
            r.s.settimeout(0.5)
        except (OSError, EOFError):
            continue
        if isinstance(m, list) and m and m[0] == "pmessage":
            seen[m[2]] = seen.get(m[2], 0) + 1
    print("events:", " ".join(f"{k}={v}" for k, v in sorted(seen.items())))
elif mode == "failover":
    # SENTINEL FAILOVER mymaster (retried while a failover is in progress or while no replica
    # is good yet) and the wait for +switch-master: mymaster at the other port.
    r = R()
    before = master_port(r)
    end = time.time() + 15
    while True:
        got = r.cmd("SENTINEL", "FAILOVER", "mymaster")
        if got == "OK":
            break
        if time.time() > end:
            sys.exit(f"SENTINEL FAILOVER mymaster: {got!r}")
        time.sleep(0.2)
    end = time.time() + 15
    while master_port(r) == before:
        if time.time() > end:
            sys.exit(f"mymaster still at {before} 15 s after SENTINEL FAILOVER")
        time.sleep(0.1)
    print(f"mymaster {before} -> {master_port(r)}")
else:
    sys.exit(f"unknown mode {mode}")
PY
}
sc() { redis-cli -p 26379 "$@"; }
up() {
    i=0
    until py ping 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "Sentinel does not answer on 127.0.0.1:26379" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start redis-server.service
    # A second instance as Debian's redis-server@.service says to make one, a replica of the first.
    conf=/etc/redis/redis-replica.conf
    cp /etc/redis/redis.conf $conf
    chown redis:redis $conf
    sed -i -e 's@^port .*@port 6380@' \
        -e 's@^dbfilename .*@dbfilename dump-replica.rdb@' \
        -e 's@^logfile .*@logfile /var/log/redis/redis-server-replica.log@' \
        -e 's@^pidfile .*@pidfile /run/redis-replica/redis-server.pid@' $conf
    echo 'replicaof 127.0.0.1 6379' >>$conf
    systemctl start redis-server@replica.service
    i=0
    until redis-cli -p 6380 info replication 2>/dev/null | grep -q '^master_link_status:up'; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "the replica on 6380 does not sync from 6379" >&2; exit 1; }; sleep 0.2
    done
    systemctl start redis-sentinel.service
    up
    [ "$(sc sentinel set mymaster quorum 1)" = OK ]
    py known-replica
    ;;
load)
    up
    tmp=$(mktemp -d)
    py subscribe "$tmp/stop" &
    trap 'touch "$tmp/stop"; wait; rm -rf "$tmp"' EXIT
    # A consistent state to start from (a restart just before may have come mid-failover).
    py consistent 40 >/dev/null || true
    # A real failover and straight back: each a +switch-master (about 1 s each).
    py failover && py failover || echo "failover did not complete" >&2
    # While Sentinel waits to turn the demoted instance back into a replica (its own 8-10 s).
    sc ping
    sc info >/dev/null
    for s in server clients stats sentinel cpu everything; do sc info $s >/dev/null; done
    sc role
    sc sentinel masters >/dev/null
    sc sentinel master mymaster >/dev/null
    sc sentinel replicas mymaster >/dev/null
    sc sentinel slaves mymaster >/dev/null
    sc sentinel sentinels mymaster
    sc sentinel ckquorum mymaster
    sc sentinel get-master-addr-by-name mymaster
    sc sentinel info-cache mymaster >/dev/null
    sc sentinel myid
    sc sentinel pending-scripts
    sc sentinel is-master-down-by-addr 127.0.0.1 6379 0 '*'
    sc sentinel debug >/dev/null
    sc sentinel set mymaster down-after-milliseconds 20000 parallel-syncs 2
    sc sentinel set mymaster failover-timeout 120000
    sc sentinel master mymaster | grep -A1 -x down-after-milliseconds
    sc sentinel set mymaster down-after-milliseconds 30000 parallel-syncs 1 failover-timeout 180000
    sc sentinel config get '*' >/dev/null
    sc sentinel config set resolve-hostnames no
    sc sentinel config set announce-hostnames no
    sc sentinel config set announce-port 0
    sc sentinel flushconfig
    # A second master, on mymaster's address, for a while: set, reset and removed.
    second=pack-second-$$
    addr=$(sc sentinel get-master-addr-by-name mymaster | tail -n 1)
    sc sentinel monitor $second 127.0.0.1 "$addr" 1
    sc sentinel monitor $second 127.0.0.1 "$addr" 1 || true
    sc sentinel set $second down-after-milliseconds 10000 failover-timeout 60000
    sc sentinel master $second >/dev/null
    sc sentinel replicas $second >/dev/null
    sc sentinel reset "pack-second-*"
    sc sentinel master $second >/dev/null
    sc sentinel remove $second
    # Errors.
    sc sentinel master pack-nosuch || true
    sc sentinel remove pack-nosuch || true
    sc sentinel failover pack-nosuch || true
    sc sentinel monitor pack-bad 127.0.0.1 6379 0 || true
    sc sentinel set mymaster notification-script /bin/true || true
    sc sentinel set mymaster no-such-option 1 || true
    sc get pack-key || true
    sc --user pack-nosuch --pass wrong --no-auth-warning ping || true
    # A user of Sentinel's ACL, written into sentinel.conf, used, then removed.
    sc acl setuser pack-user on '>pack-pw' '+@all'
    sc sentinel flushconfig
    sc --user pack-user --pass pack-pw --no-auth-warning acl whoami
    sc acl list >/dev/null
    sc acl deluser pack-user
    sc sentinel flushconfig
    sc client setname pack-load
    sc client list >/dev/null
    sc client info >/dev/null
    sc -3 hello 3 >/dev/null
    sc command count
    sc command info ping >/dev/null
    # Debian's rotation (no postrotate: Redis opens its log for every line, so the next
    # line goes to a new file).
    logrotate -f -s "$tmp/logrotate.state" /etc/logrotate.d/redis-sentinel || true
    sc sentinel flushconfig
    # The demoted instance back as a replica: Sentinel's own +convert-to-slave (the sync
    # after it may take 5 s more: Debian's redis.conf has repl-diskless-sync-delay 5).
    py consistent 30 syncing || echo "mymaster not consistent yet" >&2
    touch "$tmp/stop"
    wait
    ;;
check)
    up
    py check "$$-$(date +%s%N)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
