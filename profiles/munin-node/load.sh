#!/bin/sh
# munin-node as Debian packages it (munin-node.service: Type=notify, root, Restart=always,
# Net::Server on port 4949, plugins forked per request as nobody or root), run inside the
# pack's guest systemd. A small client in Python speaks munin's text protocol, as munin's
# master does.
#   setup: the unit started, the node answers.
#   load:  3 sessions as munin's master opens them (cap multigraph dirtyconfig, so the
#          multigraph plugins, diskstats among them, are listed), each: version, nodes, list,
#          then config and fetch of every listed plugin (diskstats keeps its state between
#          runs in /var/lib/munin-node/plugin-state); a restart in between (no ExecReload).
#   check: fetch load gives a number, fetch cpu gives user and system counters, fetch
#          processes a count above zero, and diskstats, fetched twice, gives values (it
#          needs the state its first run saved).
set -eu
client() {
    python3 - "$@" <<'PY'
import socket, sys, time
mode, n = sys.argv[1], int(sys.argv[2])

def session():
    s = socket.create_connection(("127.0.0.1", 4949), timeout=30)
    f = s.makefile("rb")
    greeting = f.readline()
    assert greeting.startswith(b"# munin node at "), greeting
    def ask(cmd, multi=True):
        s.sendall(cmd.encode() + b"\n")
        if not multi:
            return [f.readline().decode().rstrip("\n")]
        lines = []
        while True:
            line = f.readline()
            assert line, f"connection closed during {cmd}"
            line = line.decode().rstrip("\n")
            if line == ".":
                return lines
            lines.append(line)
    return s, ask

def values(lines):
    return {l.split(" ", 1)[0]: l.split(" ", 1)[1] for l in lines if ".value " in l}

for _ in range(n):
    s, ask = session()
    if mode == "load":
        # As munin's master opens every session: multigraph plugins (diskstats) are only
        # listed to a client that says it takes them.
        caps = ask("cap multigraph dirtyconfig", multi=False)[0]
        assert caps.startswith("cap "), caps
        ask("version", multi=False)
        ask("nodes")
        plugins = ask("list", multi=False)[0].split()
        assert "load" in plugins and "cpu" in plugins and "diskstats" in plugins, plugins
        for p in plugins:
            ask(f"config {p}")
            ask(f"fetch {p}")
    load = values(ask("fetch load"))
    float(load["load.value"])
    cpu = values(ask("fetch cpu"))
    assert int(cpu["user.value"]) > 0 and int(cpu["system.value"]) > 0, cpu
    procs = values(ask("fetch processes"))
    assert int(procs["processes.value"]) > 0, procs
    # diskstats gives values from its second run on: the first only saves its state.
    ask("cap multigraph dirtyconfig", multi=False)
    ask("fetch diskstats")
    time.sleep(1.5)  # its rates divide by the seconds between the two runs
    disks = ask("fetch diskstats")
    assert any(l.startswith("multigraph diskstats_") for l in disks), disks
    assert values(disks), disks
    s.sendall(b"quit\n")
    s.close()
print("ok", mode, n)
PY
}
up() {
    i=0
    until client check 1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "munin-node does not answer" >&2; client check 1; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start munin-node.service
    up
    ;;
load)
    up
    client load 2
    systemctl restart munin-node.service
    up
    client load 1
    ;;
check)
    client check 1
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
