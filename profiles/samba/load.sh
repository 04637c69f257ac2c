#!/bin/sh
# Samba 4.17 as Debian packages it (smbd.service: Type=notify, `smbd --foreground
# --no-process-group`, ExecCondition is-configured, ExecStartPre update-apparmor-samba-profile,
# reload by SIGHUP; no hardening), inside the pack's guest systemd. smbd (root) forks a
# process per client connection, which switches to the logged-in user for file access, and
# starts samba-dcerpcd on demand for RPC (share listing). Only smbd.service: nmbd (NetBIOS
# name service) is not needed by SMB2/3 clients on port 445 and the guest has no broadcast
# interface for it. Client: smbclient.
#   setup: Debian's /etc/samba/smb.conf kept as packaged, with a share appended: [pack] at
#          /srv/samba/pack, writable (read only = no), valid users = packsmb; a local user
#          packsmb (home /home/packsmb, with a file in it) made a samba user with smbpasswd -a
#          (tdbsam, /var/lib/samba/private/passdb.tdb); the unit started.
#   load:  for about 10 s, 4 clients at once (SMB2 and SMB3, one with SMB3 encryption), each
#          logging in again and again to put, list, get, rename, mkdir/rmdir and delete files
#          of the share, a 2 MB file both ways; the share list (authenticated and anonymous,
#          through samba-dcerpcd's srvsvc), the user's [homes] share (read-only, as packaged),
#          a wrong password and an unknown user (mapped to guest, refused by [pack]),
#          an ACL read and set with smbcacls, rpcclient (srvinfo, netshareenumall, lsaquery),
#          a remote password change (smbpasswd -r), which Debian's own smb.conf refuses with
#          or without a drop-in (unix password sync and pam password change are on, and its
#          passwd chat, `*Enter\snew\s*\spassword:*`, does not match pam_unix's prompt "New
#          password:": rpcd_lsad logs `pam_unix(samba:chauthtok): conversation failed`),
#          smbcontrol smbd ping and reload-config, smbstatus, a reload of the unit; then 2
#          clients left connected (idle, then a listing) into the recording's restart.
#   check: a file with a fresh token written to [pack] through SMB, listed, read back and
#          compared, and on disk under /srv/samba/pack owned by packsmb (the client's process
#          switched to the user); the share list names [pack]; a wrong password is refused.
set -eu
user=packsmb
pass=Pack-smb-1
share=//127.0.0.1/pack
s() { timeout 30 smbclient -t 20 -U "$user%$pass" "$@"; }
up() {
    i=0
    until s "$share" -c 'ls' >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "smbd does not serve $share" >&2; return 1; }; sleep 0.2
    done
}
refused() { # the smbclient command must fail
    if timeout 30 smbclient -t 20 "$@" >/dev/null 2>&1; then
        echo "accepted, should be refused: smbclient $*" >&2; return 1
    fi
}
# Changes the user's password remotely, as a client does (SAMR over SMB): OLD NEW.
passwd_change() {
    printf '%s\n%s\n%s\n' "$1" "$2" "$2" | timeout 30 smbpasswd -s -r 127.0.0.1 -U "$user" >/dev/null
}
# One client: rounds of logins with file operations for about $2 seconds.
client() { # N SECONDS [smbclient options...]
    n=$1 secs=$2; shift 2
    w=$(mktemp -d /tmp/pack-smb.XXXXXX)
    end=$(($(date +%s) + secs)); i=0
    while [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        echo "client $n round $i $(date +%s%N)" >"$w/f"
        s "$share" "$@" -c "mkdir c$n-$i; cd c$n-$i; put $w/f f.txt; put $w/f g.txt; ls; \
            get f.txt $w/back; rename g.txt h.txt; allinfo h.txt; del h.txt; cd ..; ls" >/dev/null 2>&1 || true
        cmp -s "$w/f" "$w/back" || echo "client $n round $i: file not read back" >&2
        [ $((i % 3)) = 0 ] && { s "$share" "$@" -c "deltree c$n-$((i - 2))" >/dev/null 2>&1 || true; }
    done
    rm -rf "$w"
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    echo "home of $user" >"/home/$user/readme.txt"
    chown "$user:" "/home/$user/readme.txt"
    install -d -o "$user" -g "$user" -m 755 /srv/samba/pack
    grep -q '^\[pack\]' /etc/samba/smb.conf || cat >>/etc/samba/smb.conf <<'CONF'

# The pack's share: one samba user's, writable.
[pack]
   comment = pack share
   path = /srv/samba/pack
   read only = no
   valid users = packsmb
CONF
    testparm -s >/dev/null 2>&1 || { echo "testparm rejects /etc/samba/smb.conf" >&2; exit 1; }
    printf '%s\n%s\n' "$pass" "$pass" | smbpasswd -s -a "$user" >/dev/null
    systemctl start smbd.service
    up
    ;;
load)
    up
    head -c 2097152 /dev/urandom >/tmp/pack-smb-big
    client 1 9 -m SMB2 &
    client 2 9 -m SMB3 &
    client 3 9 -m SMB3 --client-protection=encrypt &
    client 4 9 &
    s "$share" -c "put /tmp/pack-smb-big big.bin; get big.bin /tmp/pack-smb-big.back" >/dev/null 2>&1 || true
    cmp -s /tmp/pack-smb-big /tmp/pack-smb-big.back || echo "the 2 MB file was not read back" >&2
    s -L 127.0.0.1 >/dev/null 2>&1 || true
    timeout 30 smbclient -t 20 -N -L 127.0.0.1 >/dev/null 2>&1 || true
    s "//127.0.0.1/$user" -c "ls; get readme.txt /dev/null" >/dev/null 2>&1 || true
    refused -U "$user%wrong" "$share" -c ls || true
    refused -U "nobody-here%wrong" "$share" -c ls || true
    s "$share" -c "put /etc/hostname acl.txt" >/dev/null 2>&1 || true
    timeout 30 smbcacls -U "$user%$pass" "$share" acl.txt >/dev/null 2>&1 || true
    timeout 30 smbcacls -U "$user%$pass" -a "ACL:$user:ALLOWED/0x0/FULL" "$share" acl.txt >/dev/null 2>&1 || true
    timeout 30 rpcclient -U "$user%$pass" 127.0.0.1 -c 'srvinfo; netshareenumall; lsaquery' >/dev/null 2>&1 || true
    # Refused as packaged (see above): the password stays.
    passwd_change "$pass" Wxyz-load-7 2>/dev/null && passwd_change Wxyz-load-7 "$pass" 2>/dev/null || true
    smbcontrol smbd ping >/dev/null 2>&1 || true
    smbstatus >/dev/null 2>&1 || true
    sleep 2
    smbcontrol smbd reload-config >/dev/null 2>&1 || true
    systemctl reload smbd.service || true
    s "$share" -c "ls; del big.bin" >/dev/null 2>&1 || true
    wait
    rm -f /tmp/pack-smb-big /tmp/pack-smb-big.back
    up
    # Clients still connected when the recording's restart comes.
    for n in 1 2; do
        ( (sleep 20; echo ls) | timeout 40 smbclient -t 20 -U "$user%$pass" "$share" ) >/dev/null 2>&1 </dev/null &
    done
    ;;
check)
    up
    w=$(mktemp -d /tmp/pack-smb.XXXXXX)
    token=check-$$-$(date +%s%N)
    echo "$token" >"$w/up"
    s "$share" -c "put $w/up $token.txt" >/dev/null
    s "$share" -c "ls" | grep -q "$token.txt" || { echo "$token.txt not listed in [pack]" >&2; exit 1; }
    s "$share" -c "get $token.txt $w/down" >/dev/null
    cmp "$w/up" "$w/down"
    grep -qx "$token" "/srv/samba/pack/$token.txt"
    [ "$(stat -c %U "/srv/samba/pack/$token.txt")" = "$user" ] ||
        { echo "$token.txt is not owned by $user" >&2; exit 1; }
    s -L 127.0.0.1 2>/dev/null | grep -q '^[[:space:]]*pack[[:space:]]' ||
        { echo "the share list does not name [pack]" >&2; exit 1; }
    refused -U "$user%wrong" "$share" -c ls
    rm -rf "$w"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
