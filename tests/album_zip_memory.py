#!/usr/bin/env python3
"""An album's zip streams in constant memory (issue 20): 200 images, 1 GiB in
all, uploaded with `X-Pixbin-Album` as a ShareX `.sxcu` would send them, then
`GET /a/{id}.zip` downloaded while the server's resident memory is sampled
from /proc/PID/status every 10 ms. Fails when the RSS grows by 32 MiB or more
over its level just before the download, when Info-ZIP's `unzip -t` finds
anything wrong, or when any member differs from the bytes uploaded.

Standard library only (plus `unzip`). Usage:
    python3 tests/album_zip_memory.py --binary target/release/pixbin
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "album-zip-memory-password"
IMAGES = 200
# 1296 x 1381 x 3 bytes + 54: 5,369,382 bytes each, just over 1 GiB for 200.
WIDTH, HEIGHT = 1296, 1381
LIMIT_MIB = 32


def image(i):
    """The i-th image: a BMP whose pixels are a 64 KiB block seeded by i, repeated."""
    row = (WIDTH * 3 + 3) // 4 * 4
    data = row * HEIGHT
    head = b"BM" + struct.pack("<IHHI", 54 + data, 0, 0, 54)
    head += struct.pack("<IiiHHIIiiII", 40, WIDTH, HEIGHT, 1, 24, 0, data, 2835, 2835, 0, 0)
    block = random.Random(i).randbytes(65536)
    reps = data // len(block) + 1
    return head + (block * reps)[:data]


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def call(addr, method, path, headers=None, body=None, timeout=120):
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.getheaders(), res.read()
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/debug/pixbin")
    args = ap.parse_args()
    if shutil.which("unzip") is None:
        sys.exit("unzip is not installed (apt-get install unzip)")
    data_dir = tempfile.mkdtemp(prefix="pixbin-zipmem-")
    env = dict(os.environ, PIXBIN_ADMIN_PASSWORD=PASSWORD, PIXBIN_LOG="warn")
    proc = subprocess.Popen(
        [args.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        key = base = None
        for line in proc.stdout:
            if line.startswith("created upload key: "):
                key = line.split(": ", 1)[1].strip()
            if line.startswith("pixbin listening on "):
                base = line.split(" on ", 1)[1].strip()
                break
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        host, port = base.removeprefix("http://").rsplit(":", 1)
        addr = (host, int(port))

        status, headers, body = call(addr, "POST", "/api/login",
                                     {"Content-Type": "application/json"},
                                     json.dumps({"username": "admin", "password": PASSWORD}))
        assert status == 200, body
        csrf = json.loads(body)["csrfToken"]
        cookie = "; ".join(v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie")
        session = {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"}
        status, _, body = call(addr, "POST", "/api/albums", session,
                               json.dumps({"title": "Big album", "visibility": "unlisted"}))
        assert status == 201, body
        album = json.loads(body)["id"]

        digests = {}
        total = 0
        started = time.time()
        for i in range(IMAGES):
            payload = image(i)
            total += len(payload)
            name = f"shot-{i:03}.bmp"
            status, _, body = call(addr, "POST", f"/api/upload?filename={name}", {
                "Authorization": f"Bearer {key}",
                "Content-Type": "image/bmp",
                "X-Pixbin-Album": album,
            }, payload)
            assert status == 200, body
            assert json.loads(body).get("album") == album, body
            digests[name] = hashlib.sha256(payload).hexdigest()
        print(f"uploaded {IMAGES} images, {total} bytes, in {time.time() - started:.1f} s")
        assert total >= 1 << 30

        # Let the thumbnail workers finish, so the baseline is the server at rest.
        pid = proc.pid
        quiet_since, last = time.time(), cpu_ticks(pid)
        deadline = time.time() + 900
        while time.time() - quiet_since < 2 and time.time() < deadline:
            time.sleep(0.5)
            now = cpu_ticks(pid)
            if now - last > 5:
                quiet_since = time.time()
            last = now
        baseline = rss_kib(pid)

        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        zip_path = os.path.join(data_dir, "..", os.path.basename(data_dir) + ".zip")
        started = time.time()
        conn = http.client.HTTPConnection(*addr, timeout=300)
        conn.request("GET", f"/a/{album}.zip")
        res = conn.getresponse()
        assert res.status == 200, res.read()
        size = 0
        with open(zip_path, "wb") as out:
            while True:
                chunk = res.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                size += len(chunk)
        conn.close()
        elapsed = time.time() - started
        done.set()
        sampler.join()
        growth = peak[0] - baseline
        print(f"zip: {size} bytes in {elapsed:.1f} s ({size / elapsed / 1e6:.0f} MB/s); "
              f"RSS {baseline} KiB before, peak {peak[0]} KiB, growth {growth} KiB "
              f"(limit {LIMIT_MIB * 1024} KiB)")
        assert growth < LIMIT_MIB * 1024, f"RSS grew by {growth} KiB"

        test = subprocess.run(["unzip", "-t", zip_path], capture_output=True, text=True)
        assert test.returncode == 0 and "No errors detected" in test.stdout, test.stdout[-2000:]
        names = subprocess.run(["unzip", "-Z1", zip_path], capture_output=True, text=True,
                               check=True).stdout.split()
        assert sorted(names) == sorted(digests), names[:5]
        for name in names:
            got = subprocess.run(["unzip", "-p", zip_path, name], capture_output=True,
                                 check=True).stdout
            assert hashlib.sha256(got).hexdigest() == digests[name], f"{name} differs"
        print(f"unzip -t: no errors; all {len(names)} members byte-exact")
        os.remove(zip_path)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
