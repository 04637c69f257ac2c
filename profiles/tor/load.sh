#!/bin/sh
# Tor 0.4.9 as Debian packages it: the template instance tor@default.service (the unit
# already confines itself: ReadOnlyDirectories=/, ReadWriteDirectories= /var/lib/tor,
# /var/log/tor, /run, a capability bounding set, NoNewPrivileges=), started as root, which
# then becomes debian-tor; run inside the pack's guest systemd. No network here: Tor keeps
# trying to bootstrap, and what it serves locally is checked.
#   setup: a notice log in /var/log/tor (rotated by the package's logrotate entry); the
#          instance started (its first start creates /var/lib/tor's keys and state).
#   load:  100 SOCKS5 handshakes on 127.0.0.1:9050 and on the unix socket /run/tor/socks,
#          each asking for a connection (refused: no circuit), 50 control-port sessions on
#          /run/tor/control (cookie authentication, GETINFO, SIGNAL NEWNYM), a reload (SIGHUP).
#   check: a SOCKS5 handshake on 9050 answered, and the control socket authenticates with the
#          cookie and answers GETINFO version and status/bootstrap-phase.
set -eu
py() {
    python3 - "$@" <<'PY'
import binascii, socket, sys
mode = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1
def socks(addr):
    s = socket.socket(socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET)
    s.settimeout(5)
    s.connect(addr)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise SystemExit("no SOCKS5 answer")
    s.sendall(b"\x05\x01\x00\x03\x0bexample.org\x00\x50")
    try:
        s.recv(10)
    except socket.timeout:
        pass
    s.close()
def control(cmds):
    cookie = open("/run/tor/control.authcookie", "rb").read()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect("/run/tor/control")
    f = s.makefile("rwb")
    out = []
    for c in [b"AUTHENTICATE " + binascii.hexlify(cookie)] + cmds + [b"QUIT"]:
        f.write(c + b"\r\n"); f.flush()
        while True:
            line = f.readline().decode()
            out.append(line.strip())
            if not line or line[3:4] == " ":
                break
    return out
if mode == "load":
    for i in range(n):
        try:
            socks(("127.0.0.1", 9050)); socks("/run/tor/socks")
        except OSError:
            pass
        if i % 2 == 0:
            try:
                control([b"GETINFO version", b"GETINFO status/bootstrap-phase", b"SIGNAL NEWNYM"])
            except OSError:
                pass
else:
    socks(("127.0.0.1", 9050))
    out = control([b"GETINFO version", b"GETINFO status/bootstrap-phase"])
    if out[0] != "250 OK":
        raise SystemExit("control: authentication refused: %s" % out)
    if not any(l.startswith("250-version=") for l in out):
        raise SystemExit("control: no version: %s" % out)
    if not any("BOOTSTRAP" in l for l in out):
        raise SystemExit("control: no bootstrap phase: %s" % out)
PY
}
up() {
    i=0
    until py check 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { py check; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    echo 'Log notice file /var/log/tor/notices.log' >>/etc/tor/torrc
    systemctl start tor@default.service
    up
    ;;
load)
    up
    py load 100
    systemctl reload tor@default.service
    sleep 1
    up
    ;;
check)
    up
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
