#!/bin/sh
# OpenLDAP's slapd as Debian packages it: its init script (the unit is systemd's generated
# one), cn=config in /etc/ldap/slapd.d, the mdb database of the suffix the postinst made
# (dc=nodomain on a host without a domain) in /var/lib/ldap, listening on ldap:/// (every
# address, port 389) and ldapi:/// as user openldap; run inside the pack's guest systemd.
# Clients are ldap-utils.
#   setup: the unit started; the admin's password set over ldapi:// with root's SASL EXTERNAL
#          bind (the postinst sets a random one when not asked), ou=people and ou=groups, a
#          user alice with a password and a group, as the admin over ldap://.
#   load:  200 entries added over ldap://, searches over ldap:// and ldapi:// (equality,
#          substring, presence, paged), modifications, a password change by a user (Password
#          Modify), binds as users, a compare, a failed bind, a missing base, cn=config's log
#          level changed and back over ldapi://, deletes, for about 4 s.
#   check: a fresh entry added over ldap:// as the admin is read back over ldapi://, alice
#          binds over ldap:// (ldapwhoami), the setup group still lists alice.
set -eu
ldap=ldap://127.0.0.1
pw=pack-admin-secret
suffix() {
    ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b cn=config '(olcSuffix=*)' olcSuffix \
        | sed -n 's/^olcSuffix: //p' | head -n1
}
up() {
    i=0
    until ldapsearch -LLL -x -H $ldap -b '' -s base namingContexts >/dev/null 2>&1 \
        && ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b cn=config -s base dn >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "slapd does not answer on ldap:// and ldapi://" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    systemctl start slapd.service
    up
    base=$(suffix)
    hash=$(slappasswd -s "$pw")
    ldapmodify -Q -Y EXTERNAL -H ldapi:/// <<LDIF
dn: olcDatabase={1}mdb,cn=config
changetype: modify
replace: olcRootPW
olcRootPW: $hash
LDIF
    alice=$(slappasswd -s alice-secret)
    ldapadd -x -H $ldap -D "cn=admin,$base" -w "$pw" <<LDIF
dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: ou=groups,$base
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,$base
objectClass: inetOrgPerson
objectClass: posixAccount
uid: alice
cn: Alice Pack
sn: Pack
uidNumber: 10001
gidNumber: 10001
homeDirectory: /home/alice
userPassword: $alice

dn: cn=pack,ou=groups,$base
objectClass: posixGroup
cn: pack
gidNumber: 10001
memberUid: alice
LDIF
    ;;
load)
    up
    base=$(suffix)
    admin="-x -H $ldap -D cn=admin,$base -w $pw"
    for i in $(seq 200); do
        printf 'dn: uid=user%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: user%s\ncn: User %s\nsn: Load\nmail: user%s@pack.test\nuserPassword: pw%s\n\n' \
            "$i" "$base" "$i" "$i" "$i" "$i"
    done | ldapadd -c $admin >/dev/null 2>&1 || true
    for i in $(seq 40); do
        ldapsearch -LLL -x -H $ldap -b "ou=people,$base" "(uid=user$i)" cn mail >/dev/null || true
        ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b "ou=people,$base" "(mail=user$i*)" dn >/dev/null || true
    done
    ldapsearch -LLL -x -H $ldap -b "$base" '(objectClass=*)' dn >/dev/null || true
    ldapsearch -LLL -x -H $ldap -E pr=50/noprompt -b "ou=people,$base" '(sn=Load)' uid >/dev/null || true
    for i in $(seq 20); do
        printf 'dn: uid=user%s,ou=people,%s\nchangetype: modify\nreplace: description\ndescription: changed %s\n\n' "$i" "$base" "$i"
    done | ldapmodify $admin >/dev/null || true
    for i in $(seq 10); do
        ldapwhoami -x -H $ldap -D "uid=user$i,ou=people,$base" -w "pw$i" >/dev/null || true
    done
    ldappasswd -x -H $ldap -D "uid=user1,ou=people,$base" -w pw1 -s pw1-new "uid=user1,ou=people,$base" >/dev/null || true
    ldapcompare -x -H $ldap "uid=alice,ou=people,$base" cn:"Alice Pack" >/dev/null || true
    ldapwhoami -x -H $ldap -D "uid=alice,ou=people,$base" -w wrong >/dev/null 2>&1 || true
    ldapsearch -LLL -x -H $ldap -b "ou=missing,$base" >/dev/null 2>&1 || true
    for level in stats none; do
        printf 'dn: cn=config\nchangetype: modify\nreplace: olcLogLevel\nolcLogLevel: %s\n' $level \
            | ldapmodify -Q -Y EXTERNAL -H ldapi:/// >/dev/null || true
    done
    for i in $(seq 101 200); do echo "uid=user$i,ou=people,$base"; done | ldapdelete $admin >/dev/null 2>&1 || true
    ;;
check)
    up
    base=$(suffix)
    token="check$(date +%s%N)"
    ldapadd -x -H $ldap -D "cn=admin,$base" -w "$pw" >/dev/null <<LDIF
dn: uid=$token,ou=people,$base
objectClass: inetOrgPerson
uid: $token
cn: Check $token
sn: Check
LDIF
    got=$(ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b "ou=people,$base" "(uid=$token)" cn | sed -n 's/^cn: //p')
    [ "$got" = "Check $token" ] || { echo "uid=$token read back over ldapi:// as '$got'" >&2; exit 1; }
    ldapdelete -x -H $ldap -D "cn=admin,$base" -w "$pw" "uid=$token,ou=people,$base"
    who=$(ldapwhoami -x -H $ldap -D "uid=alice,ou=people,$base" -w alice-secret)
    [ "$who" = "dn:uid=alice,ou=people,$base" ] || { echo "alice's bind answered '$who'" >&2; exit 1; }
    ldapsearch -LLL -x -H $ldap -b "cn=pack,ou=groups,$base" -s base memberUid | grep -qx "memberUid: alice" \
        || { echo "the setup group no longer lists alice" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
