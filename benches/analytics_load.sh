#!/usr/bin/env bash
# Serving throughput with view analytics on versus off, measured in the same run.
#
# Starts the release binary twice on loopback (PIXBIN_ANALYTICS=true / false,
# each with its own temporary data dir), uploads the same small image to both,
# then runs wrk against each alternately, ROUNDS times, and prints the median
# requests/s of each and the median of the per-round on/off ratios. Small images make per-request overhead,
# and so the cost of recording a view, as visible as it can be.
# Every request carries a browser User-Agent and a Referer, so with analytics
# on each one is a counted view (classified, queued, resolved and committed).
#
#   bash benches/analytics_load.sh          # ROUNDS=11 DURATION=3 CONNECTIONS=32
#
# Exits non-zero when the ratio is below MIN_RATIO (default 0.9). Bounded: each
# wrk run is DURATION seconds under a timeout; the whole script takes about
# 2 * ROUNDS * DURATION seconds after the build. Binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-11}
DURATION=${DURATION:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
MIN_RATIO=${MIN_RATIO:-0.9}
IMAGE=${IMAGE:-tests/fixtures/real/no_time_for_that_tiny.gif}
UA='Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
REFERER='https://discord.com/channels/1/2'

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk from Debian" >&2
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null 2>&1 || {
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq curl >/dev/null
}

timeout 1200 cargo build --release --quiet
BIN=target/release/pixbin

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME ANALYTICS: runs a server, waits for its address; sets BASE_, KEY_, PID_<NAME>.
start() {
    local name=$1 analytics=$2 out="$WORK/$1.out"
    PIXBIN_ANALYTICS=$analytics PIXBIN_ADMIN_PASSWORD=bench-password PIXBIN_LOG=warn \
        PIXBIN_MAX_CONNECTIONS_PER_IP=4096 \
        "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/$name" >"$out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
    for _ in $(seq 100); do
        grep -q '^pixbin listening on ' "$out" 2>/dev/null && break
        sleep 0.1
    done
    local base key
    base=$(sed -n 's/^pixbin listening on //p' "$out")
    key=$(sed -n 's/^created upload key: //p' "$out")
    [ -n "$base" ] || { echo "server $name did not start" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    printf -v "BASE_$name" '%s' "$base"
    printf -v "KEY_$name" '%s' "$key"
}

# upload BASE KEY: prints the image URL.
upload() {
    curl -fsS -H "Authorization: Bearer $2" -F "file=@$IMAGE" "$1/api/upload?format=text"
}

# rps URL: one wrk run, prints "requests/s requests".
rps() {
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -H "User-Agent: $UA" -H "Referer: $REFERER" "$1" |
        awk '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2} END {print r, n}'
}

# cpu PID: user + system clock ticks the process has used.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

start on true
start off false
URL_on=$(upload "$BASE_on" "$KEY_on")
URL_off=$(upload "$BASE_off" "$KEY_off")
echo "image: $IMAGE ($(stat -c %s "$IMAGE") bytes); wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s x $ROUNDS rounds each"

# Warm both up (page cache, allocator, connection setup), unmeasured.
DURATION=1 rps "$URL_on" >/dev/null
DURATION=1 rps "$URL_off" >/dev/null

: >"$WORK/on.rps"
: >"$WORK/off.rps"
: >"$WORK/on.cpu"
: >"$WORK/off.cpu"
for round in $(seq "$ROUNDS"); do
    # Alternate which goes first so drift (thermal, other load) hits both alike.
    if [ $((round % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
    for mode in $order; do
        url_var="URL_$mode" pid_var="PID_$mode"
        c0=$(cpu "${!pid_var}")
        read -r r n < <(rps "${!url_var}")
        # Let the writer finish this run's last batch, so its CPU is counted here.
        sleep 0.6
        c1=$(cpu "${!pid_var}")
        us=$(awk -v c=$((c1 - c0)) -v t="$TICK" -v n="$n" 'BEGIN {printf "%.1f", c / t * 1e6 / n}')
        echo "$r" >>"$WORK/$mode.rps"
        echo "$us" >>"$WORK/$mode.cpu"
        printf 'round %2d  analytics %-3s  %8.0f req/s  %6.1f us CPU/request\n' "$round" "$mode" "$r" "$us"
    done
done

ON=$(median <"$WORK/on.rps")
OFF=$(median <"$WORK/off.rps")
# Each round's on/off pair ran back to back, so its ratio is the least
# disturbed by load that comes and goes; the verdict uses their median.
PAIRED=$(paste "$WORK/on.rps" "$WORK/off.rps" | awk '{print $1 / $2}' | median)

# Check the "on" server really recorded views (after its last flush).
sleep 1
JAR="$WORK/jar"
curl -fsS -c "$JAR" -H 'Content-Type: application/json' \
    -d '{"username":"admin","password":"bench-password"}' "$BASE_on/api/login" >/dev/null
VIEWS_ON=$(curl -fsS -b "$JAR" "$BASE_on/api/stats" | sed -n 's/.*"views":\([0-9]*\).*/\1/p')
curl -fsS -c "$JAR" -H 'Content-Type: application/json' \
    -d '{"username":"admin","password":"bench-password"}' "$BASE_off/api/login" >/dev/null
VIEWS_OFF=$(curl -fsS -b "$JAR" "$BASE_off/api/stats" | sed -n 's/.*"views":\([0-9]*\).*/\1/p')

RATIO=$(awk -v p="$PAIRED" 'BEGIN {printf "%.3f", p}')
echo
echo "median req/s: analytics on $ON, off $OFF (ratio of medians $(awk -v a="$ON" -v b="$OFF" 'BEGIN {printf "%.3f", a / b}'))"
echo "views recorded: on $VIEWS_ON, off $VIEWS_OFF"
echo "server CPU per request (median): on $(median <"$WORK/on.cpu") us, off $(median <"$WORK/off.cpu") us"
echo "ratio on/off (median of $ROUNDS paired rounds): $RATIO (minimum $MIN_RATIO)"
[ "${VIEWS_ON:-0}" -gt 0 ] || { echo "FAIL: the analytics-on server recorded no views" >&2; exit 1; }
[ "${VIEWS_OFF:-1}" -eq 0 ] || { echo "FAIL: the analytics-off server recorded views" >&2; exit 1; }
awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN {exit !(r >= m)}' || { echo "FAIL: ratio below $MIN_RATIO" >&2; exit 1; }
echo "PASS"
