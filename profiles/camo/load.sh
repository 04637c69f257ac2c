#!/bin/sh
# camo 2.3.0 as Debian packages it: an HTTP image proxy in Node.js, started by its init script
# (camo.service is systemd's generated unit: Type=forking, RemainAfterExit=yes, KillMode=process;
# start-stop-daemon runs `/usr/bin/nodejs /usr/share/camo/server.js` as nobody, stdout appended
# to /var/log/camo/camo.log, stderr to the journal), its settings in /etc/default/camo (sourced
# by the script: CAMO_KEY and PORT exported), listening on port 9292 (all addresses). Node.js is
# the one of the machine the guest overlays (nodesource 20.x). A URL is served as
# /<HMAC-SHA1(key, url) hex>/<url hex> or /<digest>?url=<url>; camo fetches the URL and passes
# it on only if it is an image. Clients: curl (as a browser, with Accept-Encoding: see cam()),
# openssl (the digest).
#   setup: a fixed key written over the package's random CAMO_KEY in /etc/default/camo, and
#          CAMO_LOGGING_ENABLED=1 exported (errors logged to stderr); an origin: python3's
#          http.server on port 8199 ([::], so 127.0.0.1, ::1 and localhost) serving a PNG, a GIF,
#          a 1 MB PNG, a 6 MB PNG (over camo's 5 MB limit), an HTML page, from
#          /var/lib/pack-camo/www, as its own transient unit pack-camo-origin (Restart=always),
#          so that the recording does not count it as camo's; the unit started.
#   load:  for about 8 s, rounds of: the PNG, the GIF and the 1 MB PNG through camo by signed
#          path URLs and by the query form (?url=), origin named 127.0.0.1, localhost and [::1],
#          clients on 127.0.0.1 and [::1], four at once; refused ones: a wrong digest, the HTML
#          page (not an image), a missing image (origin's 404), a closed port, the 6 MB PNG;
#          /, /status, /favicon.ico, a HEAD.
#   check: a PNG written just then with random pixels under a new name comes back through a
#          signed URL byte for byte (200, image/png), the GIF too through localhost by the query
#          form; the same URL with a wrong digest gets 404 "Not Found" and not the image;
#          /status answers "ok".
set -eu
port=9292
key=5061636b2d63616d6f2d6b65792d3230323621
www=/var/lib/pack-camo/www
origin=8199
# As a browser asks: camo 2.3.0 copies the client's Accept-Encoding into its request to the
# origin, and Node.js refuses an undefined header value: a request without one ends camo
# (ERR_HTTP_INVALID_HEADER_VALUE, uncaught), with or without a drop-in.
cam() { curl -sS --max-time 15 -H 'Accept-Encoding: gzip, deflate' -H 'Accept: image/*' "$@"; }
hmac() { printf %s "$1" | openssl dgst -sha1 -hmac "$key" | sed 's/^.*= *//'; }
hex() { printf %s "$1" | od -An -v -tx1 | tr -d ' \n'; }
signed() { echo "http://${2:-127.0.0.1}:$port/$(hmac "$1")/$(hex "$1")"; } # URL [camo host]
query() { # URL: the query form, the URL percent-encoded
    echo "http://127.0.0.1:$port/$(hmac "$1")?url=$(printf %s "$1" | od -An -v -tx1 | tr -d '\n' | sed 's/ /%/g')"
}
png() { # FILE W H: a PNG of random pixels
    /usr/bin/python3 - "$@" <<'PY'
import os, struct, sys, zlib
out, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = b"".join(b"\0" + os.urandom(w * 3) for _ in range(h))
data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")
with open(out + ".tmp", "wb") as f:
    f.write(data)
os.rename(out + ".tmp", out)
PY
}
up() {
    i=0
    until [ "$(cam -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/status" 2>/dev/null)" = 200 ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "camo does not answer on 127.0.0.1:$port" >&2; return 1; }; sleep 0.2
    done
}
origin_up() {
    i=0
    until curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$origin/pack.png" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "the origin does not answer on 127.0.0.1:$origin" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    mkdir -p "$www"
    png "$www/pack.png" 64 48
    png "$www/big.png" 600 580
    png "$www/huge.png" 1500 1400
    # a 1x1 GIF
    printf 'GIF89a\001\000\001\000\200\000\000\377\000\000\000\000\000!\371\004\001\000\000\000\000,\000\000\000\000\001\000\001\000\000\002\002D\001\000;' >"$www/pack.gif"
    echo '<html><body>not an image</body></html>' >"$www/page.html"
    systemctl is-active -q pack-camo-origin.service ||
        systemd-run --quiet --unit=pack-camo-origin --property=Restart=always \
            /usr/bin/python3 -m http.server --bind :: --directory "$www" "$origin"
    origin_up
    sed -i "s/^CAMO_KEY=.*/CAMO_KEY=$key/" /etc/default/camo
    grep -q "^CAMO_KEY=$key\$" /etc/default/camo
    grep -q '^export CAMO_LOGGING_ENABLED' /etc/default/camo || echo 'export CAMO_LOGGING_ENABLED' >>/etc/default/camo
    systemctl start camo.service
    up
    ;;
load)
    origin_up
    up
    o=http://127.0.0.1:$origin
    end=$(($(date +%s) + 8))
    while [ "$(date +%s)" -lt "$end" ]; do
        for u in "$o/pack.png" "$o/pack.gif" "$o/big.png" "http://localhost:$origin/pack.png" \
            "http://[::1]:$origin/pack.gif"; do
            cam -o /dev/null "$(signed "$u")" &
        done
        wait
        cam -o /dev/null "$(signed "$o/pack.png" '[::1]')" || true
        cam -o /dev/null "$(query "http://localhost:$origin/pack.gif")" || true
        cam -o /dev/null "http://127.0.0.1:$port/0000000000000000000000000000000000000000/$(hex "$o/pack.png")" || true
        cam -o /dev/null "$(signed "$o/page.html")" || true
        cam -o /dev/null "$(signed "$o/missing.png")" || true
        cam -o /dev/null "$(signed "http://127.0.0.1:1/pack.png")" || true
        cam -o /dev/null "$(signed "$o/huge.png")" || true
        cam -o /dev/null "http://127.0.0.1:$port/" || true
        cam -o /dev/null "http://[::1]:$port/status" || true
        cam -o /dev/null "http://127.0.0.1:$port/favicon.ico" || true
        cam -o /dev/null -I "$(signed "$o/pack.png")" || true
    done
    up
    ;;
