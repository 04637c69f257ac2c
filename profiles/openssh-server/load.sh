#!/bin/sh
# OpenSSH 9.2 as Debian packages it (ssh.service: PAM, privilege separation in /run/sshd,
# the host keys its postinst made), inside the pack's guest systemd. A drop-in on sshd
# confines every login's session too, so the load runs what a user's session does.
#   setup: a local user `packssh` whose authorized_keys holds a new ed25519 key (root's, in
#          /root/.ssh/pack_key), and a second key that is not authorized; the unit started.
#   load:  20 key logins to 127.0.0.1 running commands (id, a file written and read in the
#          home directory, ps), an sftp upload and download, a login with the unauthorized key
#          (refused), a reload (sshd -t, SIGHUP).
#   check: a key login runs a command that writes a fresh token to a file in the home
#          directory and reads it back; the unauthorized key is refused.
set -eu
user=packssh
key=/root/.ssh/pack_key
bad=/root/.ssh/pack_bad_key
opts="-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5"
run() { # KEY COMMAND
    # shellcheck disable=SC2086
    ssh $opts -o IdentitiesOnly=yes -i "$1" "$user@127.0.0.1" "$2"
}
up() {
    i=0
    until run "$key" true >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
    mkdir -p /root/.ssh
    [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$key"
    [ -f "$bad" ] || ssh-keygen -q -t ed25519 -N '' -f "$bad"
    install -d -m 700 -o "$user" -g "$user" "/home/$user/.ssh"
    install -m 600 -o "$user" -g "$user" "$key.pub" "/home/$user/.ssh/authorized_keys"
    systemctl start ssh.service
    up
    ;;
load)
    up
    for i in $(seq 20); do
        run "$key" "id; echo load $i > ~/load-$i; cat ~/load-$i; ps -o pid= -p \$\$" >/dev/null 2>&1 || true
    done
    head -c 65536 /dev/urandom >/tmp/pack-sftp
    # shellcheck disable=SC2086
    printf 'put /tmp/pack-sftp up\nget up /tmp/pack-sftp.back\nls -l\n' |
        sftp $opts -o IdentitiesOnly=yes -i "$key" -b - "$user@127.0.0.1" >/dev/null 2>&1 || true
    run "$bad" true >/dev/null 2>&1 || true
    systemctl reload ssh.service || true
    up
    run "$key" "uname -a" >/dev/null 2>&1 || true
    ;;
check)
    up
    token=check-$$-$(date +%s%N)
    out=$(run "$key" "echo $token > ~/check && cat ~/check")
    [ "$out" = "$token" ] || { echo "login ran, but read back '$out'" >&2; exit 1; }
    if run "$bad" true >/dev/null 2>&1; then echo "an unauthorized key logged in" >&2; exit 1; fi
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
