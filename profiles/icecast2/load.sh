#!/bin/sh
# Icecast 2.4.4 as Debian 12 packages it (icecast2): only an init script, /etc/init.d/icecast2
# (icecast2.service is systemd-sysv-generator's unit: Type=forking, RemainAfterExit=yes,
# KillMode=process, GuessMainPID=no; start-stop-daemon --chuid icecast2:icecast runs
# `icecast2 -b -c /etc/icecast2/icecast.xml`, which forks into the background; reload = the
# script's SIGHUP, which re-reads the configuration and reopens the logs), Debian's
# icecast.xml otherwise unchanged (port 8000 on every address, at most 2 sources and 100
# clients, no <changeowner>, <chroot>0, logs in /var/log/icecast2, rotated by the package's
# /etc/logrotate.d/icecast2, whose postrotate reloads through invoke-rc.d), run inside the
# pack's guest systemd. Clients: python3 speaking HTTP over TCP (sources with PUT and with the
# old SOURCE method, listeners with GET), curl (a file fed as a source with PUT).
#   setup: fresh source, relay and admin passwords in place of Debian's "hackme" (as the
#          package's debconf question would set them), the unit enabled and started; the
#          admin stats answer with the new admin password.
#   load:  about 9 s: two MP3 sources (random bytes labelled audio/mpeg: Icecast passes them
#          through; one PUT with `Expect: 100-continue`, one with SOURCE), paced, with 5
#          listeners (one asking for ICY metadata); every status page (status.xsl,
#          status-json.xsl, server_version.xsl, style.css, the / alias), the admin pages
#          (stats, listmounts, listclients, their .xsl renderings, streamlist.txt with the
#          relay password), the playlists (.m3u, .xspf, .vclt, buildm3u), metadata updates
#          (as admin and as the source), killclient, moveclients, a fallback set and used
#          (a source ending hands its listeners to the fallback), killsource; errors: a third
#          source past the 2-source limit (403), a mount in use (403), wrong and missing
#          source and admin passwords (401), a missing file (404), a moveclients to a mount
#          of another format, a malformed request; a reload (SIGHUP) with sources streaming
#          and a forced rotation with /etc/logrotate.d/icecast2 (gzip, postrotate reload);
#          then an Ogg/Opus source (well-formed Ogg pages with an OpusHead and OpusTags,
#          random audio packets) parsed by Icecast's Ogg code, whose listener gets the
#          headers and a fresh page; a random file fed by curl -T (PUT) as a source for 2 s;
#          ends with the check below.
#   check: a source on a fresh mount sends random bytes, a listener connects, then the source
#          sends a fresh token with fresh random bytes: the listener's bytes are a run of
#          exactly what the source sent and hold the token; the mount is in status-json.xsl
#          and in /admin/stats answered with setup's admin password (with one listener),
#          Debian's "hackme" is refused for admin and source (401), and once the source
#          leaves the mount is gone.
set -eu
ic() {
    python3 - "$@" <<'PY'
import base64, http.client, json, os, re, socket, struct, subprocess, sys, threading, time
import urllib.error, urllib.parse, urllib.request

HOST = ("127.0.0.1", 8000)
conf = open("/etc/icecast2/icecast.xml").read()
def pw(tag):
    return re.search(f"<{tag}>([^<]*)</{tag}>", conf).group(1)
SRC, RELAY, ADMIN = pw("source-password"), pw("relay-password"), pw("admin-password")

def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

def get(path, auth=None, timeout=10):
    req = urllib.request.Request("http://127.0.0.1:8000" + path)
    if auth:
        req.add_header("Authorization", basic(*auth))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (ConnectionError, http.client.HTTPException):
        return 0, b""  # Icecast hangs up on some bad requests (a path with "..")

def mounts():
    """The mounts status-json.xsl lists (one source is an object, more a list)."""
    st, body = get("/status-json.xsl")
    if st != 200:
        raise RuntimeError(f"status-json.xsl: {st}")
    s = json.loads(body)["icestats"].get("source", [])
    if isinstance(s, dict):
        s = [s]
    return {urllib.parse.urlparse(m["listenurl"]).path: m for m in s}

class Source:
    """A source client: PUT (optionally with Expect: 100-continue) or the old SOURCE method."""
    def __init__(self, mount, password=None, ctype="audio/mpeg", method="PUT", expect=False,
                 name="pack"):
        self.mount = mount
        self.s = socket.create_connection(HOST, timeout=10)
        auth = "" if password is False else \
            f"Authorization: {basic('source', SRC if password is None else password)}\r\n"
        self.s.sendall((f"{method} {mount} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{auth}"
                        f"Content-Type: {ctype}\r\nIce-Name: {name}\r\nIce-Public: 0\r\n"
                        f"Ice-Description: learner pack\r\nIce-Genre: test\r\n"
                        + ("Expect: 100-continue\r\n" if expect else "") + "\r\n").encode())
        r = b""
        while b"\r\n\r\n" not in r:
            d = self.s.recv(4096)
            if not d:
                break
            r += d
        self.status = int(r.split(b" ", 2)[1]) if r.startswith(b"HTTP/") else 0
        self.ok = self.status in (100, 200)
        if not self.ok:
            self.s.close()
    def send(self, data):
        self.s.sendall(data)
    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

class Listener:
    def __init__(self, mount, meta=False, timeout=10):
        self.s = socket.create_connection(HOST, timeout=timeout)
        self.s.sendall((f"GET {mount} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: pack-listener\r\n"
                        + ("Icy-MetaData: 1\r\n" if meta else "") + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.s.recv(4096)
            if not d:
                raise RuntimeError(f"listener on {mount}: closed before the headers")
            buf += d
        head, self.body = buf.split(b"\r\n\r\n", 1)
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1])
    def read_until(self, want, limit=15):
        end = time.time() + limit
        while want not in self.body and time.time() < end:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                break
            self.body += d
        return want in self.body
    def drain(self, secs):
        """Reads in the background (a listener playing) until closed or secs pass."""
        def run():
            end = time.time() + secs
            self.s.settimeout(1)
            while time.time() < end:
                try:
                    d = self.s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not d:
                    break
                self.body = (self.body + d)[-200000:]
            self.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t
    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

# Ogg pages (CRC-32 with Ogg's polynomial, unreflected) for an Opus stream.
CRC = []
for i in range(256):
    r = i << 24
    for _ in range(8):
        r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
    CRC.append(r & 0xFFFFFFFF)
def ogg_page(packet, serial, seq, granule, htype=0):
    segs, n = [], len(packet)
    while n >= 255:
        segs.append(255)
        n -= 255
    segs.append(n)
    p = struct.pack("<4sBBqIIIB", b"OggS", 0, htype, granule, serial, seq, 0, len(segs)) \
        + bytes(segs) + packet
    c = 0
    for b in p:
        c = ((c << 8) ^ CRC[((c >> 24) & 0xFF) ^ b]) & 0xFFFFFFFF
    return p[:22] + struct.pack("<I", c) + p[26:]

def check(token):
    mount = f"/{token}.mp3"
    if ADMIN == "hackme" or SRC == "hackme":
        sys.exit("the passwords are still Debian's hackme: setup's are gone")
    src = Source(mount, name="pack check")
    if not src.ok:
        sys.exit(f"source on {mount} refused: {src.status}")
    sent = os.urandom(12000)
    src.send(sent)
    end = time.time() + 20
    while mount not in mounts():
        if time.time() > end:
            sys.exit(f"{mount} not in status-json.xsl after its source connected")
        time.sleep(0.1)
    lis = Listener(mount)
    if lis.status != 200 or "audio/mpeg" not in lis.head:
        sys.exit(f"listener on {mount}: {lis.head.splitlines()[0]!r}")
    # The listener is attached once it has its first bytes (the burst of what was sent;
    # Icecast keeps back the last part-filled buffer until more comes).
    if not lis.read_until(sent[:1000]):
        sys.exit(f"listener on {mount} never got the burst (got {len(lis.body)} bytes)")
    payload = os.urandom(5000) + token.encode() + os.urandom(9000)
    # More after it, as a stream goes on: Icecast holds back its last part-filled buffer.
    sent += payload + os.urandom(8000)
    src.send(sent[-len(payload) - 8000:])
    if not lis.read_until(payload):
        sys.exit(f"listener on {mount} did not get the token {token} ({len(lis.body)} bytes)")
    if lis.body not in sent:
        sys.exit(f"listener on {mount} got bytes the source never sent in that order")
    st, xml = get("/admin/stats", ("admin", ADMIN))
    if st != 200:
        sys.exit(f"/admin/stats with setup's admin password: {st}")
    m = re.search(rf'<source mount="{re.escape(mount)}">(.*?)</source>', xml.decode(), re.S)
    if not m or "<listeners>1</listeners>" not in m.group(1):
        sys.exit(f"/admin/stats does not show {mount} with its listener")
    if get("/admin/stats", ("admin", "hackme"))[0] != 401:
        sys.exit("/admin/stats answered Debian's default admin password")
    bad = Source(mount.replace(".mp3", "-bad.mp3"), password="hackme")
    if bad.status != 401:
        sys.exit(f"a source with Debian's default password got {bad.status}, not 401")
    lis.close()
    src.close()
    end = time.time() + 20
    while mount in mounts():
        if time.time() > end:
            sys.exit(f"{mount} still listed after its source left")
        time.sleep(0.1)

def pace(src, secs, rate=24000, marks=None):
    """Sends random bytes at about rate bytes/s, with the marks now and then."""
    def run():
        end = time.time() + secs
        i = 0
        try:
            while time.time() < end:
                chunk = os.urandom(rate // 10)
                if marks and i % 5 == 0:
                    chunk = marks + b"%d" % i + chunk
                src.send(chunk)
                i += 1
                time.sleep(0.1)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t

def load(tag):
    adm = ("admin", ADMIN)
    a, b = f"/pack-a-{tag}.mp3", f"/pack-b-{tag}.mp3"
    A = Source(a, method="PUT", expect=True, name="pack A")
    B = Source(b, method="SOURCE", name="pack B")
    assert A.ok and B.ok, (A.status, B.status)
    ta, tb = pace(A, 7, marks=b"MARK-A"), pace(B, 3.5, marks=b"MARK-B")
    end = time.time() + 10
    while not {a, b} <= set(mounts()) and time.time() < end:
        time.sleep(0.1)
    ls = [Listener(a), Listener(a), Listener(a, meta=True), Listener(b), Listener(b)]
    for l in ls:
        assert l.status == 200, l.head
    assert "icy-metaint" in ls[2].head.lower(), ls[2].head
    threads = [l.drain(8) for l in ls]
    # Pages and their errors.
    for p in ["/", "/status.xsl", "/status-json.xsl", "/server_version.xsl", "/style.css",
              "/favicon.ico", "/status.xsl?mount=" + a, "/nothere.mp3", "/web/../../etc/passwd",
              a + ".m3u", a + ".xspf", a + ".vclt", "/admin/", "/admin/stats"]:
        get(p)
    assert get("/nothere.mp3")[0] == 404
    for p in ["/admin/stats", "/admin/stats.xsl", "/admin/listmounts", "/admin/listmounts.xsl",
              f"/admin/listclients?mount={a}", f"/admin/listclients.xsl?mount={b}",
              f"/admin/moveclients.xsl?mount={b}", f"/admin/updatemetadata.xsl?mount={a}",
              f"/admin/buildm3u?mount={a}&username=admin&password={ADMIN}",
              "/admin/nosuchcommand", f"/admin/listclients?mount=/nomount.mp3"]:
        get(p, adm)
    assert get("/admin/stats", ("admin", "wrong"))[0] == 401
    assert get("/admin/listmounts")[0] == 401
    assert get("/admin/streamlist.txt", ("relay", RELAY))[0] == 200
    assert get("/admin/streamlist.txt", ("relay", "wrong"))[0] == 401
    # Sources refused: past the limit of 2, a mount in use, wrong and missing passwords.
    assert Source(f"/pack-c-{tag}.mp3").status == 403
    assert Source(a).status == 403
    assert Source(f"/pack-d-{tag}.mp3", password="wrong").status == 401
    assert Source(f"/pack-d-{tag}.mp3", password=False).status == 401
    s = socket.create_connection(HOST, timeout=5)
    s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    # Metadata, as the admin and as the source.
    q = urllib.parse.quote
    assert get(f"/admin/metadata?mount={a}&mode=updinfo&song={q('Pack - Title ' + tag)}", adm)[0] == 200
    get(f"/admin/metadata?mount={b}&mode=updinfo&song={q('B side')}", ("source", SRC))
    ls[2].read_until(b"StreamTitle='Pack - Title", 3)
    # killclient, moveclients, a fallback.
    st, xml = get(f"/admin/listclients?mount={a}", adm)
    ids = re.findall(rb"<ID>(\d+)</ID>", xml)
    if ids:
        get(f"/admin/killclient?mount={a}&id={ids[0].decode()}", adm)
    get(f"/admin/killclient?mount={a}&id=999999", adm)
    get(f"/admin/moveclients?mount={b}&destination={a}", adm)
    get(f"/admin/moveclients?mount={b}&destination=/nomount.mp3", adm)
    more = [Listener(b), Listener(b)]
    threads += [l.drain(6) for l in more]
    get(f"/admin/fallbacks?mount={b}&fallback={a}", adm)
    get(f"/admin/listclients?mount={a}", adm)
    get("/admin/stats", adm)
    # A reload with both sources streaming, then the package's log rotation.
    subprocess.run(["systemctl", "reload", "icecast2.service"], check=True)
    time.sleep(0.5)
    get("/status-json.xsl")
    subprocess.run(["logrotate", "-f", "/etc/logrotate.d/icecast2"], check=False)
    time.sleep(0.5)
    get("/status.xsl")
    get("/admin/stats", adm)
    # B ends: its listeners go to its fallback, A.
    tb.join()
    B.close()
    time.sleep(1)
    get(f"/admin/listclients?mount={a}", adm)
    # An Ogg/Opus source in B's place.
    o = f"/pack-o-{tag}.opus"
    O = Source(o, ctype="audio/ogg", name="pack Opus")
    assert O.ok, O.status
    serial = int.from_bytes(os.urandom(4), "little")
    O.send(ogg_page(b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0), serial, 0, 0, 2))
    O.send(ogg_page(b"OpusTags" + struct.pack("<I", 4) + b"pack" + struct.pack("<I", 0),
                    serial, 1, 0))
    gran, seq = 0, 2
    for _ in range(20):
        gran += 960 * 50
        O.send(ogg_page(b"\xfc" + os.urandom(300), serial, seq, gran))
        seq += 1
    end = time.time() + 10
    while o not in mounts() and time.time() < end:
        time.sleep(0.1)
    lo = Listener(o)
    assert lo.status == 200 and "audio/ogg" in lo.head, lo.head
    assert lo.read_until(b"OpusHead", 5), "no Opus header for the Ogg listener"
    fresh = b"PACK-" + os.urandom(8).hex().encode()
    for _ in range(5):
        gran += 960 * 50
        O.send(ogg_page(b"\xfc" + fresh + os.urandom(200), serial, seq, gran))
        seq += 1
    assert lo.read_until(fresh, 5), "the Ogg listener never got the fresh page"
    get(f"/admin/moveclients?mount={o}&destination={a}", adm)
    get(f"/admin/metadata?mount={o}&mode=updinfo&song=ogg", adm)
    get(f"/admin/listclients?mount={o}", adm)
    get(f"/admin/killsource?mount={o}", adm)
    time.sleep(0.5)
    lo.close()
    O.close()
    ta.join()
    A.close()
    for l in ls + more:
        l.close()

mode = sys.argv[1]
if mode == "ping":
    st, body = get("/status-json.xsl", timeout=2)
    assert st == 200 and b'"server_id":"Icecast' in body
elif mode == "setup":
    st, _ = get("/admin/stats", ("admin", ADMIN))
    if st != 200:
        sys.exit(f"/admin/stats with the new admin password: {st}")
    if get("/admin/stats", ("admin", "hackme"))[0] != 401:
        sys.exit("/admin/stats still answers hackme")
elif mode == "check":
    check(sys.argv[2])
elif mode == "load":
    load(sys.argv[2])
PY
}
up() {
    i=0
    until ic ping 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "icecast2 does not answer on 127.0.0.1:8000" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    newpw() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
    # sed -i keeps the file's owner and mode (root:icecast 0640: icecast2 reads it as its group).
    sed -i -e "s|<source-password>[^<]*</source-password>|<source-password>src-$(newpw)</source-password>|" \
        -e "s|<relay-password>[^<]*</relay-password>|<relay-password>relay-$(newpw)</relay-password>|" \
        -e "s|<admin-password>[^<]*</admin-password>|<admin-password>admin-$(newpw)</admin-password>|" \
        /etc/icecast2/icecast.xml
    systemctl enable --quiet icecast2.service 2>/dev/null
    systemctl start icecast2.service
    up
    ic setup
    ;;
load)
    up
    ic load "$$-$(date +%s%N)"
    up
    # A source as a script feeds a file: curl's PUT (Icecast answers 200 at once, then reads
    # the body; curl then waits for an end that a source never gets, so it is timed out).
    pw=$(sed -n 's|.*<source-password>\([^<]*\)</source-password>.*|\1|p' /etc/icecast2/icecast.xml)
    f=$(mktemp)
    head -c 300000 /dev/urandom > "$f"
    curl -sS --max-time 2 -o /dev/null -T "$f" -H "Content-Type: audio/mpeg" -H "Ice-Name: pack curl" \
        -u "source:$pw" "http://127.0.0.1:8000/pack-curl-$$.mp3" 2>/dev/null || true
    curl -sS --max-time 5 -o /dev/null -u "admin:wrong" "http://127.0.0.1:8000/admin/stats" || true
    rm -f "$f"
    ic check "load-$$-$(date +%s%N)"
    ;;
check)
    up
    ic check "check-$$-$(date +%s%N)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
