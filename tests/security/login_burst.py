#!/usr/bin/env python3
"""SECURITY.md A43 at scale against the release binary: login bursts.

Wave 1: 500 concurrent wrong logins from one address (all sent before any
answer is read; the per-address connection cap is raised so every attempt
reaches the login handler). Wave 2: 500 concurrent wrong logins from 500
different forwarded addresses behind a trusted proxy, each for another user
name, so neither the per-address nor the per-name limiter stops them and only the global hashing gate stands between
them and the memory each password hash needs. During both, an image is
fetched every 100 ms.

Pass: wave 1 has at most PIXBIN_LOGIN_ATTEMPTS answers of 401 (the rest 429
or 503 busy, each with Retry-After); in both waves the peak RSS (VmHWM) grows
by less than 100 MiB over the RSS before the wave; no image GET takes 2 s or
more (the bound never_read.py holds /healthz to; unbounded hashing once held
a public GET for 19 s); the right password still logs in afterwards from a
fresh address.
"""

import json
import resource
import selectors
import socket
import sys
import threading
import time
import urllib.request

from harness import Server, bmp, upload

ATTEMPTS = 5
BURST = 500


def status_of(head):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def burst(srv, forwarded):
    """Sends BURST login requests on as many connections, then reads all."""
    sel = selectors.DefaultSelector()
    socks = {}
    for i in range(BURST):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        # From one address, all for admin; from many, each for its own user
        # name (unknown names are hashed too), so neither per-address nor
        # per-name throttling stops them: only the hashing gate does.
        user = f"user{i}" if forwarded else "admin"
        body = json.dumps({"username": user, "password": "wrong password"}).encode()
        extra = f"X-Forwarded-For: 198.51.{i // 250}.{i % 250 + 1}\r\n" if forwarded else ""
        req = (
            "POST /api/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        ).encode() + body
        socks[s] = bytearray()
        s.sendall(req)
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    open_count = len(socks)
    while open_count and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                socks[s] += data
            else:
                sel.unregister(s)
                open_count -= 1
    counts = {}
    missing_retry = 0
    for s, raw in socks.items():
        s.close()
        code = status_of(raw)
        counts[code] = counts.get(code, 0) + 1
        if code in (429, 503) and b"\r\nretry-after:" not in raw.lower():
            missing_retry += 1
    return counts, missing_retry


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    env = {
        "PIXBIN_LOGIN_ATTEMPTS": str(ATTEMPTS),
        "PIXBIN_MAX_CONNECTIONS": "2048",
        "PIXBIN_MAX_CONNECTIONS_PER_IP": "1024",
        "PIXBIN_TRUSTED_PROXIES": "127.0.0.1/32",
        "PIXBIN_LOG": "error",
    }
    failures = []
    with Server(env) as srv:
        status, img = upload(srv.base, srv.upload_key, bmp(300, 300, 5), "probe.bmp")
        assert status == 200, (status, img)
        for name, forwarded in (("one address", False), ("500 forwarded addresses", True)):
            before = srv.rss_kib()
            exact = reset_peak(srv.pid)
            if not exact:
                before = peak_kib(srv.pid)
            gets = []
            stop = threading.Event()

            def probe():
                while not stop.is_set():
                    t = time.monotonic()
                    try:
                        with urllib.request.urlopen(img["url"], timeout=10) as res:
                            res.read()
                            ok = res.status == 200
                    except OSError:
                        ok = False
                    gets.append((ok, time.monotonic() - t))
                    time.sleep(0.1)

            prober = threading.Thread(target=probe)
            prober.start()
            t = time.monotonic()
            counts, missing_retry = burst(srv, forwarded)
            took = time.monotonic() - t
            time.sleep(0.3)
            stop.set()
            prober.join()
            growth_mib = (peak_kib(srv.pid) - before) / 1024
            slowest = max(d for _, d in gets)
            print(
                f"{name}: {BURST} logins in {took:.1f} s -> "
                + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                + f"; peak RSS growth {growth_mib:.1f} MiB; {len(gets)} image GETs, slowest {slowest * 1000:.0f} ms"
            )
            if sum(counts.values()) != BURST or set(counts) - {401, 429, 503}:
                failures.append(f"{name}: unexpected answers {counts}")
            if not forwarded and counts.get(401, 0) > ATTEMPTS:
                failures.append(f"{name}: {counts.get(401)} passwords verified (allowed {ATTEMPTS})")
            if missing_retry:
                failures.append(f"{name}: {missing_retry} refusals without Retry-After")
            if growth_mib >= 100:
                failures.append(f"{name}: peak RSS grew by {growth_mib:.1f} MiB")
            if not all(ok for ok, _ in gets) or slowest >= 2.0:
                failures.append(f"{name}: image GETs failed or slow (slowest {slowest:.2f} s)")
        # The owner still gets in, from an address the bursts never used.
        req = urllib.request.Request(
            srv.base + "/api/login",
            data=json.dumps({"username": "admin", "password": srv.password}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.77"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as res:
            if res.status != 200:
                failures.append(f"the right password gave {res.status}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("login burst: ok")


if __name__ == "__main__":
    main()
