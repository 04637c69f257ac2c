#!/bin/sh
# containerd as Debian packages it (containerd.service, runc beside it), driven with its own
# client ctr. No registry is reachable from the machines the pack runs on, so containers run
# from a root file system of busybox-static's binary (`ctr run --rootfs`), not from an image.
#   setup: /srv/pack-rootfs (busybox and its sh), the unit started, a first container run.
#   load:  8 short containers (a file written and read back inside each), a long-running
#          one with 3 execs into it, killed and deleted; namespaces, containers, tasks and
#          plugins listed.
#   check: containerd answers (ctr version shows the server), and a fresh container prints a
#          fresh token back.
set -eu
rootfs=/srv/pack-rootfs
up() {
    i=0
    until ctr version 2>/dev/null | grep -q '^Server:'; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "containerd does not answer" >&2; return 1; }; sleep 0.2
    done
}
# run NAME CMD...: one container from the root file system, removed when it ends.
run() {
    name=$1; shift
    ctr run --rm --rootfs "$rootfs" "$name" "$@"
}
case "${1:-}" in
setup)
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    ln -sf busybox "$rootfs/bin/sh"
    echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
    systemctl start containerd.service
    up
    run pack-setup /bin/sh -c 'echo setup >/tmp/f && /bin/busybox cat /tmp/f' | grep -qx setup
    ;;
load)
    up
    for i in $(seq 8); do
        run "pack-load-$i" /bin/sh -c "echo $i >/tmp/f && /bin/busybox cat /tmp/f" >/dev/null || true
    done
    ctr run -d --rootfs "$rootfs" pack-long /bin/busybox sleep 600 >/dev/null || true
    for i in $(seq 3); do
        ctr task exec --exec-id "e$i" pack-long /bin/busybox echo "exec $i" >/dev/null || true
    done
    ctr namespaces ls >/dev/null || true
    ctr containers ls >/dev/null || true
    ctr tasks ls >/dev/null || true
    ctr plugins ls >/dev/null || true
    ctr task kill -s SIGKILL pack-long >/dev/null 2>&1 || true
    sleep 1
    ctr task delete pack-long >/dev/null 2>&1 || true
    ctr container delete pack-long >/dev/null 2>&1 || true
    ;;
check)
    up
    token=t$(date +%s%N)
    run "pack-check-$token" /bin/busybox echo "$token" | grep -qx "$token"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
