#!/bin/sh
# saned 1.2 as Debian packages it (sane-utils: saned.service masked, saned.socket listening on
# 6566 with Accept=yes, so each connection is a saned@.service instance, as user saned, its
# output appended to /var/log/saned.log), serving SANE's `test` backend (libsane1); run inside
# the pack's guest systemd. Client: scanimage through the net backend.
#   setup: /etc/sane.d/dll.conf: the test backend enabled (shipped commented out);
#          /etc/sane.d/saned.conf: 127.0.0.1 allowed; /etc/sane.d/net.conf: 127.0.0.1 as the
#          net backend's host; saned.socket enabled and started (what a user does: the
#          package does not enable it), then a client lists the devices (the first instance).
#   load:  device lists, option lists (scanimage -A), 12 scans through net:127.0.0.1:test:0
#          and test:1 (Gray, Color and Lineart, test pictures, resolutions, PNM, TIFF and PNG),
#          two scans at once (two instances), a scan cancelled half way (client killed).
#   check: a Color scan of test:0 (Color pattern, 50 dpi) through net:127.0.0.1 is a valid
#          PNM (P6 with its width, height and 255, and exactly width*height*3 bytes of data).
set -eu
dev=net:127.0.0.1:test
si() { timeout 60 scanimage "$@"; }
up() {
    i=0
    until si -L 2>/dev/null | grep -q "\`$dev:0'"; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "saned does not list $dev:0" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    sed -i 's/^#[[:space:]]*test[[:space:]]*$/test/' /etc/sane.d/dll.conf
    grep -qx test /etc/sane.d/dll.conf
    grep -qx 127.0.0.1 /etc/sane.d/saned.conf || echo 127.0.0.1 >>/etc/sane.d/saned.conf
    grep -qx 127.0.0.1 /etc/sane.d/net.conf || echo 127.0.0.1 >>/etc/sane.d/net.conf
    systemctl enable --now saned.socket
    up
    ;;
load)
    up
    w=$(mktemp -d /tmp/pack-saned.XXXXXX)
    si -A -d "$dev:0" >/dev/null || true
    n=0
    for mode in Gray Color Lineart; do
        for pic in "Solid black" "Color pattern" "Grid" "Solid white"; do
            n=$((n + 1))
            case $((n % 3)) in 0) fmt=pnm ;; 1) fmt=tiff ;; *) fmt=png ;; esac
            si -d "$dev:$((n % 2))" --mode "$mode" --test-picture "$pic" \
                --resolution $((25 * (n % 4 + 1))) --format=$fmt -o "$w/scan-$n.$fmt" || true
        done
    done
    si -d "$dev:0" --mode Color --format=pnm -o "$w/a.pnm" &
    si -d "$dev:1" --mode Gray --format=pnm -o "$w/b.pnm" &
    wait
    # A scan that the client abandons half way (a large one, the client killed).
    si -d "$dev:0" --mode Color --resolution 600 --format=pnm -o "$w/big.pnm" &
    c=$!
    sleep 1
    kill "$c" 2>/dev/null || true
    wait "$c" 2>/dev/null || true
    si -L >/dev/null || true
    rm -rf "$w"
    up
    ;;
check)
    up
    f=$(mktemp /tmp/pack-saned-check.XXXXXX)
    si -d "$dev:0" --mode Color --test-picture "Color pattern" --resolution 50 --format=pnm -o "$f"
    hdr=$(head -c 64 "$f" | grep -a -v '^#' | head -n 3)
    magic=$(echo "$hdr" | sed -n 1p)
    w=$(echo "$hdr" | sed -n 2p | cut -d' ' -f1)
    h=$(echo "$hdr" | sed -n 2p | cut -d' ' -f2)
    max=$(echo "$hdr" | sed -n 3p)
    [ "$magic" = P6 ] && [ "$max" = 255 ] && [ "$w" -gt 0 ] && [ "$h" -gt 0 ] || {
        echo "not a PNM scan: $(head -c 64 "$f" | od -c | head -3)" >&2; exit 1; }
    hlen=$(head -c 64 "$f" | awk 'BEGIN{n=0;l=0} { l+=length($0)+1; if ($0 !~ /^#/) n++; if (n==3) {print l; exit} }')
    size=$(stat -c %s "$f")
    [ "$size" -eq $((hlen + w * h * 3)) ] || { echo "scan of $size bytes, expected $hlen + $w*$h*3" >&2; exit 1; }
    rm -f "$f"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
