#!/bin/sh
# PHP 8.2's FastCGI process manager as Debian packages it (php8.2-fpm.service: a root master,
# Debian's pool `www` as www-data on /run/php/php8.2-fpm.sock), run inside the pack's guest
# systemd. Requests go straight to the FPM sockets with cgi-fcgi (libfcgi-bin).
#   setup: a second pool `pack` running as its own user `packapp` on /run/php/pack.sock, a
#          script /srv/pack/app.php that writes a row to a file of packapp's under
#          /var/lib/pack and reads it back, uses a PHP session (files under
#          /var/lib/php/sessions) and calls an HTTP API over TCP, as applications call their
#          database, cache or payment service (here `php -S` on 127.0.0.1:8099, its own
#          transient unit pack-api.service, outside the recorded one); the unit restarted.
#   load:  300 requests to each pool (writes, reads, sessions, API calls, the status page), a
#          reload (SIGUSR2: the master re-execs and restarts its workers).
#   check: a fresh row written through the `pack` pool is read back through it, a session
#          written by one request is read by the next, the API's answer comes back through
#          both pools, and the `www` pool answers its ping.
set -eu
# fcgi SOCKET SCRIPT [QUERY [COOKIE]]: one FastCGI request, the response with its headers.
fcgi() {
    env -i REQUEST_METHOD=GET SCRIPT_FILENAME="$2" SCRIPT_NAME="${2#/srv/pack}" \
        QUERY_STRING="${3:-}" HTTP_COOKIE="${4:-}" SERVER_PROTOCOL=HTTP/1.1 \
        REMOTE_ADDR=127.0.0.1 GATEWAY_INTERFACE=CGI/1.1 \
        timeout 5 cgi-fcgi -bind -connect "$1"
}
up() {
    i=0
    until fcgi /run/php/pack.sock /srv/pack/app.php op=ping 2>/dev/null | grep -q '^pong'; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    id packapp >/dev/null 2>&1 || useradd --system --home-dir /var/lib/pack --shell /usr/sbin/nologin packapp
    install -d -o packapp -g packapp -m 750 /var/lib/pack
    install -d -m 755 /srv/pack
    cat >/srv/pack/app.php <<'PHP'
<?php
// The pack's app: op=ping, op=write&k=K&v=V, op=read&k=K, op=session, op=api.
$db = '/var/lib/pack/rows.txt';
switch ($_GET['op'] ?? '') {
case 'ping':
    echo "pong ", posix_getpwuid(posix_geteuid())['name'], "\n";
    break;
case 'write':
    $k = preg_replace('/[^a-z0-9]/', '', $_GET['k']);
    file_put_contents($db, $k . '=' . $_GET['v'] . "\n", FILE_APPEND | LOCK_EX);
    echo "written $k\n";
    break;
case 'read':
    $k = preg_replace('/[^a-z0-9]/', '', $_GET['k']);
    foreach (file($db, FILE_IGNORE_NEW_LINES) ?: [] as $line) {
        [$key, $v] = explode('=', $line, 2);
        if ($key === $k) { $found = $v; }
    }
    echo isset($found) ? "value $found\n" : "missing\n";
    break;
case 'session':
    session_start();
    $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
    echo "session ", session_id(), " n=", $_SESSION['n'], "\n";
    break;
case 'api':
    $r = @file_get_contents('http://localhost:8099/price.txt');
    echo $r === false ? "api unreachable\n" : "api $r";
    break;
default:
    http_response_code(404);
    echo "no such op\n";
}
PHP
    cp /srv/pack/app.php /var/www/html/pack.php 2>/dev/null || { install -d /var/www/html && cp /srv/pack/app.php /var/www/html/pack.php; }
    cat >/etc/php/8.2/fpm/pool.d/pack.conf <<'CONF'
[pack]
user = packapp
group = packapp
listen = /run/php/pack.sock
listen.owner = root
listen.group = root
listen.mode = 0660
pm = dynamic
pm.max_children = 4
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
pm.status_path = /status
ping.path = /ping
CONF
    # The API the app calls: its own unit, so the recording does not count it as php-fpm's.
    install -d -m 755 /srv/pack-api
    echo 'price 42' >/srv/pack-api/price.txt
    systemctl is-active -q pack-api.service ||
        systemd-run --quiet --unit=pack-api --property=Restart=always \
            php -S 127.0.0.1:8099 -t /srv/pack-api
    # Debian's www pool answers its ping too.
    sed -i 's|^;ping.path = /ping|ping.path = /ping|' /etc/php/8.2/fpm/pool.d/www.conf
    systemctl restart php8.2-fpm.service
    up
    ;;
load)
    up
    for i in $(seq 100); do
        fcgi /run/php/pack.sock /srv/pack/app.php "op=write&k=load$i&v=$i" >/dev/null || true
        fcgi /run/php/pack.sock /srv/pack/app.php "op=read&k=load$i" >/dev/null || true
        fcgi /run/php/pack.sock /srv/pack/app.php op=session >/dev/null || true
        fcgi /run/php/php8.2-fpm.sock /var/www/html/pack.php op=session >/dev/null || true
        fcgi /run/php/php8.2-fpm.sock /var/www/html/pack.php op=ping >/dev/null || true
        fcgi /run/php/pack.sock /srv/pack/app.php op=api >/dev/null || true
        fcgi /run/php/php8.2-fpm.sock /var/www/html/pack.php op=api >/dev/null || true
        fcgi /run/php/php8.2-fpm.sock /ping >/dev/null || true
    done
    fcgi /run/php/pack.sock /status >/dev/null || true
    fcgi /run/php/pack.sock /srv/pack/app.php op=nothing >/dev/null || true
    systemctl reload php8.2-fpm.service || true
    sleep 1
    for i in $(seq 20); do
        fcgi /run/php/pack.sock /srv/pack/app.php op=session >/dev/null || true
    done
    ;;
check)
    up
    fcgi /run/php/pack.sock /srv/pack/app.php op=ping | grep -q '^pong packapp'
    k=c$(date +%s%N)
    fcgi /run/php/pack.sock /srv/pack/app.php "op=write&k=$k&v=42" | grep -q "^written $k"
    fcgi /run/php/pack.sock /srv/pack/app.php "op=read&k=$k" | grep -q '^value 42$'
    sid=$(fcgi /run/php/php8.2-fpm.sock /var/www/html/pack.php op=session | sed -n 's/^session \([a-z0-9]*\) n=1.*/\1/p')
    [ -n "$sid" ]
    fcgi /run/php/php8.2-fpm.sock /var/www/html/pack.php op=session "PHPSESSID=$sid" | grep -q "^session $sid n=2"
    fcgi /run/php/pack.sock /srv/pack/app.php op=api | grep -q '^api price 42$'
    fcgi /run/php/php8.2-fpm.sock /var/www/html/pack.php op=api | grep -q '^api price 42$'
    fcgi /run/php/php8.2-fpm.sock /ping | grep -q pong
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
