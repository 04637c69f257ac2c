#!/bin/sh
# vsftpd 3.0 as Debian packages it (standalone, PAM service vsftpd, its own seccomp sandbox
# and network isolation, the unprivileged side chrooted to /var/run/vsftpd/empty), with
# local users chrooted to their home; inside the pack's guest systemd.
#   setup: a local user `packftp` with a password; /etc/vsftpd.conf: Debian's listener (every
#          address, IPv6 and IPv4: listen_ipv6=YES), uploads allowed (write_enable), local users chrooted to their home
#          (chroot_local_user, allow_writeable_chroot), passive ports 40000-40100; the unit
#          started.
#   load:  20 logins that upload, list, download and delete files with curl ftp://, a
#          directory made, a login with a wrong password (refused), a reload (SIGHUP).
#   check: a file with a fresh token uploaded, listed in the user's (chrooted) root,
#          downloaded and compared, and present in the user's home on disk, by packftp and by
#          packftp2, a user made by the check itself (no recording saw it; under
#          ProtectSystem=strict every home in /home stays writable until ProtectHome= is set,
#          so this passes with any of learner's drop-ins); packftp3, homed in /srv, logs in,
#          lists its home and uploads into it; a wrong password is refused.
set -eu
user=packftp
pass=Pack-ftp-1
url=ftp://127.0.0.1
c() { curl -sS --max-time 10 --user "$user:$pass" "$@"; }
up() {
    i=0
    until c -o /dev/null "$url/" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    echo "$user:$pass" | chpasswd
    cat >>/etc/vsftpd.conf <<'CONF'
write_enable=YES
chroot_local_user=YES
allow_writeable_chroot=YES
pasv_min_port=40000
pasv_max_port=40100
CONF
    systemctl start vsftpd.service
    up
    ;;
load)
    up
    for i in $(seq 20); do
        echo "load $i" >/tmp/pack-ftp-$i
        c -T /tmp/pack-ftp-$i "$url/load-$i.txt" || true
        c -o /dev/null "$url/" || true
        c -o /dev/null "$url/load-$i.txt" || true
        [ $((i % 2)) = 0 ] && { c -o /dev/null -Q "DELE load-$i.txt" "$url/" || true; }
    done
    c -o /dev/null -Q "MKD dir" "$url/" || true
    c -T /tmp/pack-ftp-1 --ftp-create-dirs "$url/dir/sub/f.txt" || true
    curl -sS --max-time 10 --user "$user:wrong" -o /dev/null "$url/" 2>/dev/null || true
    systemctl reload vsftpd.service || true
    up
    ;;
check)
    up
    # A second user, made only now: the recordings saw packftp alone, and the drop-in must
    # serve every user of the host (uploads into a home of its own).
    id packftp2 >/dev/null 2>&1 || useradd -m -s /bin/sh packftp2
    echo "packftp2:$pass" | chpasswd
    for user in packftp packftp2; do
        token=check-$$-$(date +%s%N)
        echo "$token" >/tmp/pack-ftp-check
        c -T /tmp/pack-ftp-check "$url/$token.txt"
        c "$url/" | grep -q "$token.txt"
        [ "$(c "$url/$token.txt")" = "$token" ]
        grep -qx "$token" "/home/$user/$token.txt"
    done
    user=packftp
    # A user homed in /srv (as Debian's ftp user is, /srv/ftp) logs in and lists: a drop-in
    # hiding /srv refused that (500 OOPS: cannot change directory) until 2026-12-07.
    id packftp3 >/dev/null 2>&1 || useradd -m -d /srv/packftp3 -s /bin/sh packftp3
    echo "packftp3:$pass" | chpasswd
    echo srv >/srv/packftp3/srv-home.txt
    curl -sS --max-time 10 --user "packftp3:$pass" "$url/" | grep -q srv-home.txt
    # ... and uploads there: ProtectSystem=strict left a home outside /home read-only
    # (553 Could not create file) until 2026-12-07.
    token=srv-$$-$(date +%s%N)
    echo "$token" >/tmp/pack-ftp-check
    curl -sS --max-time 10 --user "packftp3:$pass" -T /tmp/pack-ftp-check "$url/$token.txt"
    grep -qx "$token" "/srv/packftp3/$token.txt"
    if curl -sS --max-time 10 --user "$user:wrong" -o /dev/null "$url/" 2>/dev/null; then
        echo "a wrong password was accepted" >&2; exit 1
    fi
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
