#!/usr/bin/env python3
"""SECURITY.md A42 at scale against the release binary: clients that send
requests and never read the answers.

Three waves of 1,100 sockets, each with a 4 KiB receive buffer: the first
all from one address (127.0.0.2), the second and third spread over 20
addresses (127.0.0.10-29, 55 each, under the per-address cap, so together
they exceed the connection limit and only the reserve keeps room). Half of each wave
pipelines 12 GETs of a 1 MiB image, half sends one GET of a 9 MiB image; none
ever reads. Meanwhile /healthz and a small image are fetched from 127.0.0.1
every 250 ms.

Pass: every control request answers within 2 s throughout each wave; after
the write timeout every stuck socket has been closed by the server with its
answers cut short; afterwards the server serves normally; and a third wave
like the second adds less than half the RSS the second added (nothing held
per stuck socket outlives it), with RSS under 256 MiB in all.
"""

import http.client
import resource
import socket
import sys
import time
import urllib.request

from harness import Server, bmp, upload

WRITE_TIMEOUT = 5
SOCKETS = 1100
PIPELINED = 12


def tcp_counters():
    """The kernel's TcpExt counters (Linux), or {} where there are none."""
    try:
        with open("/proc/net/netstat") as f:
            lines = [line.split() for line in f]
    except OSError:
        return {}
    for names, values in zip(lines, lines[1:]):
        if names[0] == "TcpExt:" and values[0] == "TcpExt:":
            return dict(zip(names[1:], map(int, values[1:])))
    return {}


def stuck_socket(source, port, request):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(request)
    except OSError:
        pass  # refused at once: closed before the request went out
    return s


def timed(url):
    """Status, seconds taken, and what went wrong if no status came."""
    t = time.monotonic()
    why = ""
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            status = res.status
            res.read()
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, http.client.HTTPException) as e:
        status, why = 0, f" ({type(e).__name__}: {e})"
    return status, time.monotonic() - t, why


def drain(s, limit):
    """Reads until the server closes; the byte count, or None if still open."""
    s.settimeout(0.5)
    total = 0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return total
        if not data:
            return total
        total += len(data)
    return None


def wave(srv, name, sources, small, big, baseline_kib):
    small_path = small["url"][len(srv.base):]
    big_path = big["url"][len(srv.base):]
    pipelined = f"GET {small_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * PIPELINED
    one_big = f"GET {big_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    socks = []
    start = time.monotonic()
    for i in range(SOCKETS):
        source = sources[i % len(sources)]
        if i % 2 == 0:
            socks.append((stuck_socket(source, srv.port, pipelined), PIPELINED * small["size"]))
        else:
            socks.append((stuck_socket(source, srv.port, one_big), big["size"]))
    opened = time.monotonic() - start
    controls = []
    failures = []
    while time.monotonic() - start < opened + WRITE_TIMEOUT + 3:
        for url in (srv.base + "/healthz", small["url"]):
            status, took, why = timed(url)
            controls.append(took)
            if status != 200 or took >= 2.0:
                failures.append(f"{name}: {url[len(srv.base):]} gave {status} in {took:.2f} s{why}")
        time.sleep(0.25)
    peak_kib = srv.rss_kib()
    cut = 0
    for i, (s, full) in enumerate(socks):
        got = drain(s, 10)
        if got is None:
            failures.append(f"{name}: socket {i} still open after the write timeout")
        elif got >= full:
            failures.append(f"{name}: socket {i} got its whole answer ({got} bytes)")
        else:
            cut += 1
        s.close()
    print(
        f"{name}: {SOCKETS} sockets opened in {opened:.2f} s; {len(controls)} control requests, "
        f"slowest {max(controls) * 1000:.0f} ms; {cut} cut short; "
        f"RSS {baseline_kib // 1024} -> {peak_kib // 1024} MiB"
    )
    return failures


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    # The server logs each connection it refuses at debug level; the control
    # address must never be among them.
    env = {"PIXBIN_WRITE_TIMEOUT": f"{WRITE_TIMEOUT}s", "PIXBIN_LOG": "error,pixbin::server=debug"}
    kernel_before = tcp_counters()
    with Server(env) as srv:
        status, small = upload(srv.base, srv.upload_key, bmp(600, 580, 3), "small.bmp")
        assert status == 200, (status, small)
        status, big = upload(srv.base, srv.upload_key, bmp(2000, 1500, 9), "big.bmp")
        assert status == 200, (status, big)
        baseline = srv.rss_kib()
        failures = wave(srv, "one address", ["127.0.0.2"], small, big, baseline)
        spread = [f"127.0.0.{n}" for n in range(10, 30)]
        failures += wave(srv, "20 addresses", spread, small, big, baseline)
        first = srv.rss_kib()
        # The same wave again: what the connections held must be reused, not
        # added to (each connection may keep a buffer while it is stuck; the
        # allocator keeps the pages afterwards).
        failures += wave(srv, "20 addresses again", spread, small, big, baseline)
        time.sleep(1)
        for url in (srv.base + "/healthz", big["url"]):
            status, took, why = timed(url)
            if status != 200:
                failures.append(f"after the waves {url} gave {status}{why}")
        after = srv.rss_kib()
        print(
            f"RSS: start {baseline // 1024} MiB, after the second wave {first // 1024} MiB, "
            f"after the third {after // 1024} MiB"
        )
        # A leak per stuck connection would add as much again as the first
        # wave of twenty did; the allocator's arenas move by a fraction.
        if after - first > (first - baseline) // 2:
            failures.append(
                f"RSS grew by {(after - first) // 1024} MiB in a repeated wave "
                f"(the first added {(first - baseline) // 1024} MiB)"
            )
        if after > 256 * 1024:
            failures.append(f"RSS {after // 1024} MiB after the waves")
        # Stuck sockets must not pin so much kernel memory that the kernel
        # starts resetting connections it closes (everyone's, not only
        # theirs): the server caps what each may hold unsent.
        kernel_after = tcp_counters()
        for counter in ("TCPMemoryPressures", "TCPAbortOnMemory"):
            grew = kernel_after.get(counter, 0) - kernel_before.get(counter, 0)
            print(f"kernel {counter}: +{grew}")
            if grew > 0:
                failures.append(f"the kernel counted {grew} more {counter} during the waves")
        srv.stderr.flush()
        with open(srv.stderr.name, "rb") as f:
            log = f.read().decode(errors="replace").splitlines()
        refused = [line for line in log if "connection refused" in line]
        mine = [line for line in refused if "peer=127.0.0.1 " in line]
        print(f"{len(refused)} connections refused in all, {len(mine)} of them the control address's")
        failures += [f"the control address was refused: {line}" for line in mine[:5]]
        if failures:
            print("FAIL:\n  " + "\n  ".join(failures[:20]))
            sys.exit(1)
        print("never-reading clients: ok")


if __name__ == "__main__":
    main()
