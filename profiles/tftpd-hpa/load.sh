#!/bin/sh
# tftpd-hpa as Debian packages it (no unit of its own: systemd-sysv-generator's unit from
# /etc/init.d/tftpd-hpa, which starts `in.tftpd --listen --user tftp --address :69` with
# /etc/default/tftpd-hpa's options; --secure chroots each transfer into /srv/tftp as user
# tftp), inside the pack's guest systemd; the client is tftp-hpa's `tftp` on 127.0.0.1.
#   setup: uploads allowed as tftpd-hpa's README says (TFTP_OPTIONS="--secure --create",
#          /srv/tftp owned by tftp); files of 13 bytes, exactly 512 bytes (one full block and
#          an empty one), 100 KiB and 4 MiB and pxelinux.cfg/default; the unit started.
#   load:  rounds for about 5 s (at most 10): every file downloaded and compared, a 10 KiB
#          file uploaded and downloaded back, a missing file asked for (refused), an upload
#          over an existing file; then no transfer left running (see idle below).
#   check: a file with a fresh token uploaded, on disk in /srv/tftp owned by tftp,
#          downloaded back identical; a missing file answers "File not found"; then no
#          transfer left running (see idle below).
set -eu
dir=/srv/tftp
tmp=/tmp/pack-tftp
t() { timeout 20 tftp -m binary 127.0.0.1 -c "$@"; }
up() {
    i=0
    until timeout 3 tftp -m binary 127.0.0.1 -c get hello.txt "$tmp/up" 2>/dev/null \
        && cmp -s "$tmp/up" "$dir/hello.txt"; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "tftpd does not serve hello.txt" >&2; return 1; }; sleep 0.2
    done
}
# One round of the load: every file downloaded and compared, a file uploaded and downloaded
# back, a missing file, an upload over an existing file (refused unless world-writable).
round() {
    for f in hello.txt block.bin medium.bin large.bin pxelinux.cfg/default; do
        rm -f "$tmp/got"
        t get "$f" "$tmp/got" >/dev/null 2>&1 || true
        cmp -s "$tmp/got" "$dir/$f" || echo "round $1: $f differs" >&2
    done
    head -c 10240 /dev/urandom >"$tmp/up-$1"
    t put "$tmp/up-$1" "load-$1.bin" >/dev/null 2>&1 || true
    t get "load-$1.bin" "$tmp/back-$1" >/dev/null 2>&1 || true
    cmp -s "$tmp/up-$1" "$tmp/back-$1" || echo "round $1: upload differs" >&2
    t get "missing-$1.bin" "$tmp/missing" >/dev/null 2>&1 || true
    t put "$tmp/up-$1" "load-1.bin" >/dev/null 2>&1 || true
}
# Each transfer is a process of its own, in.tftpd as tftp, which lives on for 1 s after an
# upload's last ACK (in case it was lost) and ignores the SIGTERM of a stop (it inherits the
# listener's handler, which only sets a flag). A restart of Debian's unit while one lives
# leaves no server: the init script's `start-stop-daemon --start --oknodo --exec` takes it
# for the daemon and starts none (so without any drop-in too). The load and the check end
# with none left, so that the event after them tests the drop-in, not that race.
idle() {
    i=0
    while ps -C in.tftpd -o user= | grep -qx tftp; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "transfers still running after 10 s" >&2; return 1; }; sleep 0.2
    done
}
mkdir -p "$tmp"
case "${1:-}" in
setup)
    sed -i 's|^TFTP_OPTIONS=.*|TFTP_OPTIONS="--secure --create"|' /etc/default/tftpd-hpa
    grep -qx 'TFTP_OPTIONS="--secure --create"' /etc/default/tftpd-hpa
    chown tftp:tftp "$dir"
    echo "hello, tftp" >"$dir/hello.txt"
    head -c 512 /dev/urandom >"$dir/block.bin"
    head -c 102400 /dev/urandom >"$dir/medium.bin"
    head -c 4194304 /dev/urandom >"$dir/large.bin"
    mkdir -p "$dir/pxelinux.cfg"
    printf 'DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n' >"$dir/pxelinux.cfg/default"
    systemctl start tftpd-hpa.service
    up
    ;;
load)
    up
    end=$(($(date +%s) + 5))
    for i in $(seq 10); do
        [ "$(date +%s)" -lt "$end" ] || break
        round "$i"
    done
    idle
    ;;
check)
    up
    token="token-$(date +%s%N)"
    { echo "$token"; head -c 3000 /dev/urandom; } >"$tmp/check"
    t put "$tmp/check" "check-$token.bin"
    [ -f "$dir/check-$token.bin" ] || { echo "the upload is not in $dir" >&2; exit 1; }
    owner=$(stat -c %U "$dir/check-$token.bin")
    [ "$owner" = tftp ] || { echo "the upload belongs to $owner, not tftp" >&2; exit 1; }
    rm -f "$tmp/back"
    t get "check-$token.bin" "$tmp/back"
    cmp "$tmp/check" "$tmp/back"
    rm -f "$tmp/missing"
    said=$(t get "missing-$token.bin" "$tmp/missing" 2>&1 || true)
    case "$said" in
    *"File not found"*) ;;
    *) echo "a missing file answered: $said" >&2; exit 1 ;;
    esac
    [ ! -s "$tmp/missing" ] || { echo "a missing file was served" >&2; exit 1; }
    idle
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
