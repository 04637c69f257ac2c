#!/bin/sh
# Yaws 2.1.1 as Debian packages it (yaws.service: Type=forking, user yaws, `yaws --daemon
# --heart` on Erlang/OTP 25, a control socket under /var/cache/yaws/.yaws; the `localhost`
# server on 0.0.0.0:8080 and its SSL twin on 0.0.0.0:8443 with the snakeoil certificate, both
# serving Debian's page from /usr/share/yaws/www; logs in /var/log/yaws), run inside the pack's
# guest systemd. Clients: curl and ab.
#   setup: two dynamic pages added to the docroot: pack.yaws (an <erl> out(A) computing 12*12)
#          and sq.yaws (the square of its query argument n); the unit started.
#   load:  ab on Debian's page for 3 s (4 clients), ab on pack.yaws (300 requests), sq.yaws
#          with 100 arguments, the pages over HTTPS on 8443, 404s, 5 .yaws pages written under
#          new names and compiled by yaws at their first request, a page that does not compile
#          (yaws answers with its error page), a reload (yaws --hup), then more requests.
#   check: `/` is Debian's "Test Page for Yaws Installation", pack.yaws answers 144, sq.yaws
#          squares a random argument, a .yaws page written just then under a new name is
#          compiled and answers its token, the same over HTTPS, a missing page is 404.
set -eu
url=http://127.0.0.1:8080
surl=https://127.0.0.1:8443
www=/usr/share/yaws/www
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "yaws does not answer on :8080" >&2; return 1; }; sleep 0.2
    done
}
# page NAME TEXT: a .yaws page whose Erlang code answers TEXT followed by 12*12.
page() {
    cat >"$www/$1.yaws" <<PAGE
<html><body>
<erl>
out(_A) ->
    {html, io_lib:format("<p>~s ~w</p>", ["$2", 12*12])}.
</erl>
</body></html>
PAGE
}
case "${1:-}" in
setup)
    cat >"$www/pack.yaws" <<'PAGE'
<html><body>
<h1>pack dynamic page</h1>
<erl>
out(_A) ->
    {html, io_lib:format("<p>12*12 = ~w</p>", [12*12])}.
</erl>
</body></html>
PAGE
    cat >"$www/sq.yaws" <<'PAGE'
<html><body>
<erl>
out(A) ->
    case yaws_api:queryvar(A, "n") of
        {ok, N} -> I = list_to_integer(N), {html, io_lib:format("<p>square ~w</p>", [I*I])};
        undefined -> {html, "<p>no n</p>"}
    end.
</erl>
</body></html>
PAGE
    systemctl start yaws.service
    up
    ;;
load)
    up
    ab -q -c 4 -t 3 "$url/" >/dev/null 2>&1 || true
    ab -q -c 4 -n 300 "$url/pack.yaws" >/dev/null 2>&1 || true
    for i in $(seq 100); do curl -s -o /dev/null --max-time 2 "$url/sq.yaws?n=$i" || true; done
    for p in / /yaws.gif /pack.yaws "/sq.yaws?n=7" /no-such-page.html /no-such.yaws; do
        curl -s -o /dev/null --max-time 2 "$url$p" || true
        curl -sk -o /dev/null --max-time 2 "$surl$p" || true
    done
    for i in $(seq 5); do
        page "pack-load-$i" "load page $i"
        curl -s -o /dev/null --max-time 5 "$url/pack-load-$i.yaws" || true
        rm -f "$www/pack-load-$i.yaws"
    done
    printf '<erl>\nout(A) -> {html, 12 *}.\n</erl>\n' >"$www/pack-broken.yaws"
    curl -s -o /dev/null --max-time 5 "$url/pack-broken.yaws" || true
    rm -f "$www/pack-broken.yaws"
    systemctl reload yaws.service || true
    up || true
    ab -q -c 4 -n 300 "$url/pack.yaws" >/dev/null 2>&1 || true
    ab -q -c 2 -n 100 "$surl/" >/dev/null 2>&1 || true
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q "Test Page for Yaws Installation" \
        || { echo "/ is not Debian's yaws page" >&2; exit 1; }
    curl -fsS --max-time 10 "$url/pack.yaws" | grep -q "12\*12 = 144" \
        || { echo "pack.yaws does not answer 144" >&2; exit 1; }
    n=$(( $(date +%s) % 1000 + 2 ))
    curl -fsS --max-time 10 "$url/sq.yaws?n=$n" | grep -q "square $((n * n))" \
        || { echo "sq.yaws?n=$n does not answer $((n * n))" >&2; exit 1; }
    token="token$(date +%s%N)"
    page "pack-$token" "$token"
    out=$(curl -fsS --max-time 10 "$url/pack-$token.yaws" || true)
    rm -f "$www/pack-$token.yaws"
    echo "$out" | grep -q "$token 144" \
        || { echo "a new page pack-$token.yaws was not compiled and run: $out" >&2; exit 1; }
    curl -fsSk --max-time 10 "$surl/pack.yaws" | grep -q "12\*12 = 144" \
        || { echo "pack.yaws over HTTPS on 8443 does not answer 144" >&2; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/no-such-page.html")
    [ "$code" = 404 ] || { echo "a missing page answered $code" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
