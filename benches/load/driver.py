#!/usr/bin/env python3
"""pixbin against nginx on the same files, in one run; prints one table.

Called by benches/load.sh after the build. Every child process is bounded by a
timeout and killed on exit; everything binds 127.0.0.1 only. Standard library only.
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
import urllib.request

BIN = os.environ.get("PIXBIN_BIN", "target/release/pixbin")
DURATION = int(os.environ.get("DURATION", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
SEED = int(os.environ.get("SEED_COUNT", "100000"))
SIZES = [("4KiB", 4 << 10), ("100KiB", 100 << 10), ("1MiB", 1 << 20), ("10MiB", 10 << 20)]
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
REFERER = "https://discord.com/channels/1/2"
TICK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20

WORK = tempfile.mkdtemp(prefix="pixbin-load-")
PROCS = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(WORK, ignore_errors=True)


def bmp(path, target, rand=False):
    """A valid 24-bit BMP of about `target` bytes (64 px wide, 192-byte rows)."""
    w = 64 if target < 64 * MIB else 4096
    row = w * 3
    h = max(1, (target - 54) // row)
    pixels = row * h
    hdr = b"BM" + (54 + pixels).to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little")
    hdr += (40).to_bytes(4, "little") + w.to_bytes(4, "little") + h.to_bytes(4, "little")
    hdr += (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + bytes(24)
    with open(path, "wb") as f:
        f.write(hdr)
        left = pixels
        chunk = bytes((i * 7) & 0xFF for i in range(MIB))
        while left:
            n = min(left, MIB)
            f.write(os.urandom(n) if rand else chunk[:n])
            left -= n
    return 54 + pixels


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / TICK


def status_kib(pids, field):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Pixbin:
    def __init__(self, data, env=None):
        self.data = data
        # wrk's connections all come from 127.0.0.1: no per-address cap.
        self.env = dict(os.environ, PIXBIN_ADMIN_PASSWORD="bench-password", PIXBIN_LOG="warn",
                        PIXBIN_MAX_UPLOAD_BYTES="2GiB", PIXBIN_MAX_PIXELS="2000000000",
                        PIXBIN_MAX_CONNECTIONS_PER_IP="4096",
                        **(env or {}))
        self.key = None

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data],
            stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "pixbin.err"), "ab"),
            env=self.env, text=True)
        PROCS.append(self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("pixbin exited during start-up; see its stderr")
            m = re.match(r"created upload key: (\S+)", line)
            if m:
                self.key = m.group(1)
            m = re.match(r"pixbin listening on http://(\S+)", line)
            if m:
                self.addr = m.group(1)
                break
        else:
            raise SystemExit("pixbin did not start in 30 s")
        # Ready means answering HTTP, not just printing its address.
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection(self.addr, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.002)
        self.started_in = time.monotonic() - t0
        self.base = "http://" + self.addr
        return self

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Nginx:
    def __init__(self):
        self.root = os.path.join(WORK, "www")
        os.makedirs(os.path.join(self.root, "put"), exist_ok=True)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.base = "http://" + self.addr
        tmp = os.path.join(WORK, "nginx-tmp")
        os.makedirs(tmp, exist_ok=True)
        user = "user root;" if os.geteuid() == 0 else ""
        conf = f"""
{user}
worker_processes auto;
pid {WORK}/nginx.pid;
error_log {WORK}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    types {{ image/bmp bmp; }}
    default_type application/octet-stream;
    # Logging every request, as pixbin records every view.
    access_log {WORK}/nginx-access.log combined buffer=64k flush=1s;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 10000000;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    server {{
        listen {self.addr};
        root {self.root};
        location /put/ {{
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 2g;
            client_body_buffer_size 1m;
        }}
    }}
}}
"""
        self.conf = os.path.join(WORK, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-g", "daemon off;"],
                                     stderr=open(os.path.join(WORK, "nginx.err"), "ab"))
        PROCS.append(self.proc)
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.01)
        raise SystemExit("nginx did not start")

    def pids(self):
        kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        return [self.proc.pid] + [int(k) for k in kids]


def parse_time(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]


def wrk(server, path, conns, threads, duration=DURATION, headers=()):
    pids = server.pids()
    c0, t0 = cpu_seconds(pids), time.monotonic()
    cmd = ["timeout", str(duration + 30), "wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s",
           "--latency", "-H", f"User-Agent: {UA}", "-H", f"Referer: {REFERER}"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [server.base + path], capture_output=True, text=True).stdout
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pids) - c0
    r = {"cpu": cpu, "cpu_pct": 100 * cpu / wall, "rss": status_kib(pids, "VmRSS") / 1024}
    r["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    r["n"] = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["errors"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: .*", out)
    r["socket_errors"] = m.group(0) if m else ""
    r["p50"] = parse_time(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    r["p99"] = parse_time(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    r["per_cpu"] = r["n"] / cpu if cpu > 0 else float("inf")
    return r


def median_run(runs):
    """The run with the median req/s (so its latencies and CPU belong together)."""
    runs = sorted(runs, key=lambda r: r["rps"])
    return runs[len(runs) // 2]


def curl_upload(url, path, key):
    out = subprocess.run(
        ["timeout", "300", "curl", "-fsS", "-o", "/dev/null", "-w", "%{time_total} %{http_code}",
         "-H", f"Authorization: Bearer {key}", "-F", f"file=@{path};type=image/bmp",
         url + "/api/upload?format=text"], capture_output=True, text=True)
    t, code = out.stdout.split()
    if code != "200" and code != "201":
        raise SystemExit(f"upload failed: {code} {out.stderr}")
    return float(t)


def curl_put(url, path):
    out = subprocess.run(["timeout", "300", "curl", "-fsS", "-o", "/dev/null", "-w",
                          "%{time_total}", "-T", path, url], capture_output=True, text=True)
    return float(out.stdout)


def dd_sync(src, dst):
    t0 = time.monotonic()
    subprocess.run(["timeout", "300", "dd", f"if={src}", f"of={dst}", "bs=1M", "conv=fdatasync",
                    "status=none"], check=True)
    return time.monotonic() - t0


def upload_url(base, key, path):
    out = subprocess.run(
        ["timeout", "60", "curl", "-fsS", "-H", f"Authorization: Bearer {key}", "-F",
         f"file=@{path};type=image/bmp", base + "/api/upload?format=text"],
        capture_output=True, text=True, check=True).stdout.strip()
    return "/" + out.rsplit("/", 1)[1]


def fmt_row(cols, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cols, widths))


def main():
    load = os.getloadavg()
    rows = []
    extras = []
    pix = Pixbin(os.path.join(WORK, "pixbin-data")).start()
    time.sleep(1)
    idle_rss = status_kib(pix.pids(), "VmRSS") / 1024
    ngx = Nginx().start()

    # ---- GET: the same bytes under the same path on both ---------------------
    corpus = os.path.join(WORK, "corpus")
    os.makedirs(corpus)
    paths = {}
    for name, size in SIZES:
        f = os.path.join(corpus, name + ".bmp")
        bmp(f, size)
        p = upload_url(pix.base, pix.key, f)
        shutil.copyfile(f, ngx.root + p)
        paths[name] = (p, os.path.getsize(f))
        # Both must answer with identical bytes, or the comparison is void.
        a = urllib.request.urlopen(pix.base + p, timeout=10).read()
        b = urllib.request.urlopen(ngx.base + p, timeout=10).read()
        assert a == b == open(f, "rb").read(), name

    hdr = ["GET", "conns", "server", "req/s", "MiB/s", "p50 ms", "p99 ms", "CPU%",
           "req/CPU-s", "RSS MiB", "pixbin/nginx"]
    widths = [7, 5, 6, 9, 8, 7, 7, 5, 9, 7, 12]
    lines = [fmt_row(hdr, widths)]
    cells = [(name, c) for name, _ in SIZES for c in (16, 64)] + [("4KiB", 1)]
    for name, conns in cells:
        path, size = paths[name]
        threads = 1 if size < MIB or conns == 1 else 2
        res = {"nginx": [], "pixbin": []}
        for _ in range(ROUNDS):
            for label, srv in (("nginx", ngx), ("pixbin", pix)):
                res[label].append(wrk(srv, path, conns, threads))
        n, p = median_run(res["nginx"]), median_run(res["pixbin"])
        for label, r in (("nginx", n), ("pixbin", p)):
            ratio = f"{p['rps'] / n['rps']:.2f}x" if label == "pixbin" else ""
            if r["errors"] or r["socket_errors"]:
                ratio += f" ERR {r['errors']} {r['socket_errors']}"
            lines.append(fmt_row(
                [name, conns, label, f"{r['rps']:.0f}", f"{r['rps'] * size / MIB:.0f}",
                 f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['cpu_pct']:.0f}",
                 f"{r['per_cpu']:.0f}", f"{r['rss']:.1f}", ratio], widths))
        rows.append((name, conns, n, p))
        log(lines[-2])
        log(lines[-1])

    # ---- uploads: pixbin (durable) vs nginx PUT (page cache) vs dd fdatasync -
    up = ["", "upload  n  pixbin MB/s  nginx PUT MB/s  dd fdatasync MB/s  pixbin/dd"]
    upload_ratio = {}
    for name, size, n in (("1MiB", MIB, 10), ("50MiB", 50 * MIB, 3)):
        tp, tn, td = [], [], []
        for i in range(n):
            f = os.path.join(corpus, f"up-{name}-{i}.bmp")
            real = bmp(f, size, rand=True)  # distinct bytes: no deduplication
            td.append(dd_sync(f, os.path.join(WORK, f"dd-{i}")))
            tn.append(curl_put(f"{ngx.base}/put/{name}-{i}.bmp", f))
            tp.append(curl_upload(pix.base, f, pix.key))
            os.remove(f)
            os.remove(os.path.join(WORK, f"dd-{i}"))
        rate = lambda ts: real / statistics.median(ts) / 1e6
        up.append(f"{name:>6} {n:>2} {rate(tp):11.0f} {rate(tn):15.0f} {rate(td):18.0f} "
                  f"{rate(tp) / rate(td):9.2f}x")
        upload_ratio[name] = rate(tp) / rate(td)
        log(up[-1])
    pix.stop()

    # ---- 100k images: start-up, idle RSS, 1 GiB upload RSS, /api/list --------
    big = os.path.join(WORK, "pixbin-100k")
    t0 = time.monotonic()
    seed = subprocess.run(
        ["timeout", "600", os.environ["HOT_BENCH"], "--bench"],
        env=dict(os.environ, PIXBIN_SEED_DIR=big, PIXBIN_SEED_COUNT=str(SEED)),
        capture_output=True, text=True)
    if seed.returncode != 0:
        raise SystemExit("seeding failed: " + seed.stderr[-2000:])
    seeded = time.monotonic() - t0
    first = Pixbin(big).start()  # creates the admin account and an upload key
    key = first.key
    first.stop()
    starts = []
    for _ in range(3):
        s = Pixbin(big).start()
        starts.append(s.started_in)
        s.stop()
    srv = Pixbin(big).start()
    time.sleep(1)
    idle_100k = status_kib(srv.pids(), "VmRSS") / 1024
    gib = os.path.join(corpus, "1GiB.bmp")
    bmp(gib, 1 << 30, rand=True)
    t_gib = curl_upload(srv.base, gib, key)
    hwm = status_kib(srv.pids(), "VmHWM") / 1024
    os.remove(gib)
    req = urllib.request.Request(srv.base + "/api/login", method="POST",
                                 data=json.dumps({"username": "admin",
                                                  "password": "bench-password"}).encode(),
                                 headers={"Content-Type": "application/json"})
    resp = urllib.request.urlopen(req, timeout=10)
    cookies = [h.split(";", 1)[0] for h in resp.headers.get_all("Set-Cookie")]
    cookie = "Cookie: " + "; ".join(cookies)
    page = json.loads(urllib.request.urlopen(urllib.request.Request(
        srv.base + "/api/list", headers={"Cookie": "; ".join(cookies)}), timeout=10).read())
    assert len(page["images"]) > 0
    lst = wrk(srv, "/api/list", 1, 1, headers=[cookie])
    lst4 = wrk(srv, "/api/list", 4, 1, headers=[cookie])
    srv.stop()

    print()
    print(f"pixbin vs nginx, {DURATION}s per cell, median of {ROUNDS} alternating rounds; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} CPUs; wrk on the same machine")
    print("\n".join(lines))
    print("\n".join(up))
    print()
    print(f"/api/list first page, {SEED} images, 1 conn: p50 {lst['p50']:.2f} ms, "
          f"p99 {lst['p99']:.2f} ms, {lst['rps']:.0f} req/s; 4 conns: p50 {lst4['p50']:.2f} ms, "
          f"p99 {lst4['p99']:.2f} ms, {lst4['rps']:.0f} req/s")
    print(f"start-up to first /healthz answer at {SEED} images: median "
          f"{statistics.median(starts) * 1000:.0f} ms (runs: "
          f"{', '.join(f'{s * 1000:.0f}' for s in starts)} ms; seeding took {seeded:.1f} s)")
    print(f"idle RSS: {idle_rss:.1f} MiB empty store, {idle_100k:.1f} MiB at {SEED} images")
    print(f"1 GiB upload: {(1 << 30) / t_gib / 1e6:.0f} MB/s, peak RSS (VmHWM) {hwm:.1f} MiB")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    missed = check_targets(rows, upload_ratio, idle_rss, hwm, statistics.median(starts), lst["p99"])
    if missed:
        raise SystemExit(f"{missed} target(s) missed")


# The performance targets (README "Performance"): (what, value, bound, kind)
# where kind ">=" means the value must reach the bound and "<=" stay under it.
def targets(rows, upload_ratio, idle_rss, hwm, start_s, list_p99_ms):
    out = []
    for name, conns, n, p in rows:
        if name == "4KiB" and conns in (16, 64):
            out.append((f"4 KiB GET at {conns} conns, req/s vs nginx", p["rps"] / n["rps"], 0.9, ">="))
            out.append((f"4 KiB GET at {conns} conns, req per CPU-s vs nginx",
                        p["per_cpu"] / n["per_cpu"], 0.9, ">="))
    if "50MiB" in upload_ratio:
        out.append(("50 MiB upload vs dd conv=fdatasync", upload_ratio["50MiB"], 0.8, ">="))
    if "1MiB" in upload_ratio:
        out.append(("1 MiB upload vs dd conv=fdatasync", upload_ratio["1MiB"], 0.7, ">="))
    out.append(("idle RSS, empty store (MiB)", idle_rss, 15.0, "<="))
    out.append(("peak RSS over a 1 GiB upload (MiB)", hwm, 64.0, "<="))
    out.append((f"start-up to /healthz at {SEED} images (ms)", start_s * 1000, 200.0, "<="))
    out.append((f"/api/list first page p99 at {SEED} images (ms)", list_p99_ms, 10.0, "<="))
    return out


def check_targets(*args):
    """Prints each target as met or missed; the number missed."""
    print("\ntargets:")
    missed = 0
    for what, value, bound, kind in targets(*args):
        ok = value >= bound if kind == ">=" else value <= bound
        missed += not ok
        shown = f"{value:.2f}x" if "vs" in what else f"{value:.1f}"
        print(f"  {'met   ' if ok else 'MISSED'} {what}: {shown} (target {kind} {bound:g})")
    return missed


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
