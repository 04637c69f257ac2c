#!/bin/sh
# MIT Kerberos 1.20 KDC as Debian 12 packages it (krb5-kdc.service: Type=forking,
# `krb5kdc -P /var/run/krb5-kdc.pid` as root, already partly confined by the package:
# ReadOnlyDirectories=/ with /var/lib/krb5kdc, /tmp, /var/tmp and /run writable,
# CapabilityBoundingSet=CAP_NET_BIND_SERVICE, PrivateDevices=, NoNewPrivileges=,
# ProtectProc=invisible, ProtectKernelTunables=; ExecReload sends SIGHUP), run inside the
# pack's guest systemd. No /etc/logrotate.d entry (with no [logging] section it logs to
# syslog). kadmind (krb5-admin-server.service) is not needed and stays stopped: principals
# are managed with kadmin.local, which opens the database directly.
#   setup: a realm PACK.TEST: /etc/krb5.conf naming it (kdc = 127.0.0.1), kdc.conf made from
#          Debian's own template (/usr/share/krb5-kdc/kdc.conf.template, as the postinst
#          does: UDP on 750 and 88, TCP on 88, +preauth by default), the database created
#          and its master key stashed with `kdb5_util create -s`; with kadmin.local: a user
#          alice (a random password kept in /var/lib/pack-krb5), service principals
#          HTTP/www.pack.test and HTTP/rotate.pack.test and a client host/client.pack.test
#          with keytabs, a lockout policy (3 failures) and its user, a disabled user, an
#          expired user, a user without preauth, a user with SHA-2 keys only; the unit
#          started; alice gets a ticket.
#   load:  4 clients for about 8 s over UDP (88 and 750), TCP (udp_preference_limit = 1 in a
#          client krb5.conf of its own through KRB5_CONFIG) and IPv6 (::1): kinit with the
#          right and a wrong password (preauth failed), from keytabs, renewable tickets
#          renewed (kinit -R), postdated ones validated (kinit -v), forwardable/proxiable,
#          addresses, no PAC, a canonicalised enterprise name (alice@PACK.TEST: not found,
#          DB2 keeps no aliases), an initial ticket straight for a service (-S), FAST
#          armoured with a keytab's TGT (-T), anonymous (refused: no PKINIT), an unknown
#          client, the disabled, the expired and the no-preauth user, the SHA-2 user; kvno
#          for service tickets (several enctypes, verified with the keytab), an unknown
#          service, S4U2self (kvno -U), user-to-user (kvno --u2u); klist, kdestroy;
#          malformed requests over UDP and TCP (python3); with kadmin.local meanwhile: a new
#          principal created, used, its password changed (old refused, new accepted),
#          modified and deleted (then unknown), the lockout user locked by 3 failures and
#          unlocked, HTTP/rotate.pack.test's keys rotated into its keytab and a ticket
#          verified with them, listprincs, getprinc; `kdb5_util dump`; a reload (SIGHUP).
#   check: a principal with a fresh name and password created with kadmin.local gets a
#          ticket (kinit over UDP, klist names it byte for byte) and refuses a wrong
#          password; with it, kvno -k gets a ticket for HTTP/www.pack.test over TCP that the
#          keytab from setup decrypts; alice from setup still authenticates with her
#          password (the database in /var/lib/krb5kdc survives every restart).
set -eu
REALM=PACK.TEST
STATE=/var/lib/pack-krb5
HTTPKT=$STATE/http.keytab
CLIENTKT=$STATE/client.keytab
ROTKT=$STATE/rotate.keytab
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

kadm() { KRB5_CONFIG=/etc/krb5.conf kadmin.local -r "$REALM" -q "$*"; }

# Client configurations of our own for other transports (the system's /etc/krb5.conf is
# the one setup writes).
client_confs() { # DIR
    for c in tcp udp750 v6 v6tcp; do
        case $c in
        tcp) kdc=127.0.0.1; extra="udp_preference_limit = 1" ;;
        udp750) kdc=127.0.0.1:750; extra="" ;;
        v6) kdc="[::1]"; extra="" ;;
        v6tcp) kdc="[::1]:88"; extra="udp_preference_limit = 1" ;;
        esac
        cat >"$1/$c.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	rdns = false
	dns_lookup_kdc = false
	dns_lookup_realm = false
	forwardable = true
	$extra
