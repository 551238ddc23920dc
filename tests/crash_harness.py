#!/usr/bin/env python3
"""kill -9 harness (SECURITY.md §3 M5, A38): pixbin never loses an acknowledged
upload and never keeps an acknowledged delete, whatever instant it dies at.

Two accounts, alice and bob, each upload with their own key (made with
`pixbin user add` and `pixbin key create --user` before the first start), so
duplicates are shared across accounts. Each cycle starts `pixbin serve` on one
data dir, checks that every upload acknowledged so far serves byte-exact and
every acknowledged delete is gone, runs four client threads (two per account)
doing uploads (half of them duplicates of earlier payloads, often the other
account's) and deletes, kills the server with SIGKILL after a random 0.05-2 s,
then runs `pixbin check` (only orphan blobs and stale temp files, which a crash
may leave, are allowed), `pixbin gc`, and `pixbin check` again, which must be
clean: every row has its blob with the right size and blake3, refcounts,
totals and each account's usage match, no orphan, no temp.

Standard library only. Usage:
    python3 tests/crash_harness.py --binary target/debug/pixbin --cycles 30
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

ALLOWED_AFTER_CRASH = ("orphan-blob", "stale-temp")


def bmp(rng, max_side):
    """A valid 24-bit BMP of random size and random pixels."""
    w = rng.randint(4, max_side)
    h = rng.randint(4, max_side)
    row = (w * 3 + 3) // 4 * 4
    data = row * h
    head = b"BM" + struct.pack("<IHHI", 54 + data, 0, 0, 54)
    head += struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, data, 2835, 2835, 0, 0)
    return head + rng.randbytes(data)


def multipart(payload, name):
    boundary = "harness%016x" % random.getrandbits(64)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request(addr, method, path, headers=None, body=None, timeout=20):
    host, port = addr
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


class Server:
    def __init__(self, binary, data_dir, log):
        self.started = time.time()
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=log,
            env=dict(os.environ, PIXBIN_LOG="warn", PIXBIN_ADMIN_PASSWORD="harness-password-1"),
            text=True,
        )
        self.addr = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"server exited before listening (code {self.proc.wait()})")
            if line.startswith("pixbin listening on http://"):
                host, port = line.strip().rsplit("/", 1)[1].rsplit(":", 1)
                self.addr = (host, int(port))
                break
        else:
            raise SystemExit("server did not start within 60 s")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class State:
    """What the clients were told. Only acknowledged outcomes are promises."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live = {}  # path -> (sha256, delete path)
        self.deleted = set()  # paths whose delete was acknowledged
        self.unsure = set()  # paths whose delete got no answer
        self.pool = []  # payloads to send again (duplicates)
        self.uploads = 0
        self.deletes = 0


def client(server, key, state, stop, rng, max_side):
    headers_auth = {"Authorization": f"Bearer {key}"}
    while not stop.is_set():
        try:
            with state.lock:
                want_delete = state.live and (rng.random() < 0.35 or len(state.live) > 300)
                if want_delete:
                    path = rng.choice(list(state.live))
                    del_path = state.live[path][1]
            if want_delete:
                try:
                    status, _ = request(server.addr, "DELETE", del_path)
                except OSError:
                    with state.lock:
                        state.unsure.add(path)
                        state.live.pop(path, None)
                    continue
                with state.lock:
                    if status == 200:
                        state.live.pop(path, None)
                        state.deleted.add(path)
                        state.deletes += 1
                    elif status != 404:
                        raise SystemExit(f"delete {path}: HTTP {status}")
                continue
            with state.lock:
                dup = state.pool and rng.random() < 0.5
                payload = rng.choice(state.pool) if dup else None
            if payload is None:
                payload = bmp(rng, max_side)
                with state.lock:
                    if len(state.pool) < 40:
                        state.pool.append(payload)
            body, ctype = multipart(payload, "shot.bmp")
            try:
                status, resp = request(
                    server.addr,
                    "POST",
                    "/api/upload",
                    dict(headers_auth, **{"Content-Type": ctype}),
                    body,
                )
            except OSError:
                continue  # not acknowledged: may or may not exist
            if status != 200:
                raise SystemExit(f"upload: HTTP {status}: {resp[:200]!r}")
            img = json.loads(resp)
            path = "/%s.%s" % (img["uuid"], img["extension"])
            dele = img["deletion_url"].split("://", 1)[1]
            dele = dele[dele.index("/"):]
            with state.lock:
                state.live[path] = (hashlib.sha256(payload).hexdigest(), dele)
                state.uploads += 1
        except SystemExit as e:
            state.failure = str(e)
            stop.set()
            return


