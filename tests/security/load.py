#!/usr/bin/env python3
"""SECURITY.md A35 (method M4) against the release binary.

wrk -t2 -c200 GETs a 5 MB image for LOAD_SECONDS (default 20; the case's 60 s
is `LOAD_SECONDS=60`) while 20 uploads of distinct 10 MB images run in
parallel. RSS is sampled every second. `LOAD_UPLOADS` and `LOAD_CONNECTIONS`
change the mix, to see which side a change in memory comes from.

Pass: no 5xx from wrk or the uploads (429/503 would be allowed; none are
expected), every upload reads back byte-exact, and RSS stays within +100 MiB
of its idle baseline.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from harness import Server, bmp, upload

SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))
UPLOADS = int(os.environ.get("LOAD_UPLOADS", "20"))
CONNECTIONS = int(os.environ.get("LOAD_CONNECTIONS", "200"))

WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  server_errors = 0
  other_errors = 0
end
function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
  elseif status ~= 200 and status ~= 429 then
    other_errors = other_errors + 1
  end
end
function done(summary, latency, requests)
  local s, o = 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("server_errors")
    o = o + t:get("other_errors")
  end
  io.write(string.format("server_errors=%d other_errors=%d\n", s, o))
end
"""


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    # Every client here is 127.0.0.1: lift the per-address cap (A42) above
    # the 200 wrk connections and 20 uploads so the load reaches the server.
    env = {"PIXBIN_MAX_UPLOAD_BYTES": "16MiB", "PIXBIN_MAX_CONNECTIONS_PER_IP": "1024"}
    with Server(env) as srv:
        big = bmp(1290, 1290, 0x5A)  # ~5 MB
        status, img = upload(srv.base, srv.upload_key, big, "big.bmp")
        assert status == 200, (status, img)
        url = img["url"]
        time.sleep(0.5)
        baseline = srv.rss_kib()
        peak = [baseline]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], srv.rss_kib())
                time.sleep(1)

        threading.Thread(target=sample, daemon=True).start()

        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(WRK_SCRIPT)
        script.close()
        wrk = subprocess.Popen(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", script.name, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        results = [None] * UPLOADS
        payloads = [bmp(1830 + i, 1820, i) for i in range(UPLOADS)]  # ~10 MB each

        def one(i):
            time.sleep(i * SECONDS / (2 * UPLOADS))
            status, body = upload(srv.base, srv.upload_key, payloads[i], f"u{i}.bmp")
            if status != 200:
                results[i] = f"upload {i}: {status} {body}"
                return
            with urllib.request.urlopen(body["url"], timeout=120) as res:
                got = res.read()
            if hashlib.sha256(got).digest() != hashlib.sha256(payloads[i]).digest():
                results[i] = f"upload {i}: bytes differ on re-read"
            else:
                results[i] = "ok"

        workers = [threading.Thread(target=one, args=(i,)) for i in range(UPLOADS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out, _ = wrk.communicate(timeout=SECONDS + 120)
        stop.set()
        os.unlink(script.name)
        print(out)
        failures = [r or f"upload {i}: raised (see above)" for i, r in enumerate(results) if r != "ok"]
        line = next((l for l in out.splitlines() if l.startswith("server_errors=")), None)
        if line is None:
            failures.append("wrk printed no status summary")
        else:
            counts = dict(kv.split("=") for kv in line.split())
            if int(counts["server_errors"]) > 0:
                failures.append(f"wrk saw {counts['server_errors']} 5xx responses")
            if int(counts["other_errors"]) > 0:
                failures.append(f"wrk saw {counts['other_errors']} unexpected statuses")
        growth = (peak[0] - baseline) / 1024
        print(f"uploads ok: {results.count('ok')}/{UPLOADS}; RSS baseline {baseline / 1024:.1f} MiB, peak {peak[0] / 1024:.1f} MiB (+{growth:.1f} MiB)")
        if growth > 100:
            failures.append(f"RSS grew by {growth:.1f} MiB (bound: +100 MiB)")
        if failures:
            print("FAIL:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("load: ok")


if __name__ == "__main__":
    main()
