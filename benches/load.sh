#!/usr/bin/env bash
# pixbin against nginx serving the same files, in one run, with ratios per row.
#
#   bash benches/load.sh            # DURATION=5 ROUNDS=2 SEED_COUNT=100000
#
# Builds the release binary and the `hot` bench (its seeding mode fills a data
# directory with 100k images), installs nginx, wrk and curl from Debian when
# missing, then runs benches/load/driver.py, which:
#   - generates BMP images of 4 KiB, 100 KiB, 1 MiB and 10 MiB, uploads them to
#     pixbin and copies the same bytes to the same paths in an nginx root;
#   - runs wrk against both alternately (ROUNDS rounds of DURATION seconds each)
#     at 16 and 64 connections, and at 1 connection for 4 KiB, with a browser
#     User-Agent and Referer so every pixbin request is a counted view; prints
#     req/s, MiB/s, p50/p99, server CPU (from /proc/PID/stat), requests per
#     server-CPU-second, RSS and the pixbin/nginx ratio;
#   - uploads distinct 1 MiB and 50 MiB images: pixbin (durable: fsync before
#     the answer) beside nginx PUT (dav module, page cache only) and
#     `dd conv=fdatasync` of the same file (the disk's durable write rate);
#   - at 100k images: start-up time to the first /healthz answer, idle RSS, peak
#     RSS (VmHWM) over a 1 GiB upload, and /api/list first-page latency.
# Then it prints each performance target (4 KiB GET and its
# requests per CPU-second at >= 0.9x nginx, uploads at >= 0.7x / 0.8x of dd,
# idle RSS, 1 GiB upload peak, start-up and /api/list at 100k images) as met or
# MISSED and exits non-zero when any is missed.
# Binds 127.0.0.1 only; every step runs under `timeout`; child processes and
# the temporary directory are removed on exit. About 4 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} from Debian" >&2
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! nginx -V 2>&1 | grep -q http_dav_module; then
    echo "nginx lacks http_dav_module: the nginx PUT column will fail" >&2
fi

timeout 1800 cargo build --release --quiet
# The bench executable itself, so seeding later never waits on a rebuild.
HOT_BENCH=$(timeout 1800 cargo bench --bench hot --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hot" and m.get("executable"):
        print(m["executable"])')
[ -x "$HOT_BENCH" ] || { echo "could not build benches/hot.rs" >&2; exit 1; }
export HOT_BENCH
exec timeout 1800 python3 benches/load/driver.py
