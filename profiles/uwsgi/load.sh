#!/bin/sh
# uWSGI 2.0.21 as Debian packages it (uwsgi, uwsgi-plugin-python3): its init script
# /etc/init.d/uwsgi (uwsgi.service is systemd's unit generated from it; reload = the script's
# SIGHUP to each instance, a graceful reload of its workers), one instance per
# /etc/uwsgi/apps-enabled/*.ini with Debian's inherited /usr/share/uwsgi/conf/default.ini
# (master, pidfile and uwsgi socket under /run/uwsgi/app/NAME, uid/gid www-data, log
# /var/log/uwsgi/app/NAME.log), run inside the pack's guest systemd. Client: curl.
#   setup: a WSGI app /srv/packapp/app.py (Python 3.11) that answers a computed value
#          (the sum of the squares of 1..N), writes and reads keys and a counter in a SQLite
#          file /var/lib/packapp/packapp.db (WAL mode, made by www-data), and 404s anything
#          else; its instance /etc/uwsgi/apps-available/packapp.ini, linked from
#          apps-enabled: plugin python3, http-socket 127.0.0.1:8089, 4 worker processes and
#          a master, uid/gid www-data, touch-reload on /var/lib/packapp/reload; the unit
#          started.
#   load:  about 6 s of requests (the computed value, 192 counter increments, writes and
#          reads of keys, a 404, a 400 for a write without a key, 8 concurrent clients), a
#          touch-reload (the master reloads its workers), a reload of the unit (SIGHUP).
#   check: the app answers the computed value (/sum?n=12 is 650) from a worker running as
#          www-data, a fresh token written through the app is read back through it, the
#          counter goes up by one, a missing page is a 404, and the master has exactly the
#          4 workers configured.
set -eu
http=http://127.0.0.1:8089
lib=/var/lib/packapp
pidfile=/run/uwsgi/app/packapp/pid
get() { curl -fsS --max-time 5 "$http$1"; }
up() {
    i=0
    until [ "$(curl -s --max-time 2 "$http/sum?n=12" 2>/dev/null)" = "650 www-data" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "uwsgi's app does not answer on 127.0.0.1:8089" >&2; return 1; }; sleep 0.2
    done
}
workers() { # the master's uwsgi children
    master=$(cat "$pidfile" 2>/dev/null) || { echo 0; return; }
    n=0
    for p in $(pgrep -P "$master" -x uwsgi || true); do n=$((n + 1)); done
    echo "$n"
}
fail() { tail -n 30 /var/log/uwsgi/app/packapp.log >&2 || true; exit 1; }
case "${1:-}" in
setup)
    install -d -o www-data -g www-data -m 750 "$lib"
    install -d -m 755 /srv/packapp
    cat >/srv/packapp/app.py <<'PY'
# The pack's WSGI app: /sum?n=N, /count, /write?k=K&v=V, /read?k=K; anything else 404.
import os
import pwd
import sqlite3
from urllib.parse import parse_qs

DB = "/var/lib/packapp/packapp.db"


def query(sql, args=()):
    c = sqlite3.connect(DB, timeout=10, isolation_level=None)
    try:
        return c.execute(sql, args).fetchone()
    finally:
        c.close()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    status, body = "200 OK", ""
    if path == "/sum":
        n = int(q.get("n", "10"))
        body = "%d %s" % (sum(i * i for i in range(1, n + 1)), pwd.getpwuid(os.geteuid()).pw_name)
    elif path == "/count":
        body = str(query("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n")[0])
    elif path == "/write":
        if not q.get("k"):
            status, body = "400 Bad Request", "no key"
        else:
            query("INSERT OR REPLACE INTO kv VALUES (?, ?)", (q["k"], q.get("v", "")))
            body = "written " + q["k"]
    elif path == "/read":
        row = query("SELECT v FROM kv WHERE k = ?", (q.get("k", ""),))
        status, body = ("200 OK", row[0]) if row else ("404 Not Found", "missing")
    else:
        status, body = "404 Not Found", "no such page"
    data = (body + "\n").encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
PY
    # the database, in WAL mode, made as www-data (the app opens it in autocommit)
    [ -e "$lib/packapp.db" ] || runuser -u www-data -- python3 -c '
import sqlite3
c = sqlite3.connect("/var/lib/packapp/packapp.db", isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
c.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
c.execute("INSERT INTO counter VALUES (1, 0)")
'
    touch "$lib/reload"
    chown www-data:www-data "$lib/reload"
    cat >/etc/uwsgi/apps-available/packapp.ini <<'INI'
; The pack's app: Debian's default.ini is inherited (master, pidfile, uwsgi socket, uid/gid).
[uwsgi]
plugins = python3
chdir = /srv/packapp
wsgi-file = /srv/packapp/app.py
http-socket = 127.0.0.1:8089
master = true
processes = 4
uid = www-data
gid = www-data
touch-reload = /var/lib/packapp/reload
INI
    ln -sf ../apps-available/packapp.ini /etc/uwsgi/apps-enabled/packapp.ini
    systemctl start uwsgi.service
    up || fail
    ;;
load)
    up || fail
    for round in 1 2 3; do
        for c in 1 2 3 4 5 6 7 8; do
            (
                for i in $(seq 1 8); do
                    curl -s -o /dev/null --max-time 5 "$http/sum?n=$((c * 100 + i))"
                    curl -s -o /dev/null --max-time 5 "$http/count"
                    curl -s -o /dev/null --max-time 5 "$http/write?k=load$round-$c-$i&v=$(date +%s%N)"
                    curl -s -o /dev/null --max-time 5 "$http/read?k=load$round-$c-$i"
                done
            ) &
        done
        wait
        curl -s -o /dev/null --max-time 5 "$http/nothing-here" || true
        curl -s -o /dev/null --max-time 5 "$http/write" || true
        case $round in
        1) touch "$lib/reload"; sleep 2; up || fail ;;
        2) systemctl reload uwsgi.service; sleep 1; up || fail ;;
        esac
    done
    ;;
check)
    up || fail
    [ "$(get '/sum?n=12')" = "650 www-data" ] || { echo "wrong computed value" >&2; fail; }
    token=check-$$-$(date +%s%N)
    [ "$(get "/write?k=$token&v=v$token")" = "written $token" ] || { echo "write failed" >&2; fail; }
    [ "$(get "/read?k=$token")" = "v$token" ] || { echo "token not read back" >&2; fail; }
    a=$(get /count); b=$(get /count)
    [ "$b" -eq $((a + 1)) ] || { echo "counter $a then $b" >&2; fail; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$http/nothing-here")" = 404 ] || { echo "no 404" >&2; fail; }
    # all 4 workers (respawned by the master after a reload)
    i=0
    until [ "$(workers)" = 4 ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "master has $(workers) workers, not 4" >&2; fail; }; sleep 0.2
    done
    [ "$(stat -c %U "$lib/packapp.db")" = www-data ] || { echo "db not www-data's" >&2; fail; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
