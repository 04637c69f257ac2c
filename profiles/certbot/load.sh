#!/bin/sh
# certbot 2.1 as Debian packages it: certbot.timer's oneshot job, certbot.service
# (`certbot -q renew --no-random-sleep-on-renew`), run inside the pack's guest systemd. No ACME
# server is reachable here, so this is what certbot does offline: with a renewal
# configuration that is not due (a self-signed certificate valid for 90 days, entered as a
# lineage under /etc/letsencrypt), renew reads it, decides it is not due and exits 0, logging
# to /var/log/letsencrypt. (Debian packages pebble, a test ACME server; a real issuance
# against it is not exercised.)
#   setup: the lineage pack.test (live/, archive/, renewal/pack.test.conf), one run of the job.
#   load:  nothing: the job runs once per start.
#   check: the job's log says the certificate is not due, and the lineage is intact.
set -eu
d=/etc/letsencrypt
case "${1:-}" in
setup)
    mkdir -p $d/archive/pack.test $d/live/pack.test $d/renewal
    openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj /CN=pack.test \
        -keyout $d/archive/pack.test/privkey1.pem -out $d/archive/pack.test/cert1.pem 2>/dev/null
    cp $d/archive/pack.test/cert1.pem $d/archive/pack.test/chain1.pem
    cat $d/archive/pack.test/cert1.pem $d/archive/pack.test/chain1.pem >$d/archive/pack.test/fullchain1.pem
    for f in cert chain fullchain privkey; do ln -sf ../../archive/pack.test/${f}1.pem $d/live/pack.test/$f.pem; done
    cat >$d/renewal/pack.test.conf <<CONF
version = 2.1.0
archive_dir = $d/archive/pack.test
cert = $d/live/pack.test/cert.pem
privkey = $d/live/pack.test/privkey.pem
chain = $d/live/pack.test/chain.pem
fullchain = $d/live/pack.test/fullchain.pem

[renewalparams]
authenticator = standalone
server = https://127.0.0.1:14000/dir
CONF
    systemctl start certbot.service
    ;;
load) ;;
check)
    grep -q "not due for renewal\|not yet due" /var/log/letsencrypt/letsencrypt.log
    [ -f $d/live/pack.test/cert.pem ]
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
