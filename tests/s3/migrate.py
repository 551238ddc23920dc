#!/usr/bin/env python3
"""`pixbin migrate-storage` of 1,000 images from fs to Garage and back:

- 1,000 images (and the thumbnails of some) uploaded on fs are copied to a
  bucket prefix; a first run killed with SIGKILL part way is resumed by a
  second, which finds what was copied already and switches over;
- after the switch, `serve` with the old `--storage fs` is refused with a
  message naming the new storage; with the bucket, every image and thumbnail
  serves byte-exact over HTTP, and `pixbin check` (every object re-hashed) is
  clean; the fs blobs are left in place;
- images uploaded while on S3 come back too: `migrate-storage --to fs` copies
  them, keeps (verified) what the directory still held, switches back; the
  bucket is then refused, and all images serve byte-exact from fs, check clean.

Reads the cluster's env file from argv[1] (as garage.py does).
"""

import concurrent.futures
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from garage import BINARY, S3, Pixbin, check, get, read_env  # noqa: E402
from harness import bmp, upload  # noqa: E402

IMAGES = 1000


def sha(data):
    return hashlib.sha256(data).hexdigest()


def upload_many(srv, payloads):
    """Uploads in four threads; returns [(url, thumbnail url, sha256)]."""
    def one(data):
        status, body = upload(srv.base, srv.upload_key, data, "m.bmp")
        assert status == 200, (status, body)
        return body["url"], body["thumbnail_url"], sha(data)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, payloads))


def serves_all(srv, images, thumbs, where):
    """Every image byte-exact at its URL (on the server `srv` now runs)."""
    def fetch(item):
        url, _, digest = item
        status, body = get(url.replace(url.split("/")[2], srv.base.split("/")[2]))
        return status == 200 and sha(body) == digest
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        ok = sum(pool.map(fetch, images))
    check(ok == len(images), f"{where}: {ok}/{len(images)} images serve byte-exact")
    same = 0
    for url, digest in thumbs.items():
        status, body = get(url.replace(url.split("/")[2], srv.base.split("/")[2]))
        same += status == 200 and sha(body) == digest
    check(same == len(thumbs), f"{where}: {same}/{len(thumbs)} thumbnails serve byte-exact")


def refused(data_dir, env, storage):
    """`serve` with `storage` must refuse to start; returns its message."""
    srv = Pixbin(data_dir, dict(env, PIXBIN_STORAGE=storage))
    try:
        srv.start()
    except RuntimeError:
        srv.log.close()
        with open(data_dir + ".log", errors="replace") as f:
            return f.read()[-2000:]
    srv.stop()
    raise AssertionError(f"serve with {storage} started")


def main():
    env = read_env(sys.argv[1])
    prefix = "migrate-" + os.urandom(6).hex()
    url = f"s3://{env['S3_BUCKET']}/{prefix}"
    s3_env = {
        "PIXBIN_S3_ENDPOINT": env["S3_ENDPOINT"],
        "PIXBIN_S3_REGION": env["S3_REGION"],
        "PIXBIN_S3_PATH_STYLE": "true",
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
    }
    s3 = S3(env["S3_ENDPOINT"], env["S3_BUCKET"], env["S3_REGION"],
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    data_dir = os.path.join(tempfile.mkdtemp(prefix="pixbin-migrate-"), "data")
    on_fs = dict(s3_env, PIXBIN_STORAGE="fs")
    on_s3 = dict(s3_env, PIXBIN_STORAGE=url)

    print(f"{IMAGES} images on fs")
    t = time.time()
    srv = Pixbin(data_dir, on_fs).start()
    key = srv.upload_key
    # Distinct sizes, so distinct blobs: (8..57) x (8..27) pixels.
    images = upload_many(srv, [bmp(8 + i % 50, 8 + i // 50, i % 251) for i in range(IMAGES)])
    thumbs = {}
    for _, turl, _ in images[:25]:
        status, body = get(turl)
        if status == 200:
            thumbs[turl] = sha(body)
    check(len(thumbs) == 25, f"uploaded in {time.time() - t:.1f}s; 25 thumbnails made")
    srv.stop()

    print(f"migrate-storage --to {url}, killed part way, then resumed")
    cli = Pixbin(data_dir, on_fs)
    env_all = dict(os.environ, **on_fs, PIXBIN_LOG="warn")
    first = subprocess.Popen([BINARY, "migrate-storage", "--to", url, "--data-dir", data_dir],
                             env=env_all, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(s3.keys(prefix + "/blobs/")) < 200:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    copied_before = len(s3.keys(prefix + "/blobs/"))
    check(200 <= copied_before < IMAGES, f"the first run was killed after {copied_before} objects")
    t = time.time()
    second = cli.cli("migrate-storage", "--to", url)
    check(second.returncode == 0, f"the second run switched in {time.time() - t:.1f}s:\n{second.stdout}{second.stderr}")
    line = next(l for l in second.stdout.splitlines() if " blobs: copied " in l)
    present = int(line.split(", ")[1].split(" ")[0])
    check(present >= copied_before - 8, f"it found {present} blobs already copied and whole")
    check(os.path.isdir(os.path.join(data_dir, "blobs")), "the fs blobs are left in place")

    message = refused(data_dir, on_fs, "fs")
    check(prefix in message and "--storage" in message, "serve with the old --storage fs is refused, naming the bucket")
    srv = Pixbin(data_dir, on_s3).start()
    srv.upload_key = key
    serves_all(srv, images, thumbs, "on S3")
    more = upload_many(srv, [bmp(70 + i, 9, 7) for i in range(20)])
    srv.stop()
    images += more
    r = Pixbin(data_dir, on_s3).cli("check")
    check(r.returncode == 0, f"check on S3 is clean:\n{r.stdout.strip()}")

    print("migrate-storage --to fs")
    t = time.time()
    back = Pixbin(data_dir, on_s3).cli("migrate-storage", "--to", "fs")
    check(back.returncode == 0, f"switched back in {time.time() - t:.1f}s:\n{back.stdout}{back.stderr}")
    line = next(l for l in back.stdout.splitlines() if " blobs: copied " in l)
    copied = int(line.split("copied ")[1].split(" ")[0])
    check(len(more) <= copied <= 2 * len(more), f"copied the {copied} blobs (images, thumbnails) made on S3, kept the rest: {line}")
    message = refused(data_dir, on_s3, url)
    check("live in fs" in message, "serve with the bucket is refused now")
    srv = Pixbin(data_dir, on_fs).start()
    serves_all(srv, images, thumbs, "back on fs")
    srv.stop()
    r = Pixbin(data_dir, on_fs).cli("check")
    check(r.returncode == 0, f"check on fs is clean:\n{r.stdout.strip()}")
    print("migrate-storage: all checks passed")


if __name__ == "__main__":
    main()
