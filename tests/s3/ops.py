#!/usr/bin/env python3
"""The operations commands on a data directory whose blobs are in Garage:

- `backup` of a running server and of a stopped one, every object re-hashed;
- `repair --from` the backup puts back an object damaged in the bucket, after
  which `check` (every object re-hashed) is clean again; given another
  storage than the running server's, it refuses;
- `restore` onto a new prefix uploads every blob and serves byte-exact; onto
  the prefix the blobs are still in (the server was lost, the bucket was not)
  it keeps them; onto a prefix of another pixbin it is refused;
- `adopt` turns the objects of a bucket whose database was lost back into
  images, and `check` is clean after.

Reads the cluster's env file from argv[1] (as garage.py does).
"""

import hashlib
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from garage import S3, Pixbin, check, get, read_env  # noqa: E402
from harness import bmp, upload  # noqa: E402


def sha(data):
    return hashlib.sha256(data).hexdigest()


def serves_all(srv, images, where):
    ok = 0
    for url, digest in images:
        host = url.split("/")[2]
        status, body = get(url.replace(host, srv.base.split("/")[2]))
        ok += status == 200 and sha(body) == digest
    check(ok == len(images), f"{where}: {ok}/{len(images)} images serve byte-exact")


def main():
    env = read_env(sys.argv[1])
    run = os.urandom(4).hex()
    bucket = env["S3_BUCKET"]
    s3 = S3(env["S3_ENDPOINT"], bucket, env["S3_REGION"],
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    base_env = {
        "PIXBIN_S3_ENDPOINT": env["S3_ENDPOINT"],
        "PIXBIN_S3_REGION": env["S3_REGION"],
        "PIXBIN_S3_PATH_STYLE": "true",
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
    }

    def on(prefix):
        return dict(base_env, PIXBIN_STORAGE=f"s3://{bucket}/{prefix}")

    work = tempfile.mkdtemp(prefix="pixbin-s3-ops-")
    a = os.path.join(work, "a")
    first = f"ops-{run}-a"

    print("backup of a running server and of a stopped one")
    srv = Pixbin(a, on(first)).start()
    images = []
    for i in range(30):
        data = bmp(20 + i, 11, 0x30 + i)
        status, img = upload(srv.base, srv.upload_key, data, f"ops{i}.bmp")
        assert status == 200, (status, img)
        images.append((img["url"], sha(data), img["hash"]))
    online = os.path.join(work, "online.tar")
    r = srv.cli("backup", "--out", online)
    check(r.returncode == 0, f"online backup: {r.stdout.strip()}{r.stderr.strip()}")
    r = Pixbin(a, dict(base_env, PIXBIN_STORAGE="fs")).cli("repair", "--from", online)
    check(r.returncode != 0 and "keeps its blobs in" in r.stderr,
          "repair given another storage than the running server's is refused")
    check(not os.path.exists(os.path.join(a, "blobs")), "and wrote nothing to it")
    srv.stop()
    offline = os.path.join(work, "offline.tar")
    r = Pixbin(a, on(first)).cli("backup", "--out", offline)
    check(r.returncode == 0, f"offline backup: {r.stdout.strip()}{r.stderr.strip()}")
    urls = [(u, d) for u, d, _ in images]

    print("repair an object damaged in the bucket")
    victim = images[7][2]
    key = f"{first}/blobs/{victim}"
    status, body = s3.request("GET", key)
    assert status == 200
    damaged = bytearray(body)
    damaged[60] ^= 0xFF
    check(s3.request("PUT", key, body=bytes(damaged))[0] == 200, "one object overwritten with a flipped byte")
    cli = Pixbin(a, on(first))
    r = cli.cli("check")
    check(r.returncode != 0 and victim in r.stdout, "check finds it")
    r = cli.cli("repair", "--from", online)
    check(r.returncode == 0 and f"repaired: blob {victim}" in r.stdout, f"repair: {r.stdout.strip()[-120:]}")
    check(s3.request("GET", key)[1] == body, "the object is whole again")
    r = cli.cli("check")
    check(r.returncode == 0, "check is clean")

    print("restore onto a new prefix, onto the surviving one, not onto a stranger's")
    second = f"ops-{run}-b"
    b = os.path.join(work, "b")
    r = Pixbin(b, on(second)).cli("restore", offline)
    check(r.returncode == 0, f"restore onto {second}: {r.stdout.strip()}{r.stderr.strip()}")
    check(len(s3.keys(second + "/blobs/")) == len(s3.keys(first + "/blobs/")), "every blob uploaded")
    srv = Pixbin(b, on(second)).start()
    serves_all(srv, urls, "restored onto a new prefix")
    srv.stop()
    c = os.path.join(work, "c")
    r = Pixbin(c, on(first)).cli("restore", online)
    check(r.returncode == 0, f"restore beside the surviving objects: {r.stdout.strip()}{r.stderr.strip()}")
    srv = Pixbin(c, on(first)).start()
    serves_all(srv, urls, "restored onto the surviving prefix")
    srv.stop()
    stranger = f"ops-{run}-s"
    s = Pixbin(os.path.join(work, "s"), on(stranger)).start()
    status, _ = upload(s.base, s.upload_key, bmp(9, 9, 1), "s.bmp")
    assert status == 200
    s.stop()
    r = Pixbin(os.path.join(work, "d"), on(stranger)).cli("restore", online)
    check(r.returncode != 0 and "another pixbin" in r.stderr, "refused onto another pixbin's prefix")
    check(not os.path.exists(os.path.join(work, "d")), "and nothing left behind")

    print("adopt the objects of a lost database")
    os.remove(os.path.join(b, "pixbin.redb"))
    r = Pixbin(b, on(second)).cli("check")
    check(r.returncode != 0 and "adopt" in r.stderr, "the blobs without their database are refused")
    r = Pixbin(b, on(second)).cli("adopt")
    check(r.returncode == 0, f"adopt: {r.stdout.strip()}{r.stderr.strip()}")
    adopted = int(r.stdout.split("adopted ")[1].split(" ")[0])
    check(adopted >= 30, f"{adopted} objects (images and thumbnails) are images again")
    r = Pixbin(b, on(second)).cli("check")
    check(r.returncode == 0, "check is clean")
    print("S3 operations: all checks passed")


if __name__ == "__main__":
    main()
