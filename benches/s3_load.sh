#!/usr/bin/env bash
# The S3 column: pixbin on a 3-node Garage cluster against Garage itself, in
# one run, with ratios per row.
#
#   bash benches/s3_load.sh          # DURATION=5 ROUNDS=3 GARAGE_PORT_BASE=3940
#
# Builds the release binary, starts the cluster of tests/s3/cluster.sh
# (Garage at $HOME/.cache/pixbin-tools/bin/garage, see tests/s3/run.sh), then
# runs benches/s3/driver.py, which starts two pixbin servers on their own
# prefixes of the bucket, one plain and one with --cache-dir, and prints:
#   - GET throughput of 4 KiB and 1 MiB images with wrk (16 connections,
#     ROUNDS rounds of DURATION seconds, median), through each server and
#     straight from Garage (a presigned URL of the same object), with the
#     ratio to Garage. A 4 KiB image is served from pixbin's memory cache
#     after its first read whatever the disk cache, so that row shows the
#     cost of the HTTP path rather than of S3;
#   - upload throughput of distinct 1 MiB images, one at a time, through
#     pixbin (stream, hash, inspect, PUT, commit) against a signed PUT of the
#     same bytes straight to Garage.
# Not part of CI. Binds 127.0.0.1 only; every step runs under `timeout`; the
# cluster and the temporary directory are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || {
    echo "installing wrk from Debian" >&2
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq wrk >/dev/null
}
timeout 1800 cargo build --release --quiet
work=$(mktemp -d "${TMPDIR:-/tmp}/pixbin-s3-bench-XXXXXX")
cleanup() {
    tests/s3/cluster.sh "$work" stop || true
    rm -rf "$work"
}
trap cleanup EXIT
tests/s3/cluster.sh "$work" >/dev/null
TMPDIR="$work" timeout 1800 python3 benches/s3/driver.py "$work/env"
