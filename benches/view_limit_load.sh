#!/usr/bin/env bash
# Upload latency while a view-limited image is hammered (SECURITY.md A54).
#
# Starts the binary on loopback with a temporary data dir, uploads an image
# limited to 10^9 views, and measures UPLOADS sequential small uploads three
# times: on an idle server, while wrk fetches an unlimited image over
# CONNECTIONS connections (the control: the cost of sharing the CPU), and
# while wrk fetches the limited one (every fetch spends a view, durably).
# Prints the p50 and p90 upload latency of each phase and the fetch rates.
#
#   bash benches/view_limit_load.sh                 # the release build
#   BIN=target/debug/pixbin bash benches/view_limit_load.sh
#
# Bounded: wrk runs under a timeout; the whole script takes well under a
# minute after the build. Binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOADS=${UPLOADS:-60}
CONNECTIONS=${CONNECTIONS:-32}
IMAGE=${IMAGE:-tests/fixtures/real/no_time_for_that_tiny.gif}
SMALL=${SMALL:-tests/fixtures/real/logo.ico}

if [ -z "${BIN:-}" ]; then
    timeout 1200 cargo build --release --quiet
    BIN=target/release/pixbin
fi

WORK=$(mktemp -d)
PID=
WRK=
cleanup() {
    [ -n "$WRK" ] && kill "$WRK" 2>/dev/null || true
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PIXBIN_ADMIN_PASSWORD=bench-password PIXBIN_LOG=warn PIXBIN_MAX_CONNECTIONS_PER_IP=4096 \
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 100); do
    grep -q '^pixbin listening on ' "$WORK/out" 2>/dev/null && break
    sleep 0.1
done
BASE=$(sed -n 's/^pixbin listening on //p' "$WORK/out")
KEY=$(sed -n 's/^created upload key: //p' "$WORK/out")
[ -n "$BASE" ] || { echo "server did not start" >&2; cat "$WORK/err" >&2; exit 1; }

URL=$(curl -fsS -H "Authorization: Bearer $KEY" -F max_views=1000000000 \
    -F "file=@$IMAGE" "$BASE/api/upload?format=text")

# uploads FILE: UPLOADS sequential uploads, one latency in ms per line.
uploads() {
    for _ in $(seq "$UPLOADS"); do
        curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $KEY" \
            -F "file=@$SMALL" "$BASE/api/upload"
    done | awk '{printf "%.2f\n", $1 * 1000}' >"$1"
}
pct() { sort -g "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p+0.5); if (i<1) i=1; print a[i]}'; }

PLAIN=$(curl -fsS -H "Authorization: Bearer $KEY" -F "file=@$SMALL" "$BASE/api/upload?format=text")

# hammered URL NAME: uploads while wrk fetches URL; wrk's summary in NAME.wrk.
hammered() {
    timeout 120 wrk -t1 -c"$CONNECTIONS" -d60s "$1" >"$WORK/$2.wrk" &
    WRK=$!
    sleep 1
    uploads "$WORK/$2"
    kill -INT "$WRK" 2>/dev/null || true
    wait "$WRK" 2>/dev/null || true
    WRK=
}

uploads "$WORK/idle"
hammered "$PLAIN" plain
hammered "$URL" limited

rate() { awk '/^Requests\/sec:/ {printf "%.0f fetches/s", $2}' "$1"; }
echo "uploads, idle:                     p50 $(pct "$WORK/idle" 0.5) ms, p90 $(pct "$WORK/idle" 0.9) ms ($UPLOADS uploads)"
echo "uploads, unlimited image hammered: p50 $(pct "$WORK/plain" 0.5) ms, p90 $(pct "$WORK/plain" 0.9) ms ($(rate "$WORK/plain.wrk"))"
echo "uploads, max_views=10^9 hammered:  p50 $(pct "$WORK/limited" 0.5) ms, p90 $(pct "$WORK/limited" 0.9) ms ($(rate "$WORK/limited.wrk"))"
echo "(wrk -c$CONNECTIONS; every fetch of the limited image spends a view, durably)"
