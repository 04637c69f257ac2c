#!/bin/bash
# Boots a throw-away systemd as PID 1 of the namespaces this script runs in (started by
# `unshare --pid --fork --mount --cgroup --uts --ipc --net`, from a cgroup of its own, which the
# cgroup namespace makes the guest's root). The guest's root is an overlay of the machine's own
# root with a tmpfs on top: nothing it writes reaches the host.
set -euo pipefail
base=$1
mount --make-rprivate /
mount -t tmpfs -o mode=755 learner-guest "$base"
mkdir -p "$base/upper" "$base/work" "$base/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
r=$base/root
mount -t proc proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount -o remount,bind,ro "$r/proc/sys"
mount -t sysfs -o ro sysfs "$r/sys"
mount -t cgroup2 cgroup2 "$r/sys/fs/cgroup"
mount -t tmpfs -o mode=755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
mount -t tmpfs -o mode=755,size=4m tmpfs "$r/dev"
for d in null zero full random urandom tty; do
    touch "$r/dev/$d"
    mount --bind "/dev/$d" "$r/dev/$d"
done
mkdir -p "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
# Units that make no sense in a throw-away guest.
mkdir -p "$r/run/systemd/system"
for unit in getty@tty1.service console-getty.service serial-getty@.service \
    systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer man-db.timer \
    fstrim.timer e2scrub_all.timer e2scrub_reap.service logrotate.timer \
    systemd-networkd.service systemd-resolved.service networking.service \
    systemd-logind.service dbus.service dbus.socket systemd-udevd.service \
    systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-trigger.service; do
    ln -sf /dev/null "$r/run/systemd/system/$unit"
done
# Units this machine enables that the guest must not start at boot (the pack's service, whose
# first start it records): their links in the overlay go, the machine's stay.
for unit in ${LEARNER_GUEST_HOLD:-}; do
    find "$r/etc/systemd/system" -path "*.wants/$unit" -o -path "*.requires/$unit" | xargs -r rm -f
    # An init script's unit (slapd, exim4) is wanted through its /etc/rc?.d start links.
    case $unit in *.service) rm -f "$r"/etc/rc[2-5].d/S[0-9][0-9]"${unit%.service}" ;; esac
done
# A machine built as a container image keeps Docker's policy-rc.d (every answer 101): in the
# guest, a host of its own, invoke-rc.d must reach its services (logrotate's postrotate
# scripts: nginx's `invoke-rc.d nginx rotate`), or their rotation silently does nothing.
rm -f "$r/usr/sbin/policy-rc.d"
# The same for name resolution: a container image's /etc/hosts may lack Debian's ::1 line,
# and a service told to listen on or reach "localhost" then never uses IPv6 while recorded,
# though on a Debian host it does (postgresql's listen_addresses, postgrey's --inet).
printf '%s\n' "127.0.0.1	localhost" "127.0.1.1	$(hostname)" \
    "::1		localhost ip6-localhost ip6-loopback" "ff02::1		ip6-allnodes" \
    "ff02::2		ip6-allrouters" > "$r/etc/hosts"
ip link set lo up
cd "$r"
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot || true
exec env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    setpriv --bounding-set -sys_module,-sys_time /lib/systemd/systemd --system
