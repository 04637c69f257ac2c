#!/bin/sh
# transmission-daemon 3.00 as Debian packages it, run inside the pack's guest systemd, with the
# three settings a user changes first: an RPC password, a watch directory and a
# torrent-done script. The guest has no network, so peers are out of reach; every torrent here
# carries a web seed (BEP 19: "url-list") on 127.0.0.1:8098, served by a small Python server
# (ranges, as web seeds ask) in a unit of its own, from which the daemon really downloads, writes and hash-checks the
# data. A small client in Python speaks Transmission's RPC (JSON over HTTP, with its session
# id and basic authentication) and makes the .torrent files.
#   setup: the settings changed (the daemon stopped, as it rewrites them at exit), the web
#          seed's unit started, the daemon started, its RPC answered.
#   load:  rounds of torrents of fresh data (1 to 3 MiB), half added over RPC, half dropped in
#          the watch directory; each downloaded from the web seed, its file compared; some
#          verified again, stopped and started, renamed, moved to a subdirectory, removed with
#          their data; session settings set and read; a reload (HUP).
#   check: a torrent of data made just now, added over RPC, completes within 60 s, the
#          downloaded file is byte for byte the seed's, and the torrent-done script ran for it.
set -eu
seed=/var/lib/pack-webseed
client() {
    python3 - "$@" <<'PY'
import base64, hashlib, json, os, sys, time, urllib.request, urllib.error
mode, rounds = sys.argv[1], int(sys.argv[2])
seed = "/var/lib/pack-webseed"
downloads = "/var/lib/transmission-daemon/downloads"
watch = "/var/lib/transmission-daemon/watch"
auth = "Basic " + base64.b64encode(b"transmission:packpass").decode()
session = [""]

def rpc(method, **args):
    body = json.dumps({"method": method, "arguments": args}).encode()
    for _ in range(3):
        req = urllib.request.Request("http://127.0.0.1:9091/transmission/rpc", data=body,
            headers={"Authorization": auth, "X-Transmission-Session-Id": session[0]})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                answer = json.load(r)
                assert answer["result"] == "success", (method, answer)
                return answer["arguments"]
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
            session[0] = e.headers["X-Transmission-Session-Id"]
    raise RuntimeError("no session id")

def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(map(bencode, v)) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"

def make(name, size):
    data = os.urandom(size)
    with open(os.path.join(seed, name), "wb") as f:
        f.write(data)
    piece = 256 * 1024
    pieces = b"".join(hashlib.sha1(data[i:i + piece]).digest() for i in range(0, size, piece))
    return bencode({"announce": "udp://127.0.0.1:6969/announce",
        "url-list": ["http://127.0.0.1:8098/"],
        "info": {"name": name, "piece length": piece, "length": size, "pieces": pieces}})

def wait_done(name, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        for t in rpc("torrent-get", fields=["id", "name", "percentDone", "error", "errorString"])["torrents"]:
            if t["name"] == name:
                assert t["error"] in (0, 1, 2), t   # tracker warnings and errors are expected
                if t["percentDone"] == 1:
                    return t["id"]
        time.sleep(0.2)
    raise AssertionError(f"{name} not downloaded in {timeout} s: {rpc('torrent-get', fields=['name', 'percentDone', 'errorString', 'status'])}")

def same(name, where=downloads):
    a = open(os.path.join(seed, name), "rb").read()
    b = open(os.path.join(where, name), "rb").read()
    assert a == b, f"{name}: the downloaded data differs from the seed's"

def add(name, size, via_watch):
    meta = make(name, size)
    if via_watch:
        tmp = os.path.join(watch, "." + name)
        with open(tmp, "wb") as f:
            f.write(meta)
        os.rename(tmp, os.path.join(watch, name + ".torrent"))
    else:
        rpc("torrent-add", metainfo=base64.b64encode(meta).decode())

tag = f"{mode}-{os.getpid()}-{time.time_ns()}"
if mode == "check":
    name = f"pack-{tag}.bin"
    add(name, 1024 * 1024 + 4321, False)
    tid = wait_done(name)
    same(name)
    end = time.time() + 20
    while name not in open("/var/lib/transmission-daemon/pack-done.log").read():
        assert time.time() < end, "the torrent-done script did not run"
        time.sleep(0.2)
    rpc("torrent-remove", ids=[tid], **{"delete-local-data": True})
else:
    rpc("session-get")
    rpc("session-stats")
    rpc("free-space", path=downloads)
    rpc("session-set", **{"speed-limit-up": 500 + rounds, "speed-limit-up-enabled": False})
    for r in range(rounds):
        names = [f"pack-{tag}-{r}-{i}.bin" for i in range(4)]
        for i, name in enumerate(names):
            add(name, (1 + i % 3) * 1024 * 1024 + r, i % 2 == 1)
        ids = [wait_done(n) for n in names]
        for n in names:
            same(n)
        rpc("torrent-get", ids=ids, fields=["files", "fileStats", "peers", "trackerStats", "pieces"])
        rpc("torrent-stop", ids=ids[:1])
        rpc("torrent-verify", ids=ids[:1])
        rpc("torrent-start", ids=ids[:1])
        wait_done(names[0])
        rpc("torrent-rename-path", ids=ids[1:2], path=names[1], name="renamed-" + names[1])
        sub = os.path.join(downloads, f"moved-{tag}-{r}")
        rpc("torrent-set-location", ids=ids[2:3], location=sub, move=True)
        end = time.time() + 20
        while not os.path.exists(os.path.join(sub, names[2])):
            assert time.time() < end, "the torrent was not moved"
            time.sleep(0.2)
        same(names[2], sub)
        rpc("torrent-remove", ids=ids[::2], **{"delete-local-data": True})
        rpc("torrent-remove", ids=ids[1::2])
print("ok", mode, rounds)
PY
}
up() {
    i=0
    until python3 -c '
import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:9091/transmission/rpc", timeout=2)
except urllib.error.HTTPError as e:
    assert e.code in (401, 409), e.code
' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "transmission-daemon does not answer" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl stop transmission-daemon.service 2>/dev/null || true
    mkdir -p "$seed"
    install -d -o debian-transmission -g debian-transmission /var/lib/transmission-daemon/watch
    touch /var/lib/transmission-daemon/pack-done.log
    chown debian-transmission: /var/lib/transmission-daemon/pack-done.log
    cat > /usr/local/bin/pack-torrent-done <<'SH'
#!/bin/sh
echo "$(date +%s) $TR_TORRENT_ID $TR_TORRENT_NAME $TR_TORRENT_DIR" >> /var/lib/transmission-daemon/pack-done.log
SH
    chmod 755 /usr/local/bin/pack-torrent-done
    python3 - <<'PY'
import json
path = "/etc/transmission-daemon/settings.json"
s = json.load(open(path))
s.update({"rpc-password": "packpass", "watch-dir-enabled": True,
          "watch-dir": "/var/lib/transmission-daemon/watch",
          "script-torrent-done-enabled": True,
          "script-torrent-done-filename": "/usr/local/bin/pack-torrent-done"})
json.dump(s, open(path, "w"), indent=4)
PY
    # python3's http.server ignores Range:, and a web seed asks for each piece's range.
    cat > /usr/local/bin/pack-webseed <<'SEED'
import http.server, os, re, sys
root = sys.argv[2]
class Seed(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            data = open(os.path.join(root, os.path.basename(self.path.split("?")[0])), "rb").read()
        except OSError:
            self.send_error(404)
            return
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m:
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else len(data) - 1
            body = data[a:b + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {a}-{a + len(body) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Seed).serve_forever()
SEED
    systemctl is-active --quiet pack-webseed.service ||
        systemd-run --unit pack-webseed --property=Restart=always \
            python3 /usr/local/bin/pack-webseed 8098 "$seed" >/dev/null
    systemctl start transmission-daemon.service
    up
    ;;
load)
    up
    client load 3
    systemctl reload transmission-daemon.service
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
