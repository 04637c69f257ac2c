#!/bin/sh
# apt-cacher-ng 3.7 as Debian packages it (Type=notify, User=apt-cacher-ng, port 3142, its
# cache in /var/cache/apt-cacher-ng, Debian's acng.conf unchanged), caching a Debian mirror
# that the guest's nginx serves on loopback: /etc/apt-cacher-ng/backends_debian names
# http://127.0.0.1/debian/, as a site names its nearest mirror (there is no network here).
#   setup: a small archive under /var/www/html/debian (a .deb built with dpkg-deb, Packages
#          and Release from apt-ftparchive), nginx started, the backend set, the unit started.
#   load:  `apt-get update` and `apt-get download` through the cache (an own sources list
#          and state directory, `[trusted=yes]`), packages fetched by path through the
#          /debian remap and as an HTTP proxy, a missing file (404), the report page and its
#          statistics, the cache's expiration run from the report page.
#   check: a file with fresh contents put on the mirror comes through the cache byte for
#          byte, and again once removed from the mirror (served from the cache); apt-get
#          update through the cache succeeds and finds the package.
set -eu
mirror=/var/www/html/debian
acng=http://127.0.0.1:3142
up() {
    i=0
    until curl -fsS -o /dev/null --max-time 5 "$acng/acng-report.html"; do
        i=$((i + 1)); [ $i -lt 60 ] || return 1; sleep 0.3
    done
}
apt_through() { # apt_through apt-get ARGS...
    mkdir -p /var/lib/pack-acng/lists/partial /var/cache/pack-acng/archives/partial
    echo "deb [trusted=yes] $acng/debian pack main" >/etc/apt/pack-acng.list
    "$@" -q -o Dir::Etc::SourceList=/etc/apt/pack-acng.list -o Dir::Etc::SourceParts=- \
        -o Dir::State::Lists=/var/lib/pack-acng/lists -o Dir::Cache=/var/cache/pack-acng \
        -o Acquire::http::Proxy=false -o APT::Sandbox::User=root
}
case "${1:-}" in
setup)
    pkg=/root/pack-acng
    mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/pack-acng" "$mirror/pool/main/p/pack-acng" \
        "$mirror/dists/pack/main/binary-amd64"
    printf 'Package: pack-acng\nVersion: 1.0\nArchitecture: all\nMaintainer: pack <pack@localhost>\nDescription: a package for the pack\n' \
        >"$pkg/DEBIAN/control"
    head -c 200000 /dev/urandom >"$pkg/usr/share/pack-acng/data"
    dpkg-deb -b -Zgzip "$pkg" "$mirror/pool/main/p/pack-acng/pack-acng_1.0_all.deb" >/dev/null
    (cd "$mirror" && apt-ftparchive packages pool >dists/pack/main/binary-amd64/Packages)
    gzip -kf "$mirror/dists/pack/main/binary-amd64/Packages"
    apt-ftparchive -o APT::FTPArchive::Release::Suite=pack -o APT::FTPArchive::Release::Codename=pack \
        -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main \
        release "$mirror/dists/pack" >/root/Release
    mv /root/Release "$mirror/dists/pack/Release"
    echo 'http://127.0.0.1/debian/' >/etc/apt-cacher-ng/backends_debian
    systemctl start nginx.service
    systemctl restart apt-cacher-ng.service
    up
    ;;
load)
    up
    apt_through apt-get update >/dev/null || true
    apt_through apt-get download pack-acng >/dev/null 2>&1 || true
    rm -f pack-acng_*.deb
    for i in 1 2 3 4 5; do
        curl -fsS -o /dev/null "$acng/debian/pool/main/p/pack-acng/pack-acng_1.0_all.deb" || true
        curl -fsS -o /dev/null -x "$acng" "http://127.0.0.1/debian/dists/pack/Release" || true
    done
    curl -sS -o /dev/null "$acng/debian/pool/main/m/missing/missing_1.0_all.deb" || true
    curl -fsS -o /dev/null "$acng/acng-report.html?doCount=Count+Data" || true
    curl -fsS -o /dev/null "$acng/acng-report.html?doExpire=Start+Scan+and%2For+Expiration&calcSize=cs&asNeeded=an" || true
    ;;
check)
    up
    tok="t$(date +%s%N)"
    f="pool/main/p/pack-acng/pack-acng_$tok.deb"
    head -c 50000 /dev/urandom >"$mirror/$f"
    curl -fsS -o /root/pack-acng-1 "$acng/debian/$f"
    cmp -s "$mirror/$f" /root/pack-acng-1
    cp "$mirror/$f" /root/pack-acng-orig
    rm "$mirror/$f"
    curl -fsS -o /root/pack-acng-2 "$acng/debian/$f"
    cmp -s /root/pack-acng-orig /root/pack-acng-2
    rm -f /root/pack-acng-1 /root/pack-acng-2 /root/pack-acng-orig
    apt_through apt-get update >/dev/null
    apt_through apt-cache policy pack-acng | grep -q 'Candidate: 1.0'
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