def verify(server, state):
    with state.lock:
        live = dict(state.live)
        deleted = set(state.deleted)
    for path, (digest, _) in live.items():
        status, body = request(server.addr, "GET", path)
        if status != 200 or hashlib.sha256(body).hexdigest() != digest:
            raise SystemExit(f"acknowledged upload {path} lost: HTTP {status}, {len(body)} bytes")
    for path in deleted:
        status, _ = request(server.addr, "GET", path)
        if status != 404:
            raise SystemExit(f"acknowledged delete of {path} undone: HTTP {status}")
    return len(live), len(deleted)


def stale_temps(data_dir, started):
    tmp = os.path.join(data_dir, "tmp")
    return [
        f
        for f in os.listdir(tmp)
        if os.path.getmtime(os.path.join(tmp, f)) < started - 0.001
    ]


def pixbin(binary, *args):
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, env=dict(os.environ, PIXBIN_LOG="warn")
    )


ACCOUNTS = ("alice", "bob")


def make_accounts(binary, data):
    """Creates the two accounts and a key for each; returns {name: key}."""
    keys = {}
    for name in ACCOUNTS:
        r = subprocess.run(
            [binary, "user", "add", name, "--role", "user", "--password-stdin", "--data-dir", data],
            input="harness-password-2\n",
            capture_output=True,
            text=True,
            env=dict(os.environ, PIXBIN_LOG="warn"),
        )
        if r.returncode != 0:
            raise SystemExit(f"user add {name}: {r.stderr}")
        k = pixbin(binary, "key", "create", "--user", name, "--name", name, "--data-dir", data)
        if k.returncode != 0:
            raise SystemExit(f"key create --user {name}: {k.stderr}")
        keys[name] = k.stdout.strip().splitlines()[-1]
    return keys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/debug/pixbin")
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--max-side", type=int, default=600, help="largest image side (pixels)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"crash harness: {args.cycles} cycles, seed {seed}", flush=True)
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="pixbin-crash-")
    data = os.path.join(work, "data")
    log = open(os.path.join(work, "server.log"), "w")
    state = State()
    state.failure = None
    began = time.time()
    try:
        keys = make_accounts(args.binary, data)
        for cycle in range(1, args.cycles + 1):
            server = Server(args.binary, data, log)
            stale = stale_temps(data, server.started)
            if stale:
                raise SystemExit(f"cycle {cycle}: temp files survived start-up: {stale}")
            live, gone = verify(server, state)
            stop = threading.Event()
            workers = [
                threading.Thread(
                    target=client,
                    args=(
                        server,
                        keys[ACCOUNTS[i % len(ACCOUNTS)]],
                        state,
                        stop,
                        random.Random(rng.random()),
                        args.max_side,
                    ),
                )
                for i in range(args.threads)
            ]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.05, 2.0))
            server.kill()
            stop.set()
            for w in workers:
                w.join()
            if state.failure:
                raise SystemExit(f"cycle {cycle}: {state.failure}")
            # The crash may leave orphans and temps, nothing else.
            first = pixbin(args.binary, "check", "--data-dir", data)
            problems = [l[9:] for l in first.stdout.splitlines() if l.startswith("problem: ")]
            bad = [p for p in problems if not p.startswith(ALLOWED_AFTER_CRASH)]
            if bad or (first.returncode != 0 and not problems):
                raise SystemExit(f"cycle {cycle}: check after the crash:\n{first.stdout}{first.stderr}")
            # The orphans are seconds old: only an explicit zero grace lets GC
            # take them (into trash/, not away).
            gc = pixbin(args.binary, "gc", "--grace", "0s", "--data-dir", data)
            second = pixbin(args.binary, "check", "--data-dir", data)
            if gc.returncode != 0 or second.returncode != 0:
                raise SystemExit(
                    f"cycle {cycle}: not clean after gc:\n{gc.stdout}{gc.stderr}{second.stdout}{second.stderr}"
                )
            print(
                f"cycle {cycle:3}: verified {live} uploads and {gone} deletes; "
                f"{len(problems)} crash leftovers collected",
                flush=True,
            )
        server = Server(args.binary, data, log)
        live, gone = verify(server, state)
        server.kill()
        print(
            f"ok: {args.cycles} kill -9 cycles in {time.time() - began:.0f} s; "
            f"{state.uploads} uploads and {state.deletes} deletes acknowledged; "
            f"{live} live uploads served byte-exact, {gone} deletes held; check clean after every gc",
            flush=True,
        )
    except SystemExit as e:
        log.flush()
        print(f"FAILED (seed {seed}): {e}", file=sys.stderr)
        print(f"data kept in {work}", file=sys.stderr)
        sys.exit(1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
