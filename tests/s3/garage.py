#!/usr/bin/env python3
"""pixbin on S3 (a real 3-node Garage cluster, started by run.sh) behaves as on fs:

- every real image and every hostile file of tests/fixtures uploads with the same
  status, error code, type, size, dimensions and hash on both, and serves back
  the same bytes from both;
- the blobs are objects in the bucket under the prefix, and nowhere on local disk;
- a delete removes the object; an orphan object goes to trash/ on `gc`, not away;
- `pixbin check` is clean, and a restart serves everything byte-exact;
- a new database pointed at the bucket is refused (the identity marker lives there);
- with one Garage node killed, uploads and reads go on (quorum 2 of 3); with two,
  uploads answer 503 `unavailable` with Retry-After in bounded time, no hang, and
  once the nodes are back everything acknowledged serves byte-exact;
- a second server (its own prefix) with `--cache-dir` and `--s3-redirect`: a
  public GET answers 302 to a presigned URL that Garage serves byte-exact, the
  view counted once; a private image is served by pixbin and filled into the
  disk cache, and keeps serving byte-exact from it with two nodes down, while
  `/readyz` answers 503 `unavailable`, and 200 again once the nodes are back.

Reads the cluster's env file (S3_ENDPOINT, AWS_*, GARAGE_PID_*) from argv[1].
"""

import datetime
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "security"))
from harness import BINARY, bmp, start_serve, upload  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
PASSWORD = "garage-check-password"


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v
    return env


class S3:
    """The few signed requests the checks need (AWS Signature V4, path style)."""

    def __init__(self, endpoint, bucket, region, key_id, secret):
        self.endpoint, self.bucket, self.region = endpoint, bucket, region
        self.key_id, self.secret = key_id, secret
        self.host = urllib.parse.urlparse(endpoint).netloc

    def _signing_key(self, day):
        k = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        return k

    def presign(self, key, expires=3600):
        """A presigned GET URL of `key` (SigV4 query signing), for load tools
        that cannot sign each request."""
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        path = "/" + self.bucket + "/" + urllib.parse.quote(key)
        scope = f"{day}/{self.region}/s3/aws4_request"
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.key_id}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        qs = "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
                      for k, v in sorted(query.items()))
        canonical = "\n".join(["GET", path, qs, f"host:{self.host}", "", "host", "UNSIGNED-PAYLOAD"])
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        sig = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self.endpoint}{path}?{qs}&X-Amz-Signature={sig}"

    def request(self, method, key="", query=None, body=b""):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        path = "/" + self.bucket + ("/" + urllib.parse.quote(key) if key else "")
        qs = "&".join(
            f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
            for k, v in sorted((query or {}).items())
        )
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = {"host": self.host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, path, qs]
            + [f"{k}:{headers[k]}" for k in sorted(headers)]
            + ["", signed, payload_hash]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        sig = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, SignedHeaders={signed}, Signature={sig}"
        )
        url = self.endpoint + path + ("?" + qs if qs else "")
        req = urllib.request.Request(url, data=body or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=20) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def exists(self, key):
        status, _ = self.request("HEAD", key)
        assert status in (200, 404), f"HEAD {key}: {status}"
        return status == 200

    def keys(self, prefix):
        status, body = self.request("GET", query={"list-type": "2", "prefix": prefix})
        assert status == 200, (status, body[:300])
        text = body.decode()
        return [part.split("</Key>")[0] for part in text.split("<Key>")[1:]]


