#!/bin/sh
# mpd (Music Player Daemon) 0.23 as Debian packages it, run inside the pack's guest systemd:
# mpd.socket listens on port 6600 and /run/mpd/socket, and starts mpd.service (Type=notify,
# `mpd --systemd`, root dropping to user mpd) on the first connection. A small client in
# Python speaks mpd's text protocol over either.
#   setup: three WAV files (a second of a tone each, made here) in /var/lib/mpd/music, in an
#          album directory; mpd.socket started; the first client starts the service; a
#          database update that finds the three songs.
#   load:  rounds over TCP and the Unix socket: status, stats, update and rescan, listall,
#          find and search, the queue filled, moved, shuffled and cleared, a playlist saved,
#          listed, loaded and removed, a sticker set and read back, outputs listed; a restart
#          of mpd.service between rounds (the state file is written on stop, read on start).
#   check: over both TCP and the Unix socket: the database holds the three songs (stats),
#          find gives the album's songs back by their title tag, a playlist saved holds
#          them and is removed again.
set -eu
music=/var/lib/mpd/music/pack-album
client() {
    python3 - "$@" <<'PY'
import os, socket, sys, time
mode, n = sys.argv[1], int(sys.argv[2])

class Mpd:
    def __init__(self, where):
        if where == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect("/run/mpd/socket")
        else:
            s = socket.create_connection(("127.0.0.1", 6600), timeout=10)
        self.s, self.f = s, s.makefile("rb")
        hello = self.f.readline()
        assert hello.startswith(b"OK MPD "), hello
    def __call__(self, cmd):
        self.s.sendall(cmd.encode() + b"\n")
        lines = []
        while True:
            line = self.f.readline().decode()
            assert line, f"connection closed during {cmd}"
            if line == "OK\n":
                return lines
            assert not line.startswith("ACK"), f"{cmd}: {line}"
            lines.append(line.rstrip("\n"))
    def kv(self, cmd):
        return dict(l.split(": ", 1) for l in self(cmd))

def songs(m):
    return int(m.kv("stats")["songs"])

def wait_update(m):
    for _ in range(100):
        if "updating_db" not in m.kv("status"):
            return
        time.sleep(0.1)
    raise SystemExit("the database update did not end")

def check(m):
    assert songs(m) == 3, m("stats")
    found = [l for l in m('find "(album == \\"Pack Album\\")"') if l.startswith("Title: ")]
    assert sorted(found) == ["Title: Pack Tone 1", "Title: Pack Tone 2", "Title: Pack Tone 3"], found
    name = f"pack-check-{os.getpid()}"
    m("clear")
    m('findadd "(album == \\"Pack Album\\")"')
    m(f"save {name}")
    held = [l for l in m(f"listplaylist {name}") if l.startswith("file: ")]
    assert len(held) == 3, held
    m(f"rm {name}")
    assert name not in " ".join(m("listplaylists"))
    m("clear")

for i in range(n):
    for where in ("tcp", "unix"):
        m = Mpd(where)
        if mode == "update":
            m("update")
            wait_update(m)
            continue
        if mode == "load":
            m("status"); m("stats"); m("outputs"); m("decoders"); m("urlhandlers")
            m("update pack-album"); wait_update(m)
            m("rescan"); wait_update(m)
            m("listall"); m("lsinfo pack-album")
            m('search "(title contains \\"Tone\\")"')
            m("clear")
            m('findadd "(album == \\"Pack Album\\")"')
            m("move 0 2"); m("shuffle"); m("playlistinfo")
            m(f"save pack-load-{where}-{i}")
            m("listplaylists"); m(f"listplaylistinfo pack-load-{where}-{i}")
            m("clear"); m(f"load pack-load-{where}-{i}"); m(f"rm pack-load-{where}-{i}")
            first = [l for l in m("playlistinfo") if l.startswith("file: ")][0][6:]
            m(f'sticker set song "{first}" rating {i}')
            assert m(f'sticker get song "{first}" rating') == [f"sticker: rating={i}"]
            m("clear")
        check(m)
        m.s.close()
print("ok", mode, n)
PY
}
up() {
    i=0
    until client check 1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "mpd does not answer" >&2; client check 1; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    install -d "$music"
    python3 - "$music" <<'PY'
import math, struct, sys, wave
for n in (1, 2, 3):
    path = f"{sys.argv[1]}/tone-{n}.wav"
    with wave.open(path, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * n * t / 8000))) for t in range(8000)))
    # A RIFF LIST/INFO chunk with the tags mpd reads (title, album).
    def sub(tag, text):
        data = text.encode() + b"\0"
        if len(data) % 2: data += b"\0"
        return tag + struct.pack("<I", len(data)) + data
    info = b"INFO" + sub(b"INAM", f"Pack Tone {n}") + sub(b"IPRD", "Pack Album") + sub(b"IART", "learner")
    with open(path, "r+b") as f:
        body = f.read()
        body += b"LIST" + struct.pack("<I", len(info)) + info
        body = body[:4] + struct.pack("<I", len(body) - 8) + body[8:]
        f.seek(0); f.write(body)
PY
    systemctl start mpd.socket
    client update 1
    up
    ;;
load)
    up
    client load 2
    systemctl restart mpd.service
    up
    client load 1
    ;;
check)
    client check 1
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
