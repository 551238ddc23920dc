#!/usr/bin/env python3
"""pixbin on Garage against Garage itself, in one run; prints one table.

Called by benches/s3_load.sh with the cluster's env file. Standard library
only, plus wrk. Every child process is bounded by a timeout and stopped on exit.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "s3"))
from garage import S3, Pixbin, read_env  # noqa: E402
from harness import upload  # noqa: E402

DURATION = int(os.environ.get("DURATION", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
UPLOADS = int(os.environ.get("UPLOADS", "8"))
MIB = 1 << 20
# A browser's headers, so every pixbin GET is a counted view as in production.
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def bmp(target, seed):
    """A valid 24-bit BMP of about `target` bytes (64 px wide), distinct per seed."""
    row = 64 * 3
    h = max(1, (target - 54) // row)
    pixels = row * h
    head = b"BM" + (54 + pixels).to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little")
    head += (40).to_bytes(4, "little") + (64).to_bytes(4, "little") + h.to_bytes(4, "little")
    head += (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + bytes(24)
    body = bytes(((i * 7) ^ seed) & 0xFF for i in range(pixels))
    return head + body


def wrk(url):
    cmd = ["timeout", str(DURATION + 30), "wrk", "-t2", "-c16", f"-d{DURATION}s",
           "-H", f"User-Agent: {UA}", url]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{url}: {bad.group(1)} non-2xx answers")
    return rps


def get(url):
    with urllib.request.urlopen(url, timeout=60) as res:
        return res.read()


def timed(f):
    t = time.monotonic()
    f()
    return time.monotonic() - t


def main():
    env = read_env(sys.argv[1])
    s3 = S3(env["S3_ENDPOINT"], env["S3_BUCKET"], env["S3_REGION"],
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    run = "bench-" + os.urandom(4).hex()
    work = tempfile.mkdtemp(prefix="pixbin-s3-bench-")
    base_env = {
        "PIXBIN_S3_ENDPOINT": env["S3_ENDPOINT"],
        "PIXBIN_S3_REGION": env["S3_REGION"],
        "PIXBIN_S3_PATH_STYLE": "true",
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
    }
    plain = Pixbin(os.path.join(work, "plain"), dict(
        base_env, PIXBIN_STORAGE=f"s3://{env['S3_BUCKET']}/{run}-plain")).start()
    cached = Pixbin(os.path.join(work, "cached"), dict(
        base_env, PIXBIN_STORAGE=f"s3://{env['S3_BUCKET']}/{run}-cached",
        PIXBIN_CACHE_DIR=os.path.join(work, "cache"), PIXBIN_CACHE_SIZE="1GiB")).start()
    rows = []
    try:
        for label, size in (("4KiB", 4 << 10), ("1MiB", MIB)):
            data = bmp(size, 1)
            status, a = upload(plain.base, plain.upload_key, data, f"{label}.bmp")
            status2, b = upload(cached.base, cached.upload_key, data, f"{label}.bmp")
            assert status == status2 == 200, (status, status2)
            direct = s3.presign(f"{run}-plain/blobs/{a['hash']}")
            for url in (direct, a["url"], b["url"]):
                assert get(url) == data, url  # byte-exact, and fills the caches
            runs = {"garage": [], "pixbin": [], "pixbin+cache": []}
            for _ in range(ROUNDS):
                # Alternated, so drift in the shared machine's load hits all three.
                runs["garage"].append(wrk(direct))
                runs["pixbin"].append(wrk(a["url"]))
                runs["pixbin+cache"].append(wrk(b["url"]))
            med = {k: statistics.median(v) for k, v in runs.items()}
            for k in ("pixbin", "pixbin+cache"):
                rows.append((f"GET {label}", k, med[k], med[k] * size / MIB,
                             med["garage"], med[k] / med["garage"]))

        up = {"garage": [], "pixbin": []}
        seed = 100
        for _ in range(ROUNDS):
            for who in ("garage", "pixbin"):
                blobs = []
                for _ in range(UPLOADS):
                    seed += 1
                    blobs.append(bmp(MIB, seed))

                def send():
                    for i, d in enumerate(blobs):
                        if who == "pixbin":
                            status, _ = upload(plain.base, plain.upload_key, d, f"u{i}.bmp")
                        else:
                            status, _ = s3.request("PUT", f"{run}-direct/u{seed}-{i}", body=d)
                        assert status == 200, (who, status)
                up[who].append(UPLOADS * len(blobs[0]) / MIB / timed(send))
        med = {k: statistics.median(v) for k, v in up.items()}
        rows.append(("upload 1MiB", "pixbin", med["pixbin"], med["pixbin"], med["garage"],
                     med["pixbin"] / med["garage"]))
    finally:
        plain.stop()
        cached.stop()

    print(f"\npixbin on Garage (3 nodes, loopback) vs Garage direct; median of {ROUNDS} rounds"
          f" of {DURATION}s, wrk -c16; uploads one at a time, {UPLOADS} per round")
    print(f"{'what':<12} {'through':<13} {'pixbin/s':>10} {'MiB/s':>8} {'garage/s':>10} {'ratio':>6}")
    for what, who, rate, mibs, garage, ratio in rows:
        unit = "MiB/s" if what.startswith("upload") else "req/s"
        print(f"{what:<12} {who:<13} {rate:>10.1f} {mibs:>8.1f} {garage:>10.1f} {ratio:>5.2f}x  ({unit})")


if __name__ == "__main__":
    main()