class Pixbin:
    """The release binary serving one data directory."""

    def __init__(self, data_dir, env):
        self.data_dir, self.env = data_dir, env
        self.proc = self.base = None
        self.upload_key = None

    def start(self):
        self.log = open(self.data_dir + ".log", "ab")
        self.proc, self.base, key = start_serve(self.data_dir, self.log, self.env, password=PASSWORD)
        # A restart prints no key: the first start's stays valid.
        self.upload_key = key or self.upload_key
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0, "pixbin exited uncleanly"
        self.log.close()

    def cli(self, *args):
        env = dict(os.environ)
        env.update(self.env)
        return subprocess.run(
            [BINARY, *args, "--data-dir", self.data_dir],
            env=env, capture_output=True, text=True, timeout=120,
        )

    def login(self):
        req = urllib.request.Request(
            self.base + "/api/login",
            data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(req, timeout=20) as res:
            body = json.load(res)
            cookies = [c.split(";", 1)[0] for c in res.headers.get_all("Set-Cookie")]
        return "; ".join(cookies), body["csrfToken"]

    def make_private(self, img):
        """Makes an image private; returns its JSON (the url carries the key)."""
        cookie, csrf = self.login()
        req = urllib.request.Request(
            f"{self.base}/api/images/{img['id']}/privacy", data=b'{"isPrivate": true}',
            headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=20) as res:
            return json.load(res)

    def delete(self, uuid):
        cookie, csrf = self.login()
        req = urllib.request.Request(
            f"{self.base}/api/delete/{uuid}",
            headers={"Cookie": cookie, "X-CSRF-Token": csrf}, method="DELETE",
        )
        with urllib.request.urlopen(req, timeout=20) as res:
            return res.status


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_with_headers(url):
    try:
        with urllib.request.urlopen(url, timeout=120) as res:
            return res.status, res.read(), res.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get_unfollowed(url):
    """GET without following a redirect, as a browser (so a view is a view,
    not a bot's fetch): (status, headers)."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers={"User-Agent": BROWSER})
    try:
        with opener.open(req, timeout=30) as res:
            return res.status, res.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def wait_for(what, cond, limit=60):
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit} s")
        time.sleep(0.5)
    print("  ok:", what)


def views_of(server, img):
    cookie, _ = server.login()
    req = urllib.request.Request(f"{server.base}/api/images/{img['id']}", headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=20) as res:
        return json.load(res)["views"]


def restart_node(env_path, n):
    """Starts Garage node `n` of the cluster again (same config and data)."""
    cluster = os.path.dirname(os.path.abspath(env_path))
    garage = os.environ.get("GARAGE", os.path.expanduser("~/.cache/pixbin-tools/bin/garage"))
    with open(os.path.join(cluster, f"log{n}"), "ab") as log:
        proc = subprocess.Popen([garage, "-c", os.path.join(cluster, f"cfg{n}.toml"), "server"],
                                stdout=log, stderr=log, start_new_session=True)
    # cluster.sh stop kills what the pid files name.
    with open(os.path.join(cluster, f"pid{n}"), "w") as f:
        f.write(str(proc.pid))


def fixtures():
    for kind in ("real", "hostile"):
        folder = os.path.join(FIXTURES, kind)
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                yield f"{kind}/{name}", name, f.read()


def outcome(status, body):
    """What must match between fs and S3 for one upload."""
    if status == 200:
        return (200, body["contentType"], body["size"], body.get("width"), body.get("height"), body["hash"])
    try:
        return (status, json.loads(body)["code"])
    except (ValueError, KeyError):
        return (status, body[:80])


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok:", what)


def main():
    env = read_env(sys.argv[1])
    prefix = "run-" + os.urandom(6).hex()
    s3 = S3(env["S3_ENDPOINT"], env["S3_BUCKET"], env["S3_REGION"],
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    s3_env = {
        "PIXBIN_STORAGE": f"s3://{env['S3_BUCKET']}/{prefix}",
        "PIXBIN_S3_ENDPOINT": env["S3_ENDPOINT"],
        "PIXBIN_S3_REGION": env["S3_REGION"],
        "PIXBIN_S3_PATH_STYLE": "true",
        "PIXBIN_S3_TIMEOUT": "5s",
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
    }
    work = tempfile.mkdtemp(prefix="pixbin-s3-")
    cache_dir = os.path.join(work, "edge-cache")
    edge_env = dict(s3_env, PIXBIN_STORAGE=f"s3://{env['S3_BUCKET']}/{prefix}-edge",
                    PIXBIN_CACHE_DIR=cache_dir, PIXBIN_CACHE_SIZE="64MiB",
                    PIXBIN_S3_REDIRECT="true", PIXBIN_S3_REDIRECT_TTL="2m")
    fs = Pixbin(os.path.join(work, "fs"), {"PIXBIN_STORAGE": "fs"}).start()
    on_s3 = Pixbin(os.path.join(work, "s3"), s3_env).start()
    edge = Pixbin(os.path.join(work, "edge"), edge_env).start()
    try:
        print("uploads: fs and S3 side by side")
        stored = {}
        for label, name, data in fixtures():
            a = upload(fs.base, fs.upload_key, data, name, "application/octet-stream")
            b = upload(on_s3.base, on_s3.upload_key, data, name, "application/octet-stream")
            check(outcome(*a) == outcome(*b), f"{label}: same outcome {outcome(*b)}")
            if b[0] == 200:
                sa, ga = get(a[1]["url"])
                sb, gb = get(b[1]["url"])
                check(sa == sb == 200 and ga == gb, f"{label}: same bytes served ({len(gb)} B)")
                key = f"{prefix}/blobs/{b[1]['hash']}"
                check(s3.exists(key), f"{label}: object {key[len(prefix) + 1:][:18]}… in the bucket")
                stored[label] = (b[1], gb)
        check(len(stored) >= 10, f"{len(stored)} images stored")
        check(not os.path.exists(os.path.join(on_s3.data_dir, "blobs")), "no local blobs/ on S3")

        print("delete removes the object")
        label, (img, _) = next(iter(stored.items()))
        # A blob shared by two images survives the first delete: pick one used once.
        check(on_s3.delete(img["uuid"]) == 200, f"deleted {label}")
        check(not s3.exists(f"{prefix}/blobs/{img['hash']}"), "its object is gone")
        check(get(img["url"])[0] == 404, "its URL answers 404")
        del stored[label]

        print("redirects and the disk cache (a second server, its own prefix)")
        small = bmp(64, 48, 0x51)
        status, pub = upload(edge.base, edge.upload_key, small, "public.bmp")
        check(status == 200, "public image uploaded to the edge server")
        status, headers = get_unfollowed(pub["url"])
        location = headers.get("Location") or ""
        check(status == 302 and "X-Amz-Signature=" in location and "X-Amz-Expires=120" in location,
              f"a public GET answers 302 to a presigned URL ({status})")
        check(headers.get("Cache-Control") == "private, max-age=60", "its 302 lives half the URL's life")
        status, got = get(location)
        check(status == 200 and got == small, "Garage serves the presigned URL byte-exact")
        wait_for("the redirect counted one view", lambda: views_of(edge, pub) == 1, 10)
        big = bmp(400, 300, 0x52)  # past the 256 KiB memory cache
        status, priv = upload(edge.base, edge.upload_key, big, "private.bmp")
        check(status == 200, "a second image uploaded to the edge server")
        priv = edge.make_private(priv)
        status, headers = get_unfollowed(priv["url"])
        check(status == 200, f"a private image is served by pixbin, not redirected ({status})")
        check(get(priv["url"]) == (200, big), "byte-exact")
        # Blobs sit in fan-out directories; the top holds only the marker.
        cached = [f for d, _, files in os.walk(cache_dir)
                  if d != cache_dir and not d.endswith("tmp") for f in files]
        check(len(cached) == 1, f"and filled into the disk cache ({len(cached)} file)")
        check(get(edge.base + "/readyz")[0] == 200, "the edge server is ready")

        print("one Garage node down: uploads and reads go on")
        os.kill(int(env["GARAGE_PID_3"]), signal.SIGKILL)
        for i in range(5):
            data = bmp(40 + i, 30, 0x40 + i)
            status, img = upload(on_s3.base, on_s3.upload_key, data, f"quorum{i}.bmp")
            check(status == 200, f"upload {i} with a node down")
            status, got = get(img["url"])
            check(status == 200 and got == data, f"read {i} back with a node down")
            stored[f"quorum{i}"] = (img, got)
        for label, (img, want) in list(stored.items())[:5]:
            status, got = get(img["url"])
            check(status == 200 and got == want, f"{label} still served with a node down")

        print("two Garage nodes down: clear 503s within the timeout, no hang")
        os.kill(int(env["GARAGE_PID_2"]), signal.SIGKILL)
        started = time.monotonic()
        req = urllib.request.Request(
            f"{on_s3.base}/api/upload?filename=noquorum.bmp", data=bmp(77, 33, 0x77),
            headers={"Authorization": "Bearer " + on_s3.upload_key, "Content-Type": "image/bmp"},
            method="POST")
        status, body, headers = get_with_headers(req)
        took = time.monotonic() - started
        check(status == 503 and json.loads(body)["code"] == "unavailable",
              f"upload answers 503 unavailable ({status}, {took:.1f} s)")
        check(headers.get("Retry-After") is not None, "with Retry-After")
        check(took < 60, "within the bound of timeout x retries")
        status, body, headers = get_with_headers(stored["real/hubble_deep_field.jpg"][0]["url"])
        check(status in (200, 503), f"a read serves from the memory cache or answers 503 ({status})")
        if status == 503:
            check(json.loads(body)["code"] == "unavailable" and headers.get("Retry-After"),
                  f"with a code and Retry-After: {headers.get('Retry-After')}")
        check(get(priv["url"]) == (200, big), "the disk cache serves byte-exact without quorum")
        started = time.monotonic()
        wait_for("/readyz answers 503 unavailable",
                 lambda: get(edge.base + "/readyz")[0] == 503, 20)
        status, body = get(edge.base + "/readyz")
        check(status == 503 and json.loads(body)["code"] == "unavailable",
              f"with a JSON reason: {json.loads(body)['error']}")
        check(time.monotonic() - started < 20, "in bounded time")
        for n in (2, 3):
            restart_node(sys.argv[1], n)
        deadline = time.monotonic() + 60
        while True:
            status, img = upload(on_s3.base, on_s3.upload_key, bmp(78, 33, 0x78), "back.bmp")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        check(status == 200, "quorum back: uploads work again")
        wait_for("/readyz ready again", lambda: get(edge.base + "/readyz")[0] == 200, 30)
        for label, (img, want) in stored.items():
            status, got = get(img["url"])
            check(status == 200 and got == want, f"{label} byte-exact after the nodes came back")
    finally:
        fs.stop()
        on_s3.stop()
        edge.stop()

    print("offline: orphans to trash, check clean, restart serves all")
    orphan = b"an orphan object, written by a crash between PUT and commit"
    orphan_key = f"{prefix}/blobs/" + hashlib.blake2b(orphan).hexdigest()[:64]
    # Not a blake3 name of its bytes, but a valid blob name: GC judges names.
    status, _ = s3.request("PUT", orphan_key, body=orphan)
    check(status == 200, "an orphan object put directly")
    gc = on_s3.cli("gc", "--grace", "0s")
    check(gc.returncode == 0, f"gc: {gc.stdout.strip()[:120]}")
    check(not s3.exists(orphan_key), "the orphan left blobs/")
    trash = s3.keys(f"{prefix}/trash/")
    check(any(k.endswith(orphan_key.rsplit("/", 1)[1]) for k in trash), "and sits in trash/")
    chk = on_s3.cli("check")
    check(chk.returncode == 0, f"check is clean: {chk.stdout.strip()[-120:]}")

    on_s3.start()
    try:
        for label, (img, want) in stored.items():
            # A new port: the same path and query on the new origin.
            u = urllib.parse.urlparse(img["url"])
            status, got = get(on_s3.base + u.path + ("?" + u.query if u.query else ""))
            check(status == 200 and got == want, f"after restart: {label} byte-exact")
    finally:
        on_s3.stop()

    print("identity: a new database on this bucket is refused")
    stranger = Pixbin(os.path.join(work, "new"), s3_env)
    try:
        stranger.start()
        stranger.stop()
        refused = False
    except RuntimeError:
        refused = True
    with open(stranger.data_dir + ".log", "rb") as f:
        log = f.read().decode(errors="replace")
    check(refused and "refusing to start" in log, "refused: " + log.strip().splitlines()[-1][:150])

    shutil.rmtree(work, ignore_errors=True)
    print("garage: all checks passed")


if __name__ == "__main__":
    main()
