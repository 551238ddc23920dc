"""Starts the release pixbin binary on 127.0.0.1 with a temporary data dir for
the scripted security checks (slowloris.py, load.py, api_fuzz.py).

Usage from a script:
    with Server(env={"PIXBIN_HEADER_TIMEOUT": "2s"}) as srv:
        srv.base, srv.upload_key, srv.pid, srv.password
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("PIXBIN_BIN", os.path.join(ROOT, "target", "release", "pixbin"))
PASSWORD = "security-check-password"


class Server:
    def __init__(self, env=None):
        self.extra_env = env or {}
        self.dir = None
        self.proc = None
        self.base = None
        self.upload_key = None
        self.password = PASSWORD

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pixbin-sec-")
        env = dict(os.environ)
        env.update({"PIXBIN_ADMIN_PASSWORD": PASSWORD, "PIXBIN_LOG": "warn"})
        env.update(self.extra_env)
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.dir, "data")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        for raw in self.proc.stdout:
            line = raw.decode().strip()
            if line.startswith("created upload key: "):
                self.upload_key = line.split(": ", 1)[1]
            if line.startswith("pixbin listening on "):
                self.base = line.split(" on ", 1)[1]
                break
        if not self.base:
            raise RuntimeError("the server did not start; see " + self.stderr.name)
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def port(self):
        return int(self.base.rsplit(":", 1)[1])

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def login(self):
        """Logs in as admin; returns (cookie header value, CSRF token)."""
        req = urllib.request.Request(
            self.base + "/api/login",
            data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req) as res:
            body = json.load(res)
            cookies = [c.split(";", 1)[0] for c in res.headers.get_all("Set-Cookie")]
        return "; ".join(cookies), body["csrfToken"]

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        if exc[0] is not None:
            with open(self.stderr.name, "rb") as f:
                tail = f.read()[-4000:]
            print("--- server stderr (tail) ---\n" + tail.decode(errors="replace"))
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def bmp(width, height, fill):
    """A valid 24-bit BMP whose pixel bytes are all `fill`."""
    row = (width * 3 + 3) // 4 * 4
    pixels = row * height
    head = b"BM" + (54 + pixels).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little")
    info = (
        (40).to_bytes(4, "little")
        + width.to_bytes(4, "little")
        + height.to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (24).to_bytes(2, "little")
        + (0).to_bytes(4, "little")
        + pixels.to_bytes(4, "little")
        + (2835).to_bytes(4, "little") * 2
        + b"\0" * 8
    )
    return head + info + bytes([fill]) * pixels


def upload(base, key, data, name, content_type="image/bmp", timeout=120):
    """A raw-body upload; returns (status, parsed JSON or text)."""
    req = urllib.request.Request(
        f"{base}/api/upload?filename={name}",
        data=data,
        headers={"Authorization": "Bearer " + key, "Content-Type": content_type},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
