#!/bin/sh
# Browser end-to-end tests of the admin UI.
#
#   tests/browser/run.sh          build the release binary, start it on a free
#                                 port with a temporary data dir, run the suite
#   tests/browser/run.sh --mock   run the suite against mock-server.mjs instead
#                                 (UI work without the Rust server)
#
# PIXBIN_SKIP_BUILD=1 uses the existing binary as it is; PIXBIN_BIN points at
# another binary (default target/release/pixbin).
# Needs node >= 20 and Debian's chromium (apt-get install -y chromium).
# Screenshots go to target/browser-screenshots/ (PIXBIN_SCREENSHOTS overrides).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mode=${1:-real}

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "run.sh: $CHROMIUM not found; install it with: apt-get install -y chromium" >&2
  exit 2
fi
if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/axe-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/pixbin-browser.XXXXXX")
out="$data/server.out"
err="$data/server.err"
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export PIXBIN_ADMIN_PASSWORD="browser-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

if [ "$mode" = "--mock" ]; then
  node "$here/mock-server.mjs" >"$out" 2>"$err" &
  pid=$!
else
  if [ "${PIXBIN_SKIP_BUILD:-}" != 1 ]; then
    (cd "$repo" && cargo build --release --quiet)
  fi
  mkdir "$data/store"
  # No --base-url: the server defaults it to the bound address, which we only
  # learn from its "listening on" line. Invites are on so that the suite can
  # create a second account the way a person would, from an invite link.
  "${PIXBIN_BIN:-$repo/target/release/pixbin}" serve --listen 127.0.0.1:0 --data-dir "$data/store" --registration invite >"$out" 2>"$err" &
  pid=$!
fi

url=
i=0
while [ $i -lt 300 ]; do
  url=$(grep -h -o 'listening on https\{0,1\}://[^ ]*' "$out" "$err" 2>/dev/null | head -n 1 | sed 's/^listening on //') || true
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "run.sh: the server exited before listening" >&2
    cat "$out" "$err" >&2
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$url" ]; then
  echo "run.sh: no 'listening on' line from the server within 30 s" >&2
  cat "$out" "$err" >&2
  exit 1
fi
echo "server: $url"

status=0
PIXBIN_URL="$url" PIXBIN_PASSWORD="$PIXBIN_ADMIN_PASSWORD" \
  PIXBIN_SCREENSHOTS="${PIXBIN_SCREENSHOTS:-$repo/target/browser-screenshots}" \
  node "$here/suite.mjs" || status=$?

# Logs read by journald or a file must not carry terminal colour codes.
if [ "$mode" != "--mock" ] && grep -q "$(printf '\033')\[" "$out" "$err"; then
  echo "FAIL the server wrote ANSI colour codes to a log that is not a terminal:" >&2
  grep -m 3 "$(printf '\033')\[" "$out" "$err" | cat -v >&2
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "--- server log (last 40 lines) ---" >&2
  tail -n 40 "$out" "$err" >&2 || true
fi
exit "$status"