[realms]
	$REALM = {
		kdc = $kdc
	}
EOF
    done
}

up() { # the KDC answers an AS request from the client keytab
    i=0
    until kinit -k -t "$CLIENTKT" -c "MEMORY:up" host/client.pack.test >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 120 ] || { echo "the KDC does not answer on 127.0.0.1:88" >&2; return 1; }
        sleep 0.5
    done
}

# kinit with a password on stdin; any output goes away.
pwinit() { # PASSWORD kinit-args...
    _pw=$1; shift
    printf '%s\n' "$_pw" | kinit "$@" >/dev/null 2>&1
}

junk() { # malformed requests: garbage datagrams, a TCP length prefix too large, a half request
    python3 - <<'PY'
import os, socket, struct
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for port in (88, 750):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(0.1)
        for payload in (b"", os.urandom(40), b"\x6a\x03\x02\x01\x05", b"\x6c" + os.urandom(200)):
            try:
                s.sendto(payload, (addr, port))
                s.recv(4096)
            except OSError:
                pass
        s.close()
    for payload in (struct.pack(">I", 0x7fffffff) + b"x", struct.pack(">I", 100) + b"\x6a\x03",
                    struct.pack(">I", 12) + os.urandom(12)):
        try:
            t = socket.create_connection((addr, 88), timeout=0.3)
            t.sendall(payload)
            t.recv(4096)
            t.close()
        except OSError:
            pass
PY
}

client() { # N SECONDS DIR: one client's rounds
    n=$1; secs=$2; d=$3
    alicepw=$(cat "$STATE/alice.pw")
    cc="FILE:$d/cc$n"; cc2="FILE:$d/cc$n.b"; arm="FILE:$d/arm$n"
    end=$(($(date +%s) + secs)); i=0
    while [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        case $(((i + n) % 4)) in
        0) conf=/etc/krb5.conf ;; 1) conf=$d/tcp.conf ;; 2) conf=$d/udp750.conf ;;
        3) if [ $((i % 2)) = 0 ]; then conf=$d/v6.conf; else conf=$d/v6tcp.conf; fi ;;
        esac
        export KRB5_CONFIG="$conf"
        pwinit "$alicepw" -r 7d -l 2h -c "$cc" alice || echo "client $n: alice refused ($conf)" >&2
        kvno -c "$cc" HTTP/www.pack.test >/dev/null 2>&1 || true
        kvno -c "$cc" -k "$HTTPKT" HTTP/www.pack.test >/dev/null 2>&1 || true
        kinit -R -c "$cc" >/dev/null 2>&1 || true
        pwinit "wrong-$i" -c "$cc2" alice && echo "client $n: a wrong password accepted" >&2
        kinit -k -t "$CLIENTKT" -c "$arm" host/client.pack.test >/dev/null 2>&1 || true
        case $((i % 6)) in
        0) pwinit "$alicepw" -f -p -a -c "$cc2" alice || true
           kvno -c "$cc2" -e aes128-cts-hmac-sha1-96 host/client.pack.test >/dev/null 2>&1 || true
           kvno -c "$cc2" HTTP/nosuch.pack.test >/dev/null 2>&1 || true ;;
        1) pwinit "$alicepw" -T "$arm" -c "$cc2" alice || true
           pwinit "bad" -T "$arm" -c "$cc2" alice || true
           kvno -c "$cc2" --u2u "$cc" alice >/dev/null 2>&1 || true ;;
        2) pwinit "$alicepw" -S HTTP/www.pack.test -c "$cc2" alice || true
           pwinit x -c "$cc2" "nobody$n-$i" || true
           kinit -n -c "$cc2" >/dev/null 2>&1 </dev/null || true ;;
        3) kinit -k -t "$HTTPKT" -c "$cc2" HTTP/www.pack.test >/dev/null 2>&1 || true
           kvno -c "$cc2" -U alice HTTP/www.pack.test >/dev/null 2>&1 || true
           pwinit "$alicepw" -C -E -c "$cc2" alice@PACK.TEST || true ;;
        4) pwinit "$alicepw" --no-request-pac -F -P -c "$cc2" alice || true
           pwinit disabled-pw -c "$cc2" disabled || true
           pwinit expired-pw -c "$cc2" expired || true
           pwinit nopreauth-pw -c "$cc2" nopreauth || true
           pwinit sha2-pw -c "$cc2" sha2user || true
           kvno -c "$cc2" HTTP/www.pack.test >/dev/null 2>&1 || true ;;
        5) pwinit "$alicepw" -s 1s -r 1d -c "$cc2" alice || true
           sleep 1.2
           kinit -v -c "$cc2" >/dev/null 2>&1 || true
           klist -e -f -c "$cc2" >/dev/null 2>&1 || true ;;
        esac
        klist -c "$cc" >/dev/null 2>&1 || true
        kdestroy -q -c "$cc2" >/dev/null 2>&1 || true
    done
    kdestroy -q -c "$cc" >/dev/null 2>&1 || true
    kdestroy -q -c "$arm" >/dev/null 2>&1 || true
}

