#!/bin/sh
# unscd 0.54 (the micro name service cache daemon, a drop-in for glibc's nscd) as Debian 12
# packages it: unscd.service runs `/usr/sbin/nscd -d` (Type=notify, User=root, Restart=always,
# no hardening); the daemon binds /var/run/nscd/socket as root, then drops to the user unscd
# (Debian's `server-user unscd`), and for every cache miss vforks and re-executes itself as a
# worker (`worker_nscd`) that looks the name up through NSS (/etc/nsswitch.conf: files, then
# systemd, which asks /run/systemd/userdb/io.systemd.DynamicUser). Debian's /etc/nscd.conf
# unchanged: passwd (600 s positive, 20 s negative) and group (3600 s / 60 s) cached with
# check-files (it stats /etc/passwd, /etc/group and /etc/shadow at each request and flushes its
# cache when they change), hosts disabled (requests for it are dropped, glibc then resolves by
# itself). The shadow tools (useradd, userdel, usermod, groupadd) run `nscd -i passwd` and
# `nscd -i group` after each change. glibc's clients (getent, id, python's pwd/grp) ask unscd
# over the socket before reading the files themselves, so an answer through them could be
# glibc's own fallback: the checks below speak the nscd protocol to the socket directly
# (python3), so every answer they judge is unscd's.
#   setup: the unit started and waited for; a user packnscd and a group packnscd-extra with
#          packnscd as its member, made with useradd/groupadd (kept in /etc/passwd, /etc/group).
#   load:  the system's users and groups by name and by id through getent, id and python's
#          pwd/grp/getgrouplist, initgroups, hosts through getent and getaddrinfo (dropped by
#          unscd, glibc's fallback), unknown names and ids (negative cache), the nscd protocol
#          spoken directly (every request type, 12 clients at once on a name nobody asked
#          before, malformed requests: a wrong version, a huge or zero key length, no NUL, an
#          unknown type, garbage, a client that stops mid-header), a user added, its groups
#          changed (usermod -aG), its /etc/passwd line edited by hand (sed -i: seen through
#          check-files alone), a cached user removed, a group added and removed,
#          `nscd -i passwd/group/hosts` as root, invalidate and shutdown from a non-root user
#          (ignored), `nscd -K` as root in the middle (unscd exits, Restart=always starts it
#          again), then more lookups.
#   check: a fresh name is asked over the socket first (not found, now in the negative cache),
#          then added with useradd: GETPWBYNAME must answer its /etc/passwd line byte for byte,
#          GETPWBYUID too, GETGRBYNAME its group's /etc/group line, INITGROUPS its gid; once
#          removed with userdel, the socket says not found (no stale positive cache); root and
#          the setup's user packnscd answered over the socket, packnscd-extra lists packnscd.
set -eu
SOCK=/var/run/nscd/socket
ns() { # ns MODE [ARGS]: see the modes below
    /usr/bin/python3 - "$@" <<'PY'
import grp, os, pwd, random, socket, struct, sys, threading, time

SOCK = "/var/run/nscd/socket"
GETPWBYNAME, GETPWBYUID, GETGRBYNAME, GETGRBYGID = 0, 1, 2, 3
GETHOSTBYNAME, GETHOSTBYNAMEv6, GETHOSTBYADDR, GETHOSTBYADDRv6 = 4, 5, 6, 7
SHUTDOWN, GETSTAT, INVALIDATE, GETFDPW, GETFDGR, GETFDHST, GETAI, INITGROUPS = 8, 9, 10, 11, 12, 13, 14, 15

WAIT = 30.0  # how long a connect is retried: unscd busy, or being started again

def connect(timeout=10):
    # unscd serves a fixed number of clients at once and listens with a short backlog: a
    # connect then fails with EAGAIN (glibc's clients fall back to the files); retry it, and
    # while unscd is started again after a crash or restart (refused, or no socket yet).
    deadline = time.time() + WAIT
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(SOCK)
            return s
        except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.01 if WAIT < 1 else 0.1)

def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            break
        out += d
    return out

def request(typ, key, timeout=10):
    """One request as glibc sends it: version 2, type, key length, key with its NUL."""
    k = (key.encode() if isinstance(key, str) else key) + b"\0"
    s = connect(timeout)
    s.sendall(struct.pack("iii", 2, typ, len(k)) + k)
    return s

