#!/usr/bin/env python3
"""Smoke test of a built binary (CI runs it on the static `dist` build):
it starts on an empty data dir, takes an upload, serves it back byte for
byte, and stops cleanly on SIGTERM.

    PIXBIN_BIN=target/x86_64-unknown-linux-gnu/dist/pixbin python3 tests/smoke.py
"""

import hashlib
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "security"))
from harness import Server, bmp, upload  # noqa: E402


def main():
    with Server() as srv:
        with urllib.request.urlopen(srv.base + "/healthz", timeout=10) as res:
            assert res.status == 200, res.status
        data = bmp(64, 48, 0x33)
        status, img = upload(srv.base, srv.upload_key, data, "smoke.bmp")
        assert status == 200, (status, img)
        with urllib.request.urlopen(img["url"], timeout=10) as res:
            got = res.read()
            assert res.headers["Content-Type"] == "image/bmp", res.headers["Content-Type"]
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), "bytes differ"
        proc = srv.proc
        proc.terminate()
        code = proc.wait(timeout=15)
        assert code == 0, f"exit status {code} after SIGTERM"
    print(f"smoke: ok ({os.environ.get('PIXBIN_BIN', 'target/release/pixbin')})")


if __name__ == "__main__":
    main()
