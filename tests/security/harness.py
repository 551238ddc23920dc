"""Starts the release pixbin binary on 127.0.0.1 with a temporary data dir for
the scripted security checks (slowloris.py, load.py, api_fuzz.py); its
`start_serve` is also how tests/s3/garage.py starts its servers.

Usage from a script:
    with Server(env={"PIXBIN_HEADER_TIMEOUT": "2s"}, args=["--max-connections", "8"]) as srv:
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


def start_serve(data_dir, stderr, env=None, args=(), password=PASSWORD):
    """Starts `pixbin serve` on 127.0.0.1:0 over `data_dir`, with the admin
    password and `env` over this process's environment and `args` after the
    usual flags; returns (process, base URL, upload key printed by a first
    start or None). Its stdout is drained afterwards so it never blocks."""
    full_env = dict(os.environ)
    full_env.update({"PIXBIN_ADMIN_PASSWORD": password, "PIXBIN_LOG": "warn"})
    full_env.update(env or {})
    proc = subprocess.Popen(
        [BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    base = key = None
    for raw in proc.stdout:
        line = raw.decode().strip()
        if line.startswith("created upload key: "):
            key = line.split(": ", 1)[1]
        if line.startswith("pixbin listening on "):
            base = line.split(" on ", 1)[1]
            break
    if not base:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise RuntimeError("pixbin did not start; see " + stderr.name)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, base, key


class Server:
    def __init__(self, env=None, args=()):
        self.extra_env = env or {}
        self.args = list(args)
        self.dir = None
        self.proc = None
        self.base = None
        self.upload_key = None
        self.password = PASSWORD

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pixbin-sec-")
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc, self.base, self.upload_key = start_serve(
            os.path.join(self.dir, "data"), self.stderr, self.extra_env, self.args
        )
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