def getpw(typ, key):
    """(name, passwd, uid, gid, gecos, dir, shell) or None when unscd says not found."""
    s = request(typ, key)
    h = recv_exact(s, 36)
    if len(h) != 36:
        raise EOFError(f"passwd request {typ} {key!r}: {len(h)}-byte answer")
    ver, found, nl, pl, uid, gid, gl, dl, sl = struct.unpack("iiiiIIiii", h)
    if ver != 2:
        raise ValueError(f"version {ver}")
    if found != 1:
        return None
    body = recv_exact(s, nl + pl + gl + dl + sl)
    s.close()
    f, o = [], 0
    for n in (nl, pl, gl, dl, sl):
        f.append(body[o:o + n - 1].decode())
        if body[o + n - 1:o + n] != b"\0":
            raise ValueError("string without its NUL")
        o += n
    return (f[0], f[1], uid, gid, f[2], f[3], f[4])

def getgr(typ, key):
    """(name, passwd, gid, [members]) or None."""
    s = request(typ, key)
    h = recv_exact(s, 24)
    if len(h) != 24:
        raise EOFError(f"group request {typ} {key!r}: {len(h)}-byte answer")
    ver, found, nl, pl, gid, cnt = struct.unpack("iiiiIi", h)
    if found != 1:
        return None
    lens = struct.unpack(f"{cnt}i", recv_exact(s, 4 * cnt))
    body = recv_exact(s, nl + pl + sum(lens))
    s.close()
    strs, o = [], 0
    for n in (nl, pl) + lens:
        strs.append(body[o:o + n - 1].decode())
        o += n
    return (strs[0], strs[1], gid, strs[2:])

def initgroups(user):
    s = request(INITGROUPS, user)
    h = recv_exact(s, 12)
    if len(h) != 12:
        raise EOFError(f"initgroups {user!r}: {len(h)}-byte answer")
    ver, found, n = struct.unpack("iii", h)
    if found != 1:
        return None
    gids = list(struct.unpack(f"{n}I", recv_exact(s, 4 * n)))
    s.close()
    return gids

def raw(data, hold=0.0, timeout=5):
    """Sends bytes as they are; returns what comes back (b"" when unscd drops it)."""
    s = connect(timeout)
    out = b""
    try:
        s.sendall(data)
        if hold:
            time.sleep(hold)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    s.close()
    return out

def line(rec):
    return ":".join(str(x) for x in rec)

def file_line(path, name):
    with open(path) as f:
        for l in f:
            if l.split(":", 1)[0] == name:
                return l.rstrip("\n")
    return None

def fail(msg):
    sys.exit(msg)

mode = sys.argv[1]
if mode == "ping":
    WAIT = 0.5
    try:
        r = getpw(GETPWBYNAME, "root")
    except Exception as e:
        fail(f"root over {SOCK}: {e!r}")
    if not r or r[2] != 0:
        fail(f"root over the socket: {r}")
elif mode == "pw":            # pw NAME: prints the passwd line unscd answers, or nothing
    r = getpw(GETPWBYNAME, sys.argv[2])
    if r:
        print(line(r))
elif mode == "expect":        # expect NAME LINE|-: GETPWBYNAME must answer LINE (- : not found)
    name, want = sys.argv[2], sys.argv[3]
    deadline = time.time() + 3
    while True:
        try:
            r = getpw(GETPWBYNAME, name)
            got = line(r) if r else "-"
        except (OSError, EOFError) as e:   # unscd went away mid-request: ask again
            got = repr(e)
        if got == want or time.time() > deadline:
            break
        time.sleep(0.1)
    if got != want:
        fail(f"unscd answers {name!r} with {got!r}, /etc/passwd says {want!r}")
