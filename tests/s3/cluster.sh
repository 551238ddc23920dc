#!/usr/bin/env bash
# Starts (or stops) a 3-node Garage cluster on loopback for the S3 tests:
# replication factor 3, so any two nodes make a quorum. Creates bucket `pix`
# and a key allowed on it, and writes DIR/env with S3_ENDPOINT, S3_BUCKET,
# S3_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the node PIDs.
#
#   cluster.sh DIR        start (DIR must be empty or new)
#   cluster.sh DIR stop   stop every node started in DIR
#
# Ports: RPC BASE+1..3, S3 BASE+11..13, admin BASE+21..23, with
# GARAGE_PORT_BASE (default 3940) chosen away from the other tests' ports.
# Garage itself (AGPL) is an external test server here, never linked.
set -euo pipefail
DIR=${1:?usage: cluster.sh DIR [stop]}
G=${GARAGE:-$HOME/.cache/pixbin-tools/bin/garage}
BASE=${GARAGE_PORT_BASE:-3940}
if [ "${2:-}" = stop ]; then
  for n in 1 2 3; do
    [ -f "$DIR/pid$n" ] && kill "$(cat "$DIR/pid$n")" 2>/dev/null || true
  done
  # Wait (at most 10 s) for them to exit before the caller removes DIR.
  for _ in $(seq 50); do
    alive=0
    for n in 1 2 3; do
      [ -f "$DIR/pid$n" ] && kill -0 "$(cat "$DIR/pid$n")" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  exit 0
fi
[ -x "$G" ] || { echo "no garage at $G (cargo install --locked garage --version 2.5.0 --root ...)" >&2; exit 2; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
for n in 1 2 3; do
  mkdir -p "$DIR/meta$n" "$DIR/data$n"
  cat > "$DIR/cfg$n.toml" <<CFG
metadata_dir = "$DIR/meta$n"
data_dir = "$DIR/data$n"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$((BASE + n))"
rpc_public_addr = "127.0.0.1:$((BASE + n))"
rpc_secret = "$SECRET"
bootstrap_peers = []
[s3_api]
api_bind_addr = "127.0.0.1:$((BASE + 10 + n))"
s3_region = "garage"
[admin]
api_bind_addr = "127.0.0.1:$((BASE + 20 + n))"
CFG
  "$G" -c "$DIR/cfg$n.toml" server > "$DIR/log$n" 2>&1 &
  echo $! > "$DIR/pid$n"
done
g() { "$G" -c "$DIR/cfg1.toml" "$@"; }
# Wait for node 1, connect the others to it, give all three a role.
for _ in $(seq 100); do g status >/dev/null 2>&1 && break; sleep 0.2; done
for n in 2 3; do
  for _ in $(seq 100); do
    g node connect "$("$G" -c "$DIR/cfg$n.toml" node id -q)" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
for _ in $(seq 100); do
  [ "$(g status 2>/dev/null | grep -c 'NO ROLE')" = 3 ] && break; sleep 0.2
done
for id in $(g status | awk '/NO ROLE/ {print $1}'); do
  g layout assign "$id" -z dc1 -c 1G >/dev/null
done
g layout apply --version 1 >/dev/null
g bucket create pix >/dev/null
g key create pixkey > "$DIR/key.txt"
KID=$(awk '/Key ID/ {print $3}' "$DIR/key.txt")
SEC=$(awk '/Secret key/ {print $3}' "$DIR/key.txt")
g bucket allow pix --read --write --owner --key "$KID" >/dev/null
cat > "$DIR/env" <<ENV
S3_ENDPOINT=http://127.0.0.1:$((BASE + 11))
S3_BUCKET=pix
S3_REGION=garage
AWS_ACCESS_KEY_ID=$KID
AWS_SECRET_ACCESS_KEY=$SEC
GARAGE_PID_1=$(cat "$DIR/pid1")
GARAGE_PID_2=$(cat "$DIR/pid2")
GARAGE_PID_3=$(cat "$DIR/pid3")
ENV
echo "garage cluster up: $DIR/env"
