#!/bin/sh
# zabbix-agent (zabbix_agentd 6.0) as Debian packages it, run inside the pack's guest systemd:
# passive checks on 127.0.0.1:10050 from Server=127.0.0.1. A small client in Python speaks the
# agent's protocol (a ZBXD header, the key, the value back), as zabbix_get or a server would.
#   setup: a conf.d file with UserParameter= scripts (run by /bin/sh as zabbix), a token file
#          they read, the unit started, agent.ping answered.
#   load:  rounds of passive checks: system and kernel facts, memory, CPU, load, processes,
#          file-system discovery and sizes, a file's contents, size, checksum and regexp,
#          sockets listening, the UserParameters, unsupported keys; a log rotation between
#          rounds (Debian's postrotate restarts the agent).
#   check: agent.ping is 1, a token written just now is read back through a UserParameter,
#          vfs.file.contents reads the same file, the root file system's total size is
#          positive, the agent finds itself among the processes, and it counts a process of
#          another user (a sleep started as daemon) by its owner.
set -eu
client() {
    python3 - "$@" <<'PY'
import socket, struct, sys
mode, rounds = sys.argv[1], int(sys.argv[2])

def get(key):
    s = socket.create_connection(("127.0.0.1", 10050), timeout=10)
    data = key.encode()
    s.sendall(b"ZBXD\x01" + struct.pack("<II", len(data), 0) + data)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    assert buf[:5] == b"ZBXD\x01", (key, buf[:20])
    size = struct.unpack("<I", buf[5:9])[0]
    return buf[13:13 + size].decode()

def check():
    assert get("agent.ping") == "1", get("agent.ping")
    token = open("/var/lib/pack-zabbix/token").read().strip()
    got = get("pack.token")
    assert got == token, (got, token)
    got = get("vfs.file.contents[/var/lib/pack-zabbix/token]").strip()
    assert got == token, (got, token)
    assert int(get("vfs.fs.size[/,total]")) > 0
    assert int(get("proc.num[zabbix_agentd]")) >= 2, get("proc.num[zabbix_agentd]")

if mode == "check":
    check()
elif mode == "owner":
    # Processes of another user, counted by owner: a sleep the check started as daemon.
    import time
    for _ in range(25):
        got = get("proc.num[sleep,daemon]")
        if got.isdigit() and int(got) >= 1:
            break
        time.sleep(0.2)
    assert got.isdigit() and int(got) >= 1, ("proc.num[sleep,daemon]", got)
else:
    keys = [
        "agent.version", "agent.hostname", "system.hostname", "system.uname", "system.uptime",
        "system.boottime", "system.localtime", "system.users.num", "system.sw.arch",
        "kernel.maxfiles", "kernel.maxproc", "vm.memory.size[total]", "vm.memory.size[available]",
        "system.swap.size[,free]", "system.cpu.num", "system.cpu.load[all,avg1]",
        "system.cpu.util[,idle]", "system.cpu.switches", "system.cpu.intr",
        "proc.num[]", "proc.num[,zabbix]", "proc.mem[zabbix_agentd]",
        "vfs.fs.discovery", "vfs.fs.get", "vfs.fs.size[/,pfree]", "vfs.fs.inode[/,pfree]",
        "vfs.dev.discovery", "vfs.dev.read[,operations]",
        "vfs.file.exists[/etc/hostname]", "vfs.file.size[/etc/services]",
        "vfs.file.time[/etc/services]", "vfs.file.cksum[/etc/services]",
        "vfs.file.md5sum[/etc/services]", "vfs.file.regmatch[/etc/services,^http]",
        "vfs.file.regexp[/etc/services,^ssh]", "vfs.dir.count[/var/lib/pack-zabbix]",
        "vfs.dir.size[/var/lib/pack-zabbix]", "vfs.file.get[/etc/hostname]",
        "net.tcp.listen[10050]", "net.tcp.port[127.0.0.1,10050]", "net.udp.listen[68]",
        "net.if.discovery", "net.if.in[lo]", "net.tcp.socket.count[,10050]",
        "sensor[cpu0,temp1]", "system.hw.chassis", "pack.token", "pack.ls", "pack.procs",
        "no.such.key", "system.run[id]",
    ]
    for r in range(rounds):
        for k in keys:
            get(k)
    check()
print("ok", mode, rounds)
PY
}
up() {
    i=0
    until client check 1 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "zabbix-agent does not answer" >&2; client check 1; return 1; }; sleep 0.2
    done
}
token() {
    head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > /var/lib/pack-zabbix/token
}
case "${1:-}" in
setup)
    mkdir -p /var/lib/pack-zabbix
    chmod 755 /var/lib/pack-zabbix
    token
    chmod 644 /var/lib/pack-zabbix/token
    cat > /etc/zabbix/zabbix_agentd.conf.d/pack.conf <<'CONF'
UserParameter=pack.token,cat /var/lib/pack-zabbix/token
UserParameter=pack.ls,ls -l /var/lib/pack-zabbix | wc -l
UserParameter=pack.procs,ps -e | wc -l
CONF
    systemctl start zabbix-agent.service
    up
    ;;
load)
    up
    client load 5
    logrotate -f /etc/logrotate.d/zabbix-agent
    sleep 1
    up
    client load 3
    ;;
check)
    token
    client check 1
    setpriv --reuid=daemon --regid=daemon --clear-groups sleep 60 &
    sleeper=$!
    client owner 1 || { kill $sleeper; exit 1; }
    kill $sleeper
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