elif mode == "check":         # check NAME: NAME was just added with useradd
    name = sys.argv[2]
    want = file_line("/etc/passwd", name)
    if want is None:
        fail(f"useradd did not write {name} to /etc/passwd")
    r = getpw(GETPWBYNAME, name)
    if r is None:
        fail(f"unscd does not know {name}, just added (stale negative answer)")
    if line(r) != want:
        fail(f"unscd answers {line(r)!r}, /etc/passwd says {want!r}")
    uid, gid = r[2], r[3]
    r2 = getpw(GETPWBYUID, str(uid))
    if r2 is None or line(r2) != want:
        fail(f"uid {uid} over the socket: {r2}")
    g = getgr(GETGRBYNAME, name)
    gl = file_line("/etc/group", name)
    if g is None or gl is None or f"{g[0]}:{g[1]}:{g[2]}:{','.join(g[3])}" != gl:
        fail(f"group {name} over the socket: {g}, /etc/group says {gl!r}")
    if g[2] != gid:
        fail(f"group {name} has gid {g[2]}, the user's is {gid}")
    ig = initgroups(name)
    if ig is None or gid not in ig:
        fail(f"initgroups {name}: {ig}, lacks {gid}")
    # And glibc's own path (nscd first) agrees.
    p = pwd.getpwnam(name)
    if p.pw_uid != uid or p.pw_dir != r[5]:
        fail(f"pwd.getpwnam({name!r}) = {p}")
    print(uid)
elif mode == "setup-state":   # root and the setup's user and group, over the socket
    r = getpw(GETPWBYNAME, "root")
    if r is None or line(r) != file_line("/etc/passwd", "root") or r[2] != 0:
        fail(f"root over the socket: {r}")
    r = getpw(GETPWBYUID, "0")
    if r is None or r[0] != "root":
        fail(f"uid 0 over the socket: {r}")
    want = file_line("/etc/passwd", "packnscd")
    r = getpw(GETPWBYNAME, "packnscd")
    if want is None or r is None or line(r) != want:
        fail(f"packnscd (setup) over the socket: {r}, /etc/passwd says {want!r}")
    g = getgr(GETGRBYNAME, "packnscd-extra")
    if g is None or "packnscd" not in g[3]:
        fail(f"packnscd-extra (setup) over the socket: {g}")
    g2 = getgr(GETGRBYGID, str(g[2]))
    if g2 is None or g2[0] != "packnscd-extra":
        fail(f"gid {g[2]} over the socket: {g2}")
    ig = initgroups("packnscd")
    if ig is None or g[2] not in ig or r[3] not in ig:
        fail(f"initgroups packnscd: {ig}")
elif mode == "glibc":         # glibc's clients (nscd first, then the files) for SECS seconds
    secs = float(sys.argv[2])
    end = time.time() + secs
    rnd = random.Random(os.getpid())
    users = [p for p in pwd.getpwall()]
    groups = [g for g in grp.getgrall()]
    while time.time() < end:
        # (users and groups come and go while this runs: not found is an answer too)
        for p in rnd.sample(users, min(10, len(users))):
            try:
                pwd.getpwnam(p.pw_name)
                pwd.getpwuid(p.pw_uid)
                os.getgrouplist(p.pw_name, p.pw_gid)
            except (KeyError, OSError):
                pass
        for g in rnd.sample(groups, min(10, len(groups))):
            try:
                grp.getgrnam(g.gr_name)
                grp.getgrgid(g.gr_gid)
            except KeyError:
                pass
        for bad in (f"nosuch{rnd.randint(0, 30)}", "nobody-at-all", "root "):
            try:
                pwd.getpwnam(bad)
            except KeyError:
                pass
            try:
                grp.getgrnam(bad)
            except KeyError:
                pass
        for bad in (rnd.randint(70000, 70030), 4000000000):
            try:
                pwd.getpwuid(bad)
            except KeyError:
                pass
            try:
                grp.getgrgid(bad)
            except KeyError:
                pass
        for host in ("localhost", "ip6-localhost", "no-such-host.invalid"):
            try:
                socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP)
                socket.gethostbyname(host)
            except OSError:
                pass
        try:
            socket.gethostbyaddr("127.0.0.1")
        except OSError:
            pass
        time.sleep(0.02)