check)
    origin_up
    up
    token=check-$$-$(date +%s%N)
    png "$www/$token.png" 32 32
    u=http://127.0.0.1:$origin/$token.png
    out=/tmp/pack-camo-$token
    code=$(cam -o "$out" -w '%{http_code} %{content_type}' "$(signed "$u")" || true)
    [ "$code" = "200 image/png" ] && cmp -s "$out" "$www/$token.png" || {
        echo "camo answered '$code' for $u, not the image" >&2; exit 1; }
    g=http://localhost:$origin/pack.gif
    code=$(cam -o "$out.gif" -w '%{http_code} %{content_type}' "$(query "$g")" || true)
    [ "$code" = "200 image/gif" ] && cmp -s "$out.gif" "$www/pack.gif" || {
        echo "camo answered '$code' for $g (query form), not the GIF" >&2; exit 1; }
    bad=$(hmac "$u.x")
    code=$(cam -o "$out.bad" -w '%{http_code}' "http://127.0.0.1:$port/$bad/$(hex "$u")" || true)
    [ "$code" = 404 ] && [ "$(cat "$out.bad")" = "Not Found" ] || {
        echo "a wrong digest got $code, not camo's 404" >&2; exit 1; }
    cam "http://127.0.0.1:$port/status" | grep -q '^ok '
    rm -f "$out" "$out.gif" "$out.bad" "$www/$token.png"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
