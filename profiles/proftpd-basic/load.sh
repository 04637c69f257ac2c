#!/bin/sh
# ProFTPD 1.3.8 as Debian packages it (proftpd-basic: proftpd-core with mod_wrap and
# mod_crypto; proftpd.service, Type=forking, `proftpd --configtest` as ExecStartPre, reload by
# SIGHUP; standalone on port 21, every address, IPv4 and IPv6, as packaged; a session process
# forked by the master for each connection, switched to the user after a PAM login), run
# inside the pack's guest systemd. Client: curl's ftp://.
#   setup: a local user `packftp` with a password;
#          /etc/proftpd/conf.d/pack.conf: local users chrooted to their home (DefaultRoot ~,
#          which Debian's proftpd.conf has as a commented example), passive ports
#          40000-40100; the unit started.
#   load:  6 rounds of logins that upload, list (LIST and NLST), download, SIZE/MDTM and
#          rename or delete files, a directory made and removed, a 2 MB upload, a login with a wrong
#          password and one of an unknown user (both refused), a reload (SIGHUP), for about
#          12 s; then 3 slow downloads and 3 slow uploads of 2 MB left running, so that
#          logged-in sessions are still there when the recording's restart stops the server
#          (as on a real server restarted with users connected: the master signals its
#          sessions, which run as the user, as systemd's SIGTERM to the unit reaches them).
#   check: the login's working directory is `/` (chrooted); a file with a fresh token
#          uploaded, listed in the user's root, downloaded and compared, and present in the
#          user's home on disk, by packftp and by packftp2, a user made by the check itself
#          (no recording saw it; every home in /home stays writable under ProtectSystem=strict
#          until ProtectHome= is set); a wrong password is refused.
set -eu
user=packftp
pass=Pack-ftp-1
url=ftp://127.0.0.1
c() { curl -sS --max-time 15 --user "$user:$pass" "$@"; }
up() {
    i=0
    until c -o /dev/null "$url/" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "proftpd does not answer a login" >&2; return 1; }; sleep 0.2
    done
}
session() { # a round: a login that uploads, lists and downloads (curl reuses its connection),
    # then logins for NLST, SIZE/MDTM (every other round) and a rename or a delete
    f=$1
    echo "load $f $(date +%s%N)" >/tmp/pack-ftp-$f
    c -T /tmp/pack-ftp-$f "$url/load-$f.txt" "$url/" "$url/load-$f.txt" >/dev/null || true
    c -l "$url/" >/dev/null || true
    [ $((f % 2)) = 0 ] || c -I "$url/load-$f.txt" >/dev/null || true
    if [ $((f % 2)) = 0 ]; then
        c -o /dev/null -Q "RNFR load-$f.txt" -Q "RNTO kept-$f.txt" "$url/" || true
    else
        c -o /dev/null -Q "DELE load-$f.txt" "$url/" || true
    fi
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    echo "$user:$pass" | chpasswd
    cat >/etc/proftpd/conf.d/pack.conf <<'CONF'
# The pack's proftpd: local users chrooted to their home, a passive port range.
DefaultRoot ~
PassivePorts 40000 40100
CONF
    systemctl start proftpd.service
    up
    ;;
load)
    up
    # Refused logins take PAM's failure delay: in the background meanwhile.
    { curl -sS --max-time 15 --user "$user:wrong" -o /dev/null "$url/" 2>/dev/null || true; } &
    { curl -sS --max-time 15 --user "nobody-here:wrong" -o /dev/null "$url/" 2>/dev/null || true; } &
    for i in 1 2 3; do session "$i"; done
    head -c 2097152 /dev/urandom >/tmp/pack-ftp-big
    c -T /tmp/pack-ftp-big "$url/big.bin" || true
    c -o /dev/null -Q "MKD dir" "$url/" || true
    c -T /tmp/pack-ftp-1 --ftp-create-dirs "$url/dir/sub/f.txt" "$url/dir/sub/" >/dev/null || true
    c -o /dev/null -Q "DELE dir/sub/f.txt" -Q "RMD dir/sub" "$url/" || true
    systemctl reload proftpd.service || true
    up
    for i in 4 5 6; do session "$i"; done
    wait
    # Sessions still logged in when the recording's restart comes: 3 slow downloads and 3
    # slow uploads (about 50 s each at 40 kB/s).
    for i in 1 2 3; do
        setsid curl -sS --max-time 120 --limit-rate 40k --user "$user:$pass" -o /dev/null \
            "$url/big.bin" >/dev/null 2>&1 </dev/null &
        setsid curl -sS --max-time 120 --limit-rate 40k --user "$user:$pass" \
            -T /tmp/pack-ftp-big "$url/slow-$i.bin" >/dev/null 2>&1 </dev/null &
    done
    sleep 1
    ;;
check)
    up
    c -v -o /dev/null "$url/" 2>&1 | grep -q '^< 257 "/"' || {
        echo "the login's working directory is not / (not chrooted?)" >&2; exit 1; }
    # A second user, made only now: the recordings saw packftp alone, and the drop-in must
    # serve every user of the host (uploads into a home of its own).
    id packftp2 >/dev/null 2>&1 || useradd -m -s /bin/sh packftp2
    echo "packftp2:$pass" | chpasswd
    for user in packftp packftp2; do
        token=check-$$-$(date +%s%N)
        echo "$token" >/tmp/pack-ftp-check
        c -T /tmp/pack-ftp-check "$url/$token.txt"
        c -l "$url/" | grep -qx "$token.txt"
        [ "$(c "$url/$token.txt")" = "$token" ]
        grep -qx "$token" "/home/$user/$token.txt"
    done
    user=packftp
    if curl -sS --max-time 15 --user "$user:wrong" -o /dev/null "$url/" 2>/dev/null; then
        echo "a wrong password was accepted" >&2; exit 1
    fi
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