admin() { # SECONDS DIR: kadmin.local beside the clients
    secs=$1; d=$2
    export KRB5_CONFIG=$d/tcp.conf
    p="load$$x$(date +%s%N)"
    kadm "addprinc -pw first-$p $p" >/dev/null 2>&1
    pwinit "first-$p" -c "FILE:$d/adm" "$p" || echo "load: the new principal $p refused" >&2
    kvno -c "FILE:$d/adm" HTTP/www.pack.test >/dev/null 2>&1 || echo "load: no service ticket for $p" >&2
    kadm "cpw -pw second-$p $p" >/dev/null 2>&1
    pwinit "first-$p" -c "FILE:$d/adm" "$p" && echo "load: an old password accepted" >&2
    pwinit "second-$p" -c "FILE:$d/adm" "$p" || echo "load: a changed password refused" >&2
    kadm "modprinc -maxlife 1h -maxrenewlife 2d $p" >/dev/null 2>&1
    kadm "getprinc $p" >/dev/null 2>&1
    kadm "listprincs" >/dev/null 2>&1
    kadm "getpol lockout" >/dev/null 2>&1
    # The lockout user: three failures lock it, kadmin.local unlocks it.
    for k in 1 2 3; do pwinit "wrong$k" -c "FILE:$d/adm" locky || true; done
    pwinit locky-pw -c "FILE:$d/adm" locky && echo "load: a locked-out user accepted" >&2
    kadm "modprinc -unlock locky" >/dev/null 2>&1
    pwinit locky-pw -c "FILE:$d/adm" locky || echo "load: an unlocked user refused" >&2
    # New keys for a service, into its keytab; a ticket for it verified with them.
    kadm "ktadd -k $ROTKT HTTP/rotate.pack.test" >/dev/null 2>&1
    kvno -c "FILE:$d/adm" -k "$ROTKT" HTTP/rotate.pack.test >/dev/null 2>&1 ||
        echo "load: a rotated key not used" >&2
    klist -k -t -e "$ROTKT" >/dev/null 2>&1 || true
    KRB5_CONFIG=/etc/krb5.conf kdb5_util -r "$REALM" dump "$d/dump" >/dev/null 2>&1 || true
    kadm "delprinc -force $p" >/dev/null 2>&1
    pwinit "second-$p" -c "FILE:$d/adm" "$p" && echo "load: a deleted principal accepted" >&2
    kdestroy -q -c "FILE:$d/adm" >/dev/null 2>&1 || true
    sleep "$secs"
}

case "${1:-}" in
setup)
    cat >/etc/krb5.conf <<EOF
[libdefaults]
	default_realm = $REALM
	kdc_timesync = 1
	ccache_type = 4
	forwardable = true
	proxiable = true
	rdns = false
	dns_lookup_kdc = false
	dns_lookup_realm = false

[realms]
	$REALM = {
		kdc = 127.0.0.1
		admin_server = 127.0.0.1
	}

[domain_realm]
	.pack.test = $REALM
	pack.test = $REALM