elif mode == "proto":         # the protocol spoken directly, for SECS seconds
    secs = float(sys.argv[2])
    end = time.time() + secs
    rnd = random.Random(os.getpid())
    names = [l.split(":", 1)[0] for l in open("/etc/passwd")]
    gnames = [l.split(":", 1)[0] for l in open("/etc/group")]
    while time.time() < end:
        try:
            for n in rnd.sample(names, min(8, len(names))):
                r = getpw(GETPWBYNAME, n)
                if r:
                    getpw(GETPWBYUID, str(r[2]))
                    initgroups(n)
            for n in rnd.sample(gnames, min(8, len(gnames))):
                g = getgr(GETGRBYNAME, n)
                if g:
                    getgr(GETGRBYGID, str(g[2]))
            getpw(GETPWBYNAME, f"pack-unknown-{rnd.randint(0, 20)}")
            getpw(GETPWBYUID, str(rnd.randint(80000, 80020)))
            getgr(GETGRBYNAME, f"pack-nogroup-{rnd.randint(0, 20)}")
            getgr(GETGRBYGID, "4294967294")
            getpw(GETPWBYNAME, "x" * 250)
            # hosts is disabled in Debian's nscd.conf: unscd drops these; the fd requests
            # (glibc's shared-memory maps) and the statistics request are not supported.
            for typ, key in ((GETHOSTBYNAME, "localhost"), (GETHOSTBYNAMEv6, "localhost"),
                             (GETHOSTBYADDR, socket.inet_aton("127.0.0.1")),
                             (GETAI, "localhost"), (GETFDPW, "passwd"), (GETFDGR, "group"),
                             (GETFDHST, "hosts"), (GETSTAT, "")):
                k = (key.encode() if isinstance(key, str) else key) + b"\0"
                raw(struct.pack("iii", 2, typ, len(k)) + k)
            # Malformed requests: dropped, but for an empty key (answered "not found") and
            # a uid that is no number (unscd reads it as 0 and answers root).
            raw(struct.pack("iii", 3, GETPWBYNAME, 5) + b"root\0")            # wrong version
            raw(struct.pack("iii", 2, GETPWBYNAME, 100000) + b"root\0")       # huge key length
            raw(struct.pack("iii", 2, GETPWBYNAME, 4) + b"root")              # no NUL
            raw(struct.pack("iii", 2, GETPWBYNAME, 0))                        # empty key
            raw(struct.pack("iii", 2, 99, 5) + b"root\0")                     # unknown type
            raw(b"GET / HTTP/1.0\r\n\r\n")                                    # not nscd at all
            raw(struct.pack("iii", 2, GETPWBYUID, 4) + b"abc\0")              # not a number
            time.sleep(0.02)
        except (OSError, EOFError, ValueError, struct.error):
            time.sleep(0.1)    # unscd restarting: its socket answers again soon
elif mode == "slow":          # a client that stops mid-header, then goes away
    try:
        raw(struct.pack("ii", 2, GETPWBYNAME), hold=float(sys.argv[2]), timeout=float(sys.argv[2]) + 1)
    except OSError:
        pass
elif mode == "crowd":         # N clients at once asking one name nobody asked before
    name, n = sys.argv[2], int(sys.argv[3])
    want = file_line("/etc/passwd", name)
    res = [None] * n
    def one(i):
        try:
            r = getpw(GETPWBYNAME, name)
            res[i] = line(r) if r else "-"
        except Exception as e:
            res[i] = repr(e)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    bad = [r for r in res if r != want]
    if bad:
        fail(f"crowd for {name}: {bad[:3]}")
PY
}
up() {
    i=0
    until ns ping 2>/dev/null; do
        i=$((i + 1))
        if [ $i -ge 150 ]; then
            echo "unscd does not answer on $SOCK: $(ns ping 2>&1 | tail -n 1)" >&2
            return 1
        fi
        sleep 0.2
    done
}
glibc_round() { # getent, id for every user and group in the files, plus unknown ones
    for u in $(cut -d: -f1 /etc/passwd); do
        getent passwd "$u" >/dev/null || true
        id "$u" >/dev/null 2>&1 || true
    done
    for uid in $(cut -d: -f3 /etc/passwd); do getent passwd "$uid" >/dev/null || true; done
    for g in $(cut -d: -f1 /etc/group); do getent group "$g" >/dev/null || true; done
    for gid in $(cut -d: -f3 /etc/group); do getent group "$gid" >/dev/null || true; done
    getent initgroups root packnscd >/dev/null 2>&1 || true
    getent passwd no-such-user-pack 424242 >/dev/null || true
    getent group no-such-group-pack 424242 >/dev/null || true
    id no-such-user-pack >/dev/null 2>&1 || true
    getent hosts localhost >/dev/null || true
    getent ahosts localhost >/dev/null || true
    getent hosts 127.0.0.1 >/dev/null || true
    getent hosts no-such-host.invalid >/dev/null || true
}
case "${1:-}" in
setup)
    systemctl start unscd.service
    up
    getent group packnscd-extra >/dev/null || groupadd packnscd-extra
    getent passwd packnscd >/dev/null ||
        useradd -M -s /usr/sbin/nologin -c "pack unscd setup" -G packnscd-extra packnscd
    ns setup-state
    ;;
