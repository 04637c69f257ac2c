#!/bin/sh
# strongSwan's IKE daemon as Debian packages it for systemd (charon-systemd, configured with
# swanctl over its vici socket), run inside the pack's guest systemd (its own network
# namespace, loopback only).
#   setup: a swanctl connection `pack` (IKEv2, PSK, local 127.0.0.1, remote 127.0.0.2, no
#          start action) and its secret; the unit started (its ExecStartPost loads them).
#   load:  listing connections, SAs, policies, pools and statistics over vici, loading all
#          again, initiating `pack` towards 127.0.0.2 (no peer answers: IKE packets sent and
#          retried, given up after 2 s), a reload, for about 5 s.
#   check: vici answers statistics, and the connection `pack` is loaded.
set -eu
up() {
    i=0
    until swanctl --stats >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "charon does not answer on its vici socket" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    cat >/etc/swanctl/conf.d/pack.conf <<'CONF'
connections {
    pack {
        version = 2
        local_addrs = 127.0.0.1
        remote_addrs = 127.0.0.2
        local { auth = psk
                id = pack-local }
        remote { auth = psk
                 id = pack-remote }
        children {
            pack { local_ts = 127.0.0.1/32
                   remote_ts = 127.0.0.2/32
                   start_action = none }
        }
    }
}
secrets {
    ike-pack { id-1 = pack-local
               id-2 = pack-remote
               secret = "pack-secret-not-for-real-use" }
}
CONF
    chmod 600 /etc/swanctl/conf.d/pack.conf
    systemctl start strongswan.service
    up
    ;;
load)
    up
    for i in $(seq 5); do
        swanctl --list-conns >/dev/null
        swanctl --list-sas >/dev/null
        swanctl --list-pols >/dev/null
        swanctl --list-pools >/dev/null
        swanctl --stats >/dev/null
    done
    swanctl --load-all --noprompt >/dev/null
    swanctl --initiate --ike pack --child pack --timeout 2 >/dev/null 2>&1 || true
    swanctl --terminate --ike pack --timeout 2 >/dev/null 2>&1 || true
    systemctl reload strongswan.service || true
    up
    swanctl --list-conns >/dev/null
    ;;
check)
    up
    swanctl --list-conns | grep -q '^pack:' || { echo "the connection pack is not loaded" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
