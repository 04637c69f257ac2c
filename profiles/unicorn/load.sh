#!/bin/sh
# Unicorn 6 (Ruby preforking Rack server) as Debian packages it: unicorn.service runs
# `unicorn -c $CONFIG_RB` from /etc/default/unicorn as root, inside the pack's guest systemd.
# The package ships no application: setup gives it a small Rack one.
#   setup: /srv/pack (config.ru: / answers with the worker's pid, POST /notes appends a line
#          to /var/lib/pack-unicorn/notes, GET /notes lists them, GET /price asks an HTTP API
#          over TCP, as applications call their database or services: here a Ruby TCPServer
#          on 127.0.0.1:8099, its own transient unit pack-api.service), /etc/unicorn/pack.rb
#          (127.0.0.1:8787, 2 workers as www-data, pid /run/unicorn.pid, logs in
#          /var/log/unicorn), CONFIG_RB in /etc/default/unicorn, the unit started.
#   load:  about 3 s of requests (pages, notes written and read, a 404), a reload (HUP:
#          the master re-reads its config and replaces its workers), more requests,
#          USR1 (reopen logs), TTIN/TTOU (one worker more, then one less).
#   check: / answers from a worker, a fresh note POSTed is read back, the note from setup
#          is still there, and /price brings the API's answer.
set -eu
url=http://127.0.0.1:8787
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.2
    done
}
case "${1:-}" in
setup)
    mkdir -p /srv/pack /etc/unicorn /var/lib/pack-unicorn /var/log/unicorn
    chown www-data:www-data /var/lib/pack-unicorn /var/log/unicorn
    cat >/srv/pack/config.ru <<'RU'
# A Rack application for the pack: a page and a list of notes kept in a file.
NOTES = "/var/lib/pack-unicorn/notes"
run lambda { |env|
  req = Rack::Request.new(env)
  case [req.request_method, req.path_info]
  when ["GET", "/"]
    [200, { "content-type" => "text/plain" }, ["learner pack from worker #{Process.pid}\n"]]
  when ["POST", "/notes"]
    File.open(NOTES, "a") { |f| f.puts(req.body.read.strip) }
    [201, { "content-type" => "text/plain" }, ["stored\n"]]
  when ["GET", "/notes"]
    [200, { "content-type" => "text/plain" }, [File.exist?(NOTES) ? File.read(NOTES) : ""]]
  when ["GET", "/price"]
    require "net/http"
    [200, { "content-type" => "text/plain" }, [Net::HTTP.get(URI("http://localhost:8099/price"))]]
  else
    [404, { "content-type" => "text/plain" }, ["not found\n"]]
  end
}
RU
    cat >/etc/unicorn/pack.rb <<'RB'
working_directory "/srv/pack"
listen "127.0.0.1:8787"
worker_processes 2
user "www-data", "www-data"
pid "/run/unicorn.pid"
timeout 30
preload_app false
stderr_path "/var/log/unicorn/stderr.log"
stdout_path "/var/log/unicorn/stdout.log"
RB
    # The API the app calls: its own unit, so the recording does not count it as unicorn's.
    systemctl is-active -q pack-api.service ||
        systemd-run --quiet --unit=pack-api --property=Restart=always ruby -rsocket -e '
            s = TCPServer.new("127.0.0.1", 8099)
            loop do
              c = s.accept
              while (l = c.gets) && l != "\r\n"; end
              c.print "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nprice 42\n"
              c.close
            end'
    sed -i 's|^CONFIG_RB=.*|CONFIG_RB=/etc/unicorn/pack.rb|' /etc/default/unicorn
    grep -q '^CONFIG_RB=/etc/unicorn/pack.rb' /etc/default/unicorn
    systemctl start unicorn.service
    up
    curl -fsS -o /dev/null --max-time 5 --data from-setup "$url/notes"
    ;;
load)
    up
    end=$(($(date +%s) + 3))
    n=0
    while [ "$(date +%s)" -lt $end ]; do
        n=$((n + 1))
        curl -s -o /dev/null --max-time 2 "$url/" || true
        curl -s -o /dev/null --max-time 2 --data "load-$n" "$url/notes" || true
        curl -s -o /dev/null --max-time 2 "$url/notes" || true
        curl -s -o /dev/null --max-time 2 "$url/no-such-page" || true
        curl -s -o /dev/null --max-time 2 "$url/price" || true
    done
    systemctl reload unicorn.service || true
    sleep 1
    for i in 1 2 3 4 5; do curl -s -o /dev/null --max-time 2 "$url/" || true; done
    pid=$(cat /run/unicorn.pid 2>/dev/null) || true
    if [ -n "$pid" ]; then
        kill -USR1 "$pid" || true
        kill -TTIN "$pid" || true
        sleep 1
        curl -s -o /dev/null --max-time 2 "$url/" || true
        kill -TTOU "$pid" || true
        sleep 0.5
    fi
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q '^learner pack from worker [0-9]'
    v=check-$(date +%s%N)
    curl -fsS -o /dev/null --max-time 5 --data "$v" "$url/notes"
    notes=$(curl -fsS --max-time 5 "$url/notes")
    echo "$notes" | grep -qx "$v"
    echo "$notes" | grep -qx from-setup
    curl -fsS --max-time 5 "$url/price" | grep -qx 'price 42'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
