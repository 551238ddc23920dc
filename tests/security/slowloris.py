#!/usr/bin/env python3
"""SECURITY.md A33 at scale (method M7) against the release binary.

Opens 600 sockets: 200 trickle request-header bytes (slowloris), 150 connect
and say nothing, 150 send complete upload headers and then trickle the body
slower than the body idle timeout (slow POST), and 100 trickle the body just
faster than it, a byte a second (which only the minimum body rate stops).
Records when the server closes each, and times control requests for an image
meanwhile.

Pass: every slowloris socket is closed within 2 x header timeout (+2 s slack:
one timeout to send a first byte, one to finish the head), every slow POST
within the body idle timeout after its last byte (+2 s), every dribbling one
within the idle timeout (its grace period) after it opened (+3 s), and every
control request answers in under 1 s.
"""

import resource
import selectors
import socket
import sys
import time
import urllib.request

from harness import Server, bmp, upload

HEADER_TIMEOUT = 2.0
BODY_IDLE = 2.0
TRICKLE, SILENT, SLOW_POST, DRIBBLE = 200, 150, 150, 100
BMP = bmp(100, 100, 0)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    env = {
        "PIXBIN_HEADER_TIMEOUT": f"{int(HEADER_TIMEOUT)}s",
        "PIXBIN_BODY_IDLE_TIMEOUT": f"{int(BODY_IDLE)}s",
        "PIXBIN_MAX_CONNECTIONS": "2048",
        # All 600 come from 127.0.0.1: the timeouts are the subject here,
        # not the per-address cap (never_read.py covers that).
        "PIXBIN_MAX_CONNECTIONS_PER_IP": "2048",
    }
    with Server(env) as srv:
        status, img = upload(srv.base, srv.upload_key, bmp(64, 64, 7), "control.bmp")
        assert status == 200, (status, img)
        control_url = img["url"]
        addr = ("127.0.0.1", srv.port)
        sel = selectors.DefaultSelector()
        socks = {}  # socket -> [kind, opened_at, last_sent, closed_at]
        start = time.monotonic()
        for kind, n in (("trickle", TRICKLE), ("silent", SILENT), ("slowpost", SLOW_POST), ("dribble", DRIBBLE)):
            for _ in range(n):
                s = socket.create_connection(addr)
                s.setblocking(False)
                now = time.monotonic()
                if kind == "trickle":
                    s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                elif kind in ("slowpost", "dribble"):
                    # A valid BMP header, then pixel bytes far apart.
                    s.send(
                        (
                            "POST /api/upload HTTP/1.1\r\nHost: x\r\n"
                            f"Authorization: Bearer {srv.upload_key}\r\n"
                            f"Content-Type: image/bmp\r\nContent-Length: {len(BMP)}\r\n\r\n"
                        ).encode()
                        + BMP[:54]
                    )
                socks[s] = [kind, now, now, None]
                sel.register(s, selectors.EVENT_READ)
        print(f"opened {len(socks)} sockets in {time.monotonic() - start:.2f} s")

        controls = []
        deadline = start + 2 * HEADER_TIMEOUT + 15
        next_trickle = time.monotonic()
        next_control = time.monotonic()
        while time.monotonic() < deadline and any(v[3] is None for v in socks.values()):
            now = time.monotonic()
            if now >= next_trickle:
                # Slowloris and dribble: one byte a second. Slow POST: one body
                # byte every 3 s, longer than the idle timeout.
                for s, v in socks.items():
                    if v[3] is not None:
                        continue
                    gap = 3.0 if v[0] == "slowpost" else 1.0
                    if v[0] != "silent" and now - v[2] >= gap:
                        try:
                            s.send(b"X")
                            v[2] = now
                        except OSError:
                            pass
                next_trickle = now + 0.25
            if now >= next_control:
                t = time.monotonic()
                with urllib.request.urlopen(control_url, timeout=5) as res:
                    assert res.status == 200 and res.read().startswith(b"BM")
                controls.append(time.monotonic() - t)
                next_control = now + 0.5
            for key, _ in sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    socks[s][3] = time.monotonic()
                    sel.unregister(s)
        failures = []
        worst = {}
        for s, (kind, opened, last, closed) in socks.items():
            if closed is None:
                failures.append(f"{kind} socket still open after {deadline - opened:.1f} s")
                continue
            if kind == "slowpost":
                late = closed - last
                limit = BODY_IDLE + 2
            elif kind == "dribble":
                late = closed - opened
                limit = BODY_IDLE + 3
            else:
                late = closed - opened
                limit = 2 * HEADER_TIMEOUT + 2
            worst[kind] = max(worst.get(kind, 0), late)
            if late > limit:
                failures.append(f"{kind} socket closed after {late:.1f} s (limit {limit} s)")
            s.close()
        slowest = max(controls)
        print(f"closed: " + ", ".join(f"{k} within {v:.2f} s" for k, v in sorted(worst.items())))
        print(f"control GETs: {len(controls)}, slowest {slowest * 1000:.1f} ms")
        if slowest >= 1.0:
            failures.append(f"a control GET took {slowest:.2f} s")
        if failures:
            print("FAIL:\n  " + "\n  ".join(sorted(set(failures))[:20]))
            sys.exit(1)
        print("slowloris: ok")


if __name__ == "__main__":
    main()
