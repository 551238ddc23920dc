#!/usr/bin/env python3
"""SECURITY.md §3 M8 (A23): does a wrong secret's answer time depend on where
it is wrong?

For a private image's `?key=` and for an upload key, sends N interleaved
requests (default 5,000 of each) over one keep-alive connection: one kind
with the secret wrong in its first byte, the other wrong in its last byte, in
a shuffled order so drift on a shared machine hits both alike. Latencies are
compared with a two-sided Mann-Whitney U test (normal approximation with the
tie correction).

Advisory, as the method says: on a shared machine a small p-value can be
noise, so by default it prints the medians, the difference and p and exits 0.
`TIMING_STRICT=1` fails when p < 0.001 and the medians differ by more than
2 µs. The code-level check is that no secret is compared with `==`
(`a23_secret_comparisons_are_constant_time`).
"""

import base64
import http.client
import math
import os
import random
import sys
import time

from harness import Server, bmp

N = int(os.environ.get("TIMING_N", "5000"))
STRICT = os.environ.get("TIMING_STRICT") == "1"


def mann_whitney(a, b):
    """Two-sided p-value of the Mann-Whitney U test (normal approximation)."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (u - n1 * n2 / 2) / sigma
    return math.erfc(abs(z) / math.sqrt(2))


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def flip(raw, index):
    out = bytearray(raw)
    out[index] ^= 0x01
    return bytes(out)


def probe(conn, requests):
    """`requests` is a list of (label, method, path, headers, body); returns
    latencies in µs per label."""
    order = list(range(len(requests)))
    random.Random(7).shuffle(order)
    times = {}
    for i in order:
        label, method, path, headers, body = requests[i]
        t0 = time.perf_counter_ns()
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        res.read()
        elapsed = (time.perf_counter_ns() - t0) / 1000
        times.setdefault(label, []).append(elapsed)
        if res.status not in (401, 404):
            sys.exit(f"unexpected status {res.status} for {label}")
    return times


def report(name, times):
    a, b = times["first"], times["last"]
    p = mann_whitney(a, b)
    diff = median(a) - median(b)
    print(f"{name}: n={len(a)}+{len(b)} median first-byte {median(a):.1f} µs, last-byte {median(b):.1f} µs, difference {diff:+.1f} µs, Mann-Whitney p={p:.3g}")
    # The probe's power on this machine: the same latencies with 2 µs added
    # to one half must stand out, or the "no signal" above means little.
    control = mann_whitney(a, [x + 2.0 for x in a])
    print(f"  power check: all of one side +2 µs gives p={control:.3g}")
    if control >= 0.001:
        print("  (too noisy here to see a 2 µs difference; the result above is weak)")
    return p < 0.001 and abs(diff) > 2.0


def main():
    with Server() as srv:
        import json
        import urllib.request

        req = urllib.request.Request(
            srv.base + "/api/upload?filename=t.bmp",
            data=bmp(8, 8, 1),
            headers={"Authorization": "Bearer " + srv.upload_key, "Content-Type": "image/bmp", "X-Pixbin-Private": "true"},
            method="POST",
        )
        with urllib.request.urlopen(req) as res:
            img = json.load(res)
        url = img["url"]
        path_and_query = url.split("//", 1)[1].split("/", 1)[1]
        path, key = ("/" + path_and_query).split("?key=")
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        assert len(raw) == 16

        def k(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

        image_requests = []
        for _ in range(N):
            image_requests.append(("first", "GET", f"{path}?key={k(flip(raw, 0))}", {}, None))
            image_requests.append(("last", "GET", f"{path}?key={k(flip(raw, 15))}", {}, None))

        upload_key = srv.upload_key.encode()
        body = bmp(2, 2, 1)
        key_requests = []
        for _ in range(N):
            # The first secret byte follows the public `pbk_` prefix.
            for label, index in (("first", 4), ("last", len(upload_key) - 1)):
                wrong = bytearray(upload_key)
                wrong[index] = ord("A") if wrong[index] != ord("A") else ord("B")
                key_requests.append((label, "POST", "/api/upload?filename=t.bmp", {"Authorization": "Bearer " + wrong.decode(), "Content-Type": "image/bmp"}, body))

        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        # Warm up the connection and the server's caches.
        probe(conn, image_requests[:200])
        flagged = report("private image key", probe(conn, image_requests))
        flagged |= report("upload key", probe(conn, key_requests))
        conn.close()
        if flagged and STRICT:
            sys.exit("FAIL: latency depends on the position of the wrong byte")
        print("timing: " + ("signal found (advisory)" if flagged else "no signal"))


if __name__ == "__main__":
    main()