EOF
    sed "s/@MYREALM/$REALM/" /usr/share/krb5-kdc/kdc.conf.template >/etc/krb5kdc/kdc.conf
    mkdir -p "$STATE"; chmod 700 "$STATE"
    master=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
    kdb5_util create -s -r "$REALM" -P "$master" >/dev/null
    od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$STATE/alice.pw"; chmod 600 "$STATE/alice.pw"
    kadm "addprinc -clearpolicy -pw $(cat "$STATE/alice.pw") alice" >/dev/null
    kadm "addprinc -clearpolicy -randkey HTTP/www.pack.test" >/dev/null
    kadm "addprinc -clearpolicy -randkey HTTP/rotate.pack.test" >/dev/null
    kadm "addprinc -clearpolicy -randkey host/client.pack.test" >/dev/null
    kadm "ktadd -k $HTTPKT HTTP/www.pack.test" >/dev/null
    kadm "ktadd -k $ROTKT HTTP/rotate.pack.test" >/dev/null
    kadm "ktadd -k $CLIENTKT host/client.pack.test" >/dev/null
    kadm "addpol -maxfailure 3 -failurecountinterval 0 -lockoutduration 0 lockout" >/dev/null
    kadm "addprinc -pw locky-pw -policy lockout locky" >/dev/null
    kadm "addprinc -clearpolicy -pw disabled-pw -allow_tix disabled" >/dev/null
    kadm "addprinc -clearpolicy -pw expired-pw -expire 2001-01-01 expired" >/dev/null
    kadm "addprinc -clearpolicy -pw nopreauth-pw -requires_preauth nopreauth" >/dev/null
    kadm "addprinc -clearpolicy -e aes256-sha2:normal,aes128-sha2:normal -pw sha2-pw sha2user" >/dev/null
    systemctl start krb5-kdc.service
    up
    d=$(mktemp -d)
    pwinit "$(cat "$STATE/alice.pw")" -c "FILE:$d/cc" alice || { echo "setup: alice refused" >&2; exit 1; }
    kvno -c "FILE:$d/cc" -k "$HTTPKT" HTTP/www.pack.test >/dev/null
    rm -rf "$d"
    ;;
load)
    up
    d=$(mktemp -d)
    client_confs "$d"
    for n in 1 2 3 4; do client "$n" 8 "$d" & done
    admin 1 "$d" &
    (junk; sleep 2; junk) >/dev/null 2>&1 &
    sleep 4
    systemctl reload krb5-kdc.service
    wait
    up
    rm -rf "$d"
    ;;
check)
    up
    d=$(mktemp -d)
    trap 'rm -rf "$d"' EXIT
    client_confs "$d"
    p="chk$$x$(date +%s%N)"
    pw="pw-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
    kadm "addprinc -pw $pw $p" >/dev/null 2>&1 || { echo "kadmin.local could not create $p" >&2; exit 1; }
    pwinit "$pw" -c "FILE:$d/cc" "$p" || { echo "kinit $p with its password refused" >&2; exit 1; }
    got=$(klist -c "FILE:$d/cc" | sed -n 's/^Default principal: //p')
    [ "$got" = "$p@$REALM" ] || { echo "klist names '$got', not $p@$REALM" >&2; exit 1; }
    if pwinit "not-$pw" -c "FILE:$d/cc2" "$p"; then echo "a wrong password accepted for $p" >&2; exit 1; fi
    out=$(KRB5_CONFIG=$d/tcp.conf kvno -c "FILE:$d/cc" -k "$HTTPKT" HTTP/www.pack.test 2>&1) ||
        { echo "kvno HTTP/www.pack.test over TCP failed: $out" >&2; exit 1; }
    case $out in
    "HTTP/www.pack.test@$REALM: kvno = "[0-9]*", keytab entry valid") ;;
    *) echo "kvno: $out" >&2; exit 1 ;;
    esac
    kadm "delprinc -force $p" >/dev/null 2>&1
    pwinit "$(cat "$STATE/alice.pw")" -c "FILE:$d/alice" alice || { echo "alice (from setup) refused" >&2; exit 1; }
    got=$(klist -c "FILE:$d/alice" | sed -n 's/^Default principal: //p')
    [ "$got" = "alice@$REALM" ] || { echo "klist names '$got', not alice@$REALM" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
