#!/bin/sh
# docker as Debian packages it (docker.service with docker.socket, dockerd using Debian's
# containerd.service and runc), driven with its own client (on Debian 13 the package docker-cli).
# No registry is reachable from the machines the pack runs on, so the image is made here:
# `docker import` of a tar of a root file system holding busybox-static's binary.
#   setup: /srv/pack-rootfs (busybox and its sh), the unit started, the image pack-busybox
#          imported, a first container run (a file written and read back).
#   load:  containers on the default bridge network and with --network none (a file written
#          and read back in each), a long-running one with 3 execs into it, stopped and
#          removed; containers, images, networks, volumes and the daemon's info listed.
#   check: dockerd answers (docker info), and a fresh container prints a fresh token back.
set -eu
rootfs=/srv/pack-rootfs
image=pack-busybox
# Every client call is bounded: with docker.socket listening, a client whose daemon never
# comes up would wait on the socket for ever.
d() {
    timeout 300 docker "$@"
}
up() {
    command -v docker >/dev/null || { echo "no docker client (Debian 13: docker-cli)" >&2; return 1; }
    i=0
    until timeout 60 docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -ge 300 ]; then
            echo "dockerd does not answer:" >&2; timeout 60 docker info >&2 || true; return 1
        fi
        sleep 0.5
    done
}
case "${1:-}" in
setup)
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    ln -sf busybox "$rootfs/bin/sh"
    echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
    systemctl start docker.service
    up
    if ! d image inspect "$image" >/dev/null 2>&1; then
        tar -C "$rootfs" -cf - . | d import - "$image"
    fi
    d run --rm "$image" /bin/sh -c 'echo setup >/tmp/f && /bin/busybox cat /tmp/f' | grep -qx setup
    ;;
load)
    up
    for i in $(seq 4); do
        d run --rm "$image" /bin/sh -c "echo $i >/tmp/f && /bin/busybox cat /tmp/f" >/dev/null || true
        d run --rm --network none "$image" /bin/sh -c "echo $i >/tmp/f && /bin/busybox cat /tmp/f" >/dev/null || true
    done
    d run -d --name pack-long "$image" /bin/busybox sleep 600 >/dev/null || true
    for i in $(seq 3); do
        d exec pack-long /bin/busybox echo "exec $i" >/dev/null || true
    done
    d ps -a >/dev/null || true
    d images >/dev/null || true
    d network ls >/dev/null || true
    d volume ls >/dev/null || true
    d info >/dev/null || true
    d logs pack-long >/dev/null 2>&1 || true
    d inspect pack-long >/dev/null 2>&1 || true
    # sleep as the container's PID 1 ignores SIGTERM: the stop ends in SIGKILL after 1 s.
    d stop -t 1 pack-long >/dev/null 2>&1 || true
    d rm -f pack-long >/dev/null 2>&1 || true
    ;;
check)
    up
    token=t$(date +%s%N)
    d run --rm "$image" /bin/busybox echo "$token" | grep -qx "$token"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
