#!/bin/sh
# The Docker/OCI distribution registry 2.8 as Debian 12 packages it (docker-registry:
# docker-registry.service runs `docker-registry serve /etc/docker/registry/config.yml` as
# User=docker-registry, no hardening, no Restart=; no /etc/logrotate.d entry, it logs to the
# journal). Debian's config.yml: filesystem storage in /var/lib/docker-registry, deletion
# enabled, the in-memory blob descriptor cache, the storage health check every 10 s, listening
# on :5000, and htpasswd authentication whose `path:` is the directory /etc/docker/registry, so
# that as shipped every request with credentials fails ("read /etc/docker/registry: is a
# directory", 400). Clients: python3 speaking the Registry HTTP API v2 (no docker client here).
#   setup: the one change a new user must make: an htpasswd file /etc/docker/registry/htpasswd
#          (user `pack`, bcrypt cost 5 as `htpasswd -B` makes it, written with python3's crypt)
#          named in config.yml's `path:`; the unit started; an image (a config blob, 2 gzipped
#          tar layers, a schema 2 manifest) pushed as pack/setup:v1 and pulled back.
#   load:  4 clients for about 8 s, each on repositories of its own, a shared one and
#          pack/setup: blob uploads monolithic (POST then PUT ?digest=), single-request (POST
#          ?digest=) and chunked (PATCH with and without Content-Range, upload status GET,
#          then PUT), a cancelled upload (DELETE), cross-repository mounts (?mount=&from=),
#          HEADs before each push as docker does; Docker schema 2 and OCI manifests put by tag
#          and by digest, a manifest list and an OCI index over them; pulls of manifests (by
#          tag and digest, HEAD, If-None-Match 304; without Accept, which 2.8 answers with the
#          image converted to a signed schema 1 manifest) and blobs (GET compared by sha256,
#          Range 206), tags/list and _catalog paginated (n=, last=, Link; n=5000 refused with
#          400 PAGINATION_NUMBER_INVALID, 2.8.2's CVE-2023-2253 limit); DELETE of manifests by
#          digest and of a blob (deletion is on in Debian's config); errors: no credentials and
#          a wrong password (401), an unknown blob (404 BLOB_UNKNOWN), a wrong digest (400
#          DIGEST_INVALID), an unknown manifest (404 MANIFEST_UNKNOWN), an unknown repository
#          (404 NAME_UNKNOWN), a manifest naming a missing blob (400 MANIFEST_BLOB_UNKNOWN), a
#          manifest PUT by a digest that is not its own, a delete by tag (refused), a cancelled
#          upload asked for (404 BLOB_UPLOAD_UNKNOWN), an upload id without its _state and one
#          resumed with a stale _state (404 BLOB_UPLOAD_INVALID; 2.8 ignores Content-Range);
#          a client whose registry restarts under it waits for it and goes on; then
#          `docker-registry garbage-collect --dry-run` as docker-registry (outside the unit: a
#          real collection on a running registry is unsafe).
#   check: a blob of fresh random bytes and a manifest under a fresh tag in a fresh repository:
#          the manifest pulled back by tag and by digest byte for byte, the blob pulled back and
#          its sha256 compared, the repository found in _catalog (paginated); and setup's
#          pack/setup:v1 pulled, its config and layers matching their digests and the config's
#          diff_ids (state on disk survives every restart).
set -eu
reg() {
    /usr/bin/python3 - "$@" <<'PY'
import base64, gzip, hashlib, http.client, io, json, os, random, sys, tarfile, time
import urllib.parse

HOST, PORT = "127.0.0.1", 5000
USER, PASSWORD = "pack", "pack-registry-password"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join([DOCKER_V2, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX])


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def loc(h):
    u = urllib.parse.urlsplit(h["Location"])
    return u.path + ("?" + u.query if u.query else "")


def addq(path, **q):
    return path + ("&" if "?" in path else "?") + urllib.parse.urlencode(q)


class Fail(Exception):
    pass


class R:
    def __init__(self, user=USER, password=PASSWORD, timeout=60):
        self.auth = None if user is None else \
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.timeout = timeout
        self.c = None
        self.reconnected = False  # a kept-alive connection broke: the registry restarted?

    def req(self, method, path, body=None, headers=None, expect=None):
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(HOST, PORT, timeout=self.timeout)
            try:
                self.c.request(method, path, body=body, headers=h)
                r = self.c.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
                self.reconnected = True
        if expect is not None:
            ok = expect if isinstance(expect, tuple) else (expect,)
            if r.status not in ok:
                raise Fail(f"{method} {path}: {r.status} {data[:300]!r}, expected {expect}")
        return r.status, r.headers, data

    def error_code(self, data):
        try:
            return json.loads(data)["errors"][0]["code"]
        except Exception:
            return None

    def expect_error(self, want_status, want_code, method, path, **kw):
        st, h, d = self.req(method, path, **kw)
        code = self.error_code(d) if d else None
        if method == "HEAD":  # no body, no error code
            want_code = None
        if st != want_status or (want_code and code != want_code):
            raise Fail(f"{method} {path}: {st} {code}, expected {want_status} {want_code}")

    # Blob uploads.
    def start(self, repo, **q):
        p = f"/v2/{repo}/blobs/uploads/"
        if q:
            p += "?" + urllib.parse.urlencode(q)
        return self.req("POST", p, headers={"Content-Length": "0"}, expect=(201, 202))

    def exists(self, repo, digest):
        st, _, _ = self.req("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 404))
        return st == 200

    def push_monolithic(self, repo, blob):
        _, h, _ = self.start(repo)
        _, h, _ = self.req("PUT", addq(loc(h), digest=sha(blob)), body=blob,
                           headers={"Content-Type": "application/octet-stream"}, expect=201)
        if h["Docker-Content-Digest"] != sha(blob):
            raise Fail(f"pushed {sha(blob)}, registry says {h['Docker-Content-Digest']}")

    def push_single(self, repo, blob):
        # POST with ?digest=: the whole blob in one request.
        st, h, _ = self.req("POST", f"/v2/{repo}/blobs/uploads/?digest={sha(blob)}", body=blob,
                            headers={"Content-Type": "application/octet-stream"},
                            expect=(201, 202))
        if st == 202:  # a registry that ignores the digest on POST: finish the upload
            self.req("PUT", addq(loc(h), digest=sha(blob)), body=blob,
                     headers={"Content-Type": "application/octet-stream"}, expect=201)

    def push_chunked(self, repo, blob, chunk, ranges=True):
        _, h, _ = self.start(repo)
        u = loc(h)
        off = 0
        while off < len(blob):
            part = blob[off:off + chunk]
            hd = {"Content-Type": "application/octet-stream"}
            if ranges:
                hd["Content-Range"] = f"{off}-{off + len(part) - 1}"
            _, h, _ = self.req("PATCH", u, body=part, headers=hd, expect=202)
            u = loc(h)
            off += len(part)
            if h["Range"] != f"0-{off - 1}":
                raise Fail(f"after {off} bytes the upload's Range is {h['Range']}")
        _, h, _ = self.req("GET", u, expect=204)
        if h["Range"] != f"0-{len(blob) - 1}":
            raise Fail(f"upload status Range {h['Range']}, expected 0-{len(blob) - 1}")
        self.req("PUT", addq(u, digest=sha(blob)), expect=201)

    def mount(self, repo, digest, src):
        st, h, _ = self.start(repo, mount=digest, **{"from": src})
        if st == 202:  # not mountable (not in src): an upload was started instead
            self.req("DELETE", loc(h), expect=204)
        return st == 201

    def pull_blob(self, repo, digest, size=None):
        _, h, d = self.req("GET", f"/v2/{repo}/blobs/{digest}", expect=200)
        if sha(d) != digest:
            raise Fail(f"blob {repo}@{digest} came back as {sha(d)} ({len(d)} bytes)")
        if size is not None and len(d) != size:
            raise Fail(f"blob {repo}@{digest} is {len(d)} bytes, manifest says {size}")
        return d

    # Manifests.
    def put_manifest(self, repo, ref, body, mt):
        _, h, _ = self.req("PUT", f"/v2/{repo}/manifests/{ref}", body=body,
                           headers={"Content-Type": mt}, expect=201)
        if h["Docker-Content-Digest"] != sha(body):
            raise Fail(f"manifest {repo}:{ref} stored as {h['Docker-Content-Digest']}, "
                       f"its sha256 is {sha(body)}")
        return sha(body)

    def get_manifest(self, repo, ref):
        _, h, d = self.req("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT},
                           expect=200)
        return h, d

    def paginate(self, path, key, n):
        """All entries of tags/list or _catalog, n at a time, following Link."""
        out, p = [], f"{path}?n={n}"
        for _ in range(100000):
            _, h, d = self.req("GET", p, expect=200)
            out += json.loads(d)[key] or []
            link = h.get("Link")
            if not link:
                return out
            p = link.split(";")[0].strip().strip("<>")
        raise Fail(f"{path}: pagination does not end")


def layer(rnd, name, size):
    """A gzipped tar with a file of random bytes: (blob, diff_id)."""
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for fname, data in ((f"{name}/data.bin", rnd.randbytes(size)),
                            (f"{name}/README", f"layer {name}\n".encode())):
            ti = tarfile.TarInfo(fname)
            ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
            t.addfile(ti, io.BytesIO(data))
    raw = tbuf.getvalue()
    return gzip.compress(raw, mtime=0), sha(raw)


def image(rnd, name, sizes, oci=False):
    """(config, [layers], manifest bytes, media type)."""
    layers, diff_ids = [], []
    for k, s in enumerate(sizes):
        b, d = layer(rnd, f"{name}-{k}", s)
        layers.append(b)
        diff_ids.append(d)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"pack": name}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"pack layer {k}"} for k in range(len(sizes))],
    }, sort_keys=True).encode()
    mt = OCI_MANIFEST if oci else DOCKER_V2
    m = {"schemaVersion": 2, "mediaType": mt,
         "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                    "size": len(config), "digest": sha(config)},
         "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                     "size": len(b), "digest": sha(b)} for b in layers]}
    return config, layers, json.dumps(m, indent=3).encode(), mt


def pull_image(r, repo, ref, verify_config=True):
    """Pulls an image as docker does; checks every blob against its digest."""
    h, d = r.get_manifest(repo, ref)
    dig = h["Docker-Content-Digest"]
    if sha(d) != dig:
        raise Fail(f"{repo}:{ref}: manifest sha256 {sha(d)}, header says {dig}")
    m = json.loads(d)
    config = r.pull_blob(repo, m["config"]["digest"], m["config"]["size"])
    diff_ids = []
    for l in m["layers"]:
        b = r.pull_blob(repo, l["digest"], l["size"])
        diff_ids.append(sha(gzip.decompress(b)))
    if verify_config and json.loads(config)["rootfs"]["diff_ids"] != diff_ids:
        raise Fail(f"{repo}:{ref}: layers do not match the config's diff_ids")
    return dig, d


def ping(r):
    r.req("GET", "/v2/", expect=200)


def push_image(r, rnd, repo, tag, sizes, oci=False, how=0, by_digest=False):
    config, layers, man, mt = image(rnd, f"{repo}-{tag}", sizes, oci)
    for k, b in enumerate([config] + layers):
        if r.exists(repo, sha(b)):
            continue
        way = (how + k) % 4
        if way == 0:
            r.push_monolithic(repo, b)
        elif way == 1:
            r.push_single(repo, b)
        elif way == 2:
            r.push_chunked(repo, b, rnd.choice([8192, 65536, 1 << 20]))
        else:
            r.push_chunked(repo, b, rnd.choice([16384, 1 << 20]), ranges=False)
    if by_digest:
        return r.put_manifest(repo, sha(man), man, mt), man, layers
    return r.put_manifest(repo, tag, man, mt), man, layers


def client(n, secs):
    rnd = random.Random(n * 1000 + os.getpid())
    r = R()
    end = time.time() + secs
    i = 0
    while time.time() < end:
        i += 1
        try:
            iteration(r, rnd, n, i)
        except (Fail, OSError, http.client.HTTPException) as e:
            # The registry restarted or crashed under us (its connections broke, and its new
            # http secret refuses the old uploads' _state): wait for it, go on.
            try:
                ping(R(timeout=5))
                if isinstance(e, Fail) and not r.reconnected:
                    raise
            except (OSError, http.client.HTTPException):
                wait_up()
            print(f"client {n}: {e} (the registry went away; going on)", file=sys.stderr)
            r = R()


def wait_up():
    for _ in range(120):
        try:
            return ping(R(timeout=5))
        except (Fail, OSError, http.client.HTTPException):
            time.sleep(0.5)
    raise Fail("the registry does not answer again")


def iteration(r, rnd, n, i):
    mine = [f"load/c{n}-{k}" for k in range(3)]
    shared = "load/shared"
    repo = mine[i % 3]
    tag = f"t{i}"
    sizes = [rnd.randint(10, 200000) for _ in range(rnd.randint(1, 3))]
    dig, man, layers = push_image(r, rnd, repo, tag, sizes, oci=(i % 2 == 0), how=i)
    # Pull it back: by tag, by digest, HEAD, a conditional GET.
    h, d = r.get_manifest(repo, tag)
    if d != man:
        raise Fail(f"{repo}:{tag} came back different")
    h, d = r.get_manifest(repo, dig)
    if d != man:
        raise Fail(f"{repo}@{dig} came back different")
    r.req("HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, expect=200)
    r.req("GET", f"/v2/{repo}/manifests/{tag}",
          headers={"Accept": ACCEPT, "If-None-Match": f'"{dig}"'}, expect=(200, 304))
    pull_image(r, repo, tag)
    # A Range request on a layer.
    l0 = layers[0]
    a = rnd.randint(0, len(l0) - 1)
    b = rnd.randint(a, len(l0) - 1)
    _, h, d = r.req("GET", f"/v2/{repo}/blobs/{sha(l0)}",
                    headers={"Range": f"bytes={a}-{b}"}, expect=(200, 206))
    if d != (l0[a:b + 1] if len(d) != len(l0) else l0):
        raise Fail(f"Range {a}-{b} of {repo}@{sha(l0)} came back wrong")
    # Cross-repository mount of that layer into the shared repository and into the next
    # of this client's repositories, then an image in the shared one.
    r.mount(shared, sha(l0), repo)
    r.mount(mine[(i + 1) % 3], sha(l0), repo)
    if i % 2 == 0:
        push_image(r, rnd, shared, f"c{n}-{i}", [rnd.randint(10, 50000)], oci=(i % 4 == 0),
                   how=i + 1, by_digest=(i % 6 == 0))
    if i % 3 == 0:
        # Pull another client's image in the shared repository, and setup's image.
        tags = r.paginate(f"/v2/{shared}/tags/list", "tags", 5)
        if tags:
            pull_image(r, shared, rnd.choice(tags))
        _, sm = pull_image(r, "pack/setup", "v1")
        r.mount(repo, sha(layers[-1]), "pack/setup")  # not there: an upload instead
        # An old client accepting no schema 2: 2.8 converts it to a signed schema 1 manifest
        # (with the key it made at start).
        _, h, d = r.req("GET", "/v2/pack/setup/manifests/v1", expect=200)
        blobsums = [l["blobSum"] for l in json.loads(d)["fsLayers"]]
        if "prettyjws" not in h["Content-Type"] or \
                blobsums != [l["digest"] for l in json.loads(sm)["layers"]][::-1]:
            raise Fail(f"pack/setup:v1 as schema 1: {h['Content-Type']} {blobsums}")
    if i % 4 == 1:
        # A manifest list (or OCI index) over two images.
        d1, m1, _ = push_image(r, rnd, repo, f"amd64-{i}", [rnd.randint(10, 20000)], how=i)
        d2, m2, _ = push_image(r, rnd, repo, f"arm64-{i}", [rnd.randint(10, 20000)],
                               how=i + 2)
        oci = i % 8 == 1
        mt = OCI_INDEX if oci else DOCKER_LIST
        idx = json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": [
            {"mediaType": DOCKER_V2, "size": len(m1), "digest": d1,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": DOCKER_V2, "size": len(m2), "digest": d2,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ]}).encode()
        r.put_manifest(repo, f"multi-{i}", idx, mt)
        h, d = r.get_manifest(repo, f"multi-{i}")
        if d != idx or h["Content-Type"] != mt:
            raise Fail(f"{repo}:multi-{i} came back different ({h['Content-Type']})")
    if i % 3 == 1:
        # Listings, paginated.
        tags = r.paginate(f"/v2/{repo}/tags/list", "tags", 2)
        if tag not in tags:
            raise Fail(f"{repo}: {tag} not in tags/list {tags}")
        cat = r.paginate("/v2/_catalog", "repositories", rnd.choice([3, 10, 100]))
        if repo not in cat:
            raise Fail(f"{repo} not in _catalog")
    if i % 3 == 2:
        # Deletes: an image by digest (then it is gone), a blob of its own.
        d0, _, ls = push_image(r, rnd, repo, f"doomed-{i}", [rnd.randint(10, 5000)], how=i)
        st, _, _ = r.req("DELETE", f"/v2/{repo}/manifests/doomed-{i}")
        if st not in (400, 404, 405):
            raise Fail(f"DELETE of a manifest by tag: {st}")
        r.req("DELETE", f"/v2/{repo}/manifests/{d0}", expect=202)
        r.expect_error(404, "MANIFEST_UNKNOWN", "GET", f"/v2/{repo}/manifests/{d0}",
                       headers={"Accept": ACCEPT})
        r.expect_error(404, "MANIFEST_UNKNOWN", "GET", f"/v2/{repo}/manifests/doomed-{i}",
                       headers={"Accept": ACCEPT})
        r.req("DELETE", f"/v2/{repo}/blobs/{sha(ls[0])}", expect=202)
        r.expect_error(404, "BLOB_UNKNOWN", "HEAD", f"/v2/{repo}/blobs/{sha(ls[0])}")
    # Error paths.
    k = i % 6
    junk = rnd.randbytes(300)
    if k == 0:
        R(user=None).expect_error(401, "UNAUTHORIZED", "GET", "/v2/")
        R(password="wrong").expect_error(401, "UNAUTHORIZED", "GET", f"/v2/{repo}/tags/list")
        r.expect_error(404, "BLOB_UNKNOWN", "GET", f"/v2/{repo}/blobs/{sha(junk)}")
    elif k == 1:
        _, h, _ = r.start(repo)
        r.expect_error(400, "DIGEST_INVALID", "PUT",
                       addq(loc(h), digest=sha(junk + b"x")), body=junk)
        r.expect_error(404, "MANIFEST_UNKNOWN", "GET", f"/v2/{repo}/manifests/nope-{i}",
                       headers={"Accept": ACCEPT})
    elif k == 2:
        r.expect_error(404, "NAME_UNKNOWN", "GET", f"/v2/load/never-{n}-{i}/tags/list")
        r.expect_error(400, "PAGINATION_NUMBER_INVALID", "GET", "/v2/_catalog?n=5000")
        _, _, man, mt = image(rnd, "ghost", [100])  # its blobs never pushed
        r.expect_error(400, "MANIFEST_BLOB_UNKNOWN", "PUT", f"/v2/{repo}/manifests/ghost",
                       body=man, headers={"Content-Type": mt})
    elif k == 3:
        r.expect_error(400, None, "PUT", f"/v2/{repo}/manifests/{sha(junk)}",
                       body=man, headers={"Content-Type": DOCKER_V2 if i % 2 else OCI_MANIFEST})
        _, h, _ = r.start(repo)
        u = loc(h)
        _, h, _ = r.req("PATCH", u, body=junk[:100], headers={"Content-Range": "0-99"},
                        expect=202)
        u = loc(h)
        r.req("DELETE", u, expect=204)  # cancelled
        r.expect_error(404, "BLOB_UPLOAD_UNKNOWN", "GET", u)
    elif k == 4:
        _, h, _ = r.start(repo)
        u = loc(h)
        _, h, _ = r.req("PATCH", u, body=junk, expect=202)
        # Resumed with the state from before that chunk: the wrong offset (2.8 ignores
        # Content-Range); then cancelled with the right state.
        r.expect_error(404, "BLOB_UPLOAD_INVALID", "PATCH", u, body=junk)
        r.req("DELETE", loc(h), expect=(204, 404))
        r.expect_error(404, "BLOB_UNKNOWN", "HEAD", f"/v2/{repo}/blobs/{sha(junk)}")
    else:
        # An upload id without its _state.
        r.expect_error(404, "BLOB_UPLOAD_INVALID", "GET",
                       f"/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-00000000000{n}")
        r.expect_error(404, "BLOB_UNKNOWN", "GET", f"/v2/pack/setup/blobs/{sha(junk)}",
                       headers={"Range": "bytes=0-9"})


def setup():
    r = R()
    rnd = random.Random()
    dig, man, layers = push_image(r, rnd, "pack/setup", "v1", [150000, 3000], how=0)
    got, d = pull_image(r, "pack/setup", "v1")
    if got != dig or d != man:
        raise Fail("pack/setup:v1 came back different")


def check(token):
    r = R()
    repo = f"check/{token}"
    tag = f"v-{token[-12:]}"
    blob = os.urandom(random.randint(1000, 100000))
    r.push_monolithic(repo, blob)
    if not r.exists(repo, sha(blob)):
        raise Fail(f"pushed blob {sha(blob)} not found by HEAD")
    config = json.dumps({"architecture": "amd64", "os": "linux", "pack": token,
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    r.push_single(repo, config)
    man = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_V2,
                      "config": {"mediaType": DOCKER_CONFIG, "size": len(config),
                                 "digest": sha(config)},
                      "layers": [{"mediaType": "application/octet-stream", "size": len(blob),
                                  "digest": sha(blob)}]}).encode()
    dig = r.put_manifest(repo, tag, man, DOCKER_V2)
    for ref in (tag, dig):
        h, d = r.get_manifest(repo, ref)
        if d != man:
            raise Fail(f"manifest {repo}:{ref} came back different ({len(d)} bytes)")
        if h["Docker-Content-Digest"] != dig:
            raise Fail(f"manifest {repo}:{ref} has digest {h['Docker-Content-Digest']}")
    m = json.loads(d)
    back = r.pull_blob(repo, m["layers"][0]["digest"], len(blob))
    if back != blob:
        raise Fail(f"blob {sha(blob)} came back different")
    if r.pull_blob(repo, sha(config)) != config:
        raise Fail("config blob came back different")
    if r.paginate(f"/v2/{repo}/tags/list", "tags", 100) != [tag]:
        raise Fail(f"{repo}: tags/list is not [{tag}]")
    if repo not in r.paginate("/v2/_catalog", "repositories", 100):
        raise Fail(f"{repo} not listed in _catalog")
    pull_image(r, "pack/setup", "v1")


mode = sys.argv[1]
try:
    if mode == "ping":
        ping(R(timeout=5))
    elif mode == "setup":
        setup()
    elif mode == "check":
        check(sys.argv[2])
    elif mode == "client":
        client(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "htpasswd":
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        # bcrypt cost 5 ($2b$05$), as `htpasswd -B` makes it.
        print(f"{USER}:" + crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))
except Fail as e:
    sys.exit(f"{mode}: {e}")
PY
}
up() {
    i=0
    until reg ping 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 120 ] || { echo "the registry does not answer on 127.0.0.1:5000 (GET /v2/)" >&2; return 1; }
        sleep 0.5
    done
}
case "${1:-}" in
setup)
    conf=/etc/docker/registry/config.yml
    if [ ! -s /etc/docker/registry/htpasswd ]; then
        reg htpasswd >/etc/docker/registry/htpasswd.new
        chown root:docker-registry /etc/docker/registry/htpasswd.new
        chmod 640 /etc/docker/registry/htpasswd.new
        mv /etc/docker/registry/htpasswd.new /etc/docker/registry/htpasswd
    fi
    sed -i 's#^\([[:space:]]*path:[[:space:]]*\)/etc/docker/registry[[:space:]]*$#\1/etc/docker/registry/htpasswd#' "$conf"
    grep -q '^[[:space:]]*path: /etc/docker/registry/htpasswd$' "$conf" ||
        { echo "could not point $conf's htpasswd path at /etc/docker/registry/htpasswd" >&2; exit 1; }
    systemctl start docker-registry.service
    up
    reg setup
    ;;
load)
    up
    pids=
    for n in 1 2 3 4; do
        reg client "$n" 8 &
        pids="$pids $!"
    done
    rc=0
    for p in $pids; do wait "$p" || rc=1; done
    reg check "load-$$-$(date +%s%N)" || rc=1
    # The garbage collector's mark phase over what was pushed and deleted (dry run: the
    # registry is running).
    runuser -u docker-registry -- /usr/bin/docker-registry garbage-collect --dry-run \
        /etc/docker/registry/config.yml >/dev/null || rc=1
    exit $rc
    ;;
check)
    up
    reg check "c$$-$(date +%s%N)"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