load)
    up
    t=$(date +%s%N | cut -c 9-16)
    gone="plg$$t$t" new="pln$$t$t" grpn="plgrp$$t$t"
    useradd -M -s /usr/sbin/nologin -c "pack load, removed" "$gone"
    ns expect "$gone" "$(grep "^$gone:" /etc/passwd)"
    ns proto 4 &
    ns glibc 4 &
    ns slow 3 &
    glibc_round
    # A user added: nobody asked for the name before, so many clients at once wait for one worker.
    useradd -M -s /bin/sh -c "pack load, added" "$new"
    ns crowd "$new" 12
    ns expect "$new" "$(grep "^$new:" /etc/passwd)"
    id "$new" >/dev/null
    # Its groups changed, a group added and removed, a cached user removed.
    groupadd "$grpn"
    ns expect "$new" "$(grep "^$new:" /etc/passwd)"
    usermod -aG "$grpn" "$new"
    # Edited by hand, as with an editor (no shadow tool, so no `nscd -i`): unscd's check-files
    # sees /etc/passwd change and drops its cached answer.
    ns expect "$new" "$(grep "^$new:" /etc/passwd)"
    sed -i "s/^\($new:[^:]*:[^:]*:[^:]*:\)[^:]*:/\1pack load, edited by hand:/" /etc/passwd
    ns expect "$new" "$(grep "^$new:" /etc/passwd)"
    getent group "$grpn" >/dev/null
    id "$new" >/dev/null
    userdel "$gone"
    ns expect "$gone" -
    # Invalidation as root; as another user, invalidate and shutdown are ignored.
    nscd -i passwd
    nscd -i group
    nscd -i hosts
    setpriv --reuid nobody --regid nogroup --clear-groups nscd -i passwd || true
    setpriv --reuid nobody --regid nogroup --clear-groups nscd -K 2>/dev/null || true
    setpriv --reuid nobody --regid nogroup --clear-groups getent passwd root packnscd >/dev/null || true
    wait
    # A restart in the middle: `nscd -K` as root asks unscd to exit, and Restart=always starts it
    # again (not `systemctl restart` too: the recording restarts and crashes it after the load,
    # and every start more brings the unit closer to systemd's start limit, 5 in 10 s).
    old=$(systemctl show -p MainPID --value unscd.service)
    nscd -K 2>/dev/null || true
    i=0
    while :; do
        pid=$(systemctl show -p MainPID --value unscd.service)
        [ "$pid" = "$old" ] || [ "$pid" = 0 ] || break
        i=$((i + 1)); [ $i -lt 150 ] || break
        sleep 0.2
    done
    systemctl is-active --quiet unscd.service || systemctl start unscd.service
    up
    ns proto 2 &
    ns glibc 2 &
    ns expect "$new" "$(grep "^$new:" /etc/passwd)"
    ns setup-state
    glibc_round >/dev/null 2>&1
    wait
    userdel "$new"
    groupdel "$grpn"
    ns expect "$new" -
    ns setup-state
    ;;
check)
    up
    name="pkc$$t$(date +%s%N)"
    # Asked first (unscd caches "not found" for 20 s), then added: useradd runs `nscd -i`.
    [ -z "$(ns pw "$name")" ] || { echo "unscd knows $name before it exists" >&2; exit 1; }
    useradd -M -s /usr/sbin/nologin -c "pack check $(date +%s%N)" "$name"
    ok=0
    ns check "$name" >/dev/null && ok=1
    userdel "$name"
    [ $ok = 1 ] || exit 1
    ns expect "$name" -
    ns setup-state
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
