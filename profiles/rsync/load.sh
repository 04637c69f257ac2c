#!/bin/sh
# rsync 3 as Debian packages it (rsync.service: `rsync --daemon --no-detach`, ProtectSystem=full,
# PrivateDevices, NoNewPrivileges, Restart=on-failure, no ExecReload; started only once
# /etc/rsyncd.conf exists), run inside the pack's guest systemd. Client: rsync's rsync://.
# The daemon (root) forks a process per connection, which chroots into the module's path and
# switches to the module's uid/gid.
#   setup: a system user `packrsync` owning /srv/rsync/drop (writable) and /srv/rsync/pub
#          (files to serve, root's); /etc/rsyncd.secrets (0600) with the login `packer`;
#          /etc/rsyncd.conf: listening on 127.0.0.1:873, a log file /var/log/rsyncd.log with
#          transfer logging, modules `drop` (read only = no, auth users = packer, secrets
#          file, max connections with its lock file under /run/lock) and `pub` (read only,
#          anonymous), both `use chroot = yes`, uid/gid packrsync; the unit started.
#   load:  the module list, 10 rounds of uploads (a file, a tree, compressed), listings and
#          downloads of drop and pub, a sync with --delete, a partial/inplace update, a
#          wrong password, an unknown login and an unknown module (refused), an upload to
#          the read-only module (refused).
#   check: a file with a fresh token uploaded to drop, downloaded back and compared, and on
#          disk under /srv/rsync/drop owned by packrsync; a file of pub downloaded; a wrong
#          password is refused.
set -eu
url=rsync://127.0.0.1
export RSYNC_PASSWORD=Pack-rsync-1
r() { timeout 30 rsync --contimeout=5 --timeout=20 "$@"; }
up() {
    i=0
    until r "$url/" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "rsync does not list its modules" >&2; return 1; }; sleep 0.2
    done
}
refused() { # the command must fail
    if RSYNC_PASSWORD=${PW:-$RSYNC_PASSWORD} r "$@" >/dev/null 2>&1; then
        echo "accepted, should be refused: rsync $*" >&2; return 1
    fi
}
case "${1:-}" in
setup)
    id packrsync >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin packrsync
    install -d -o packrsync -g packrsync -m 755 /srv/rsync/drop
    install -d -o root -g root -m 755 /srv/rsync/pub /srv/rsync/pub/docs
    echo "public file" >/srv/rsync/pub/README
    for i in 1 2 3; do head -c 65536 /dev/urandom >/srv/rsync/pub/docs/blob-$i; done
    umask 077
    echo "packer:$RSYNC_PASSWORD" >/etc/rsyncd.secrets
    umask 022
    cat >/etc/rsyncd.conf <<'CONF'
# The pack's rsync daemon.
address = 127.0.0.1
port = 873
log file = /var/log/rsyncd.log
transfer logging = yes

[drop]
	comment = uploads (read-write, with a login)
	path = /srv/rsync/drop
	use chroot = yes
	uid = packrsync
	gid = packrsync
	read only = no
	auth users = packer
	secrets file = /etc/rsyncd.secrets
	strict modes = yes
	max connections = 10
	lock file = /run/lock/rsyncd
	timeout = 600

[pub]
	comment = public archive (read-only)
	path = /srv/rsync/pub
	use chroot = yes
	uid = packrsync
	gid = packrsync
	read only = yes
	list = yes
	ignore nonreadable = yes
	timeout = 600
CONF
    systemctl start rsync.service
    up
    ;;
load)
    up
    w=$(mktemp -d /tmp/pack-rsync.XXXXXX)
    mkdir -p "$w/tree/a/b"
    r "$url/" >/dev/null || true
    for i in $(seq 10); do
        echo "load $i $(date +%s%N)" >"$w/f-$i"
        echo "tree $i" >"$w/tree/a/b/t-$i"
        r -a "$w/f-$i" "packer@127.0.0.1::drop/load-$i.txt" || true
        r -az "$w/tree/" "packer@127.0.0.1::drop/tree/" || true
        r "packer@127.0.0.1::drop/" >/dev/null || true
        r -a "packer@127.0.0.1::drop/load-$i.txt" "$w/back-$i" || true
        r -a "$url/pub/" "$w/pub/" || true
        [ $((i % 3)) = 0 ] && { r -a --delete "$w/tree/" "packer@127.0.0.1::drop/tree/" || true; rm -f "$w/tree/a/b/t-$i"; }
    done
    head -c 1048576 /dev/urandom >"$w/big"
    r -a "$w/big" "packer@127.0.0.1::drop/big.bin" || true
    head -c 4096 /dev/urandom >>"$w/big"
    r -a --inplace "$w/big" "packer@127.0.0.1::drop/big.bin" || true
    r -a --partial --backup --suffix=.old "$w/big" "packer@127.0.0.1::drop/big.bin" || true
    PW=wrong refused "packer@127.0.0.1::drop/" || true
    PW=wrong refused "nobody@127.0.0.1::drop/" || true
    refused "$url/no-such-module/" || true
    refused -a "$w/f-1" "$url/pub/up.txt" || true
    rm -rf "$w"
    up
    ;;
check)
    up
    w=$(mktemp -d /tmp/pack-rsync.XXXXXX)
    token=check-$$-$(date +%s%N)
    echo "$token" >"$w/up"
    r -a "$w/up" "packer@127.0.0.1::drop/$token.txt"
    r -a "packer@127.0.0.1::drop/$token.txt" "$w/down"
    cmp "$w/up" "$w/down"
    grep -qx "$token" "/srv/rsync/drop/$token.txt"
    [ "$(stat -c %U "/srv/rsync/drop/$token.txt")" = packrsync ]
    r "$url/pub/README" "$w/readme"
    grep -qx "public file" "$w/readme"
    PW=wrong refused "packer@127.0.0.1::drop/"
    rm -rf "$w"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
