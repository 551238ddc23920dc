#!/usr/bin/env bash
# The S3 backend against a real 3-node Garage 2.5.0 cluster on loopback:
# starts the cluster (cluster.sh), runs the shared blob-store tests against
# it (the #[ignore]d S3 ones included), then drives the release binary with
# --storage s3://… beside an fs one (garage.py), runs backup, repair,
# restore and adopt on the bucket (ops.py), migrates 1,000 images to
# the bucket and back (migrate.py) and kills pixbin 20 times during uploads
# to it (crash_harness.py --storage). The cluster is torn down
# at the end whatever happens.
#
#   tests/s3/run.sh            (needs target/release/pixbin and Garage)
#   GARAGE=/path/to/garage PIXBIN_BIN=/path/to/pixbin tests/s3/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/s3
work=$(mktemp -d "${TMPDIR:-/tmp}/pixbin-garage-XXXXXX")
cleanup() {
  "$here/cluster.sh" "$work" stop || true
  if [ "${KEEP_GARAGE_LOGS:-}" = "" ]; then rm -rf "$work"; else echo "garage logs kept in $work"; fi
}
trap cleanup EXIT
"$here/cluster.sh" "$work"
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a

echo "==> shared blob-store tests on Garage"
PIXBIN_TEST_S3="s3://$S3_BUCKET/unit-$(date +%s)" \
PIXBIN_S3_ENDPOINT="$S3_ENDPOINT" PIXBIN_S3_REGION="$S3_REGION" \
  cargo test --locked --lib store::blobs -- --include-ignored

echo "==> pixbin serve --storage s3:// beside an fs server"
# Its data directories go inside $work, so they go with the cluster.
TMPDIR="$work" python3 "$here/garage.py" "$work/env"

echo "==> backup, repair, restore, adopt on Garage; migrate-storage of 1,000 images fs -> Garage -> fs; 20 kill -9 cycles"
TMPDIR="$work" python3 "$here/ops.py" "$work/env"
TMPDIR="$work" python3 "$here/migrate.py" "$work/env"
PIXBIN_S3_ENDPOINT="$S3_ENDPOINT" PIXBIN_S3_REGION="$S3_REGION" PIXBIN_S3_PATH_STYLE=true TMPDIR="$work" \
  python3 tests/crash_harness.py --binary "${PIXBIN_BIN:-target/release/pixbin}" --cycles 20 --max-side 300 --storage "s3://$S3_BUCKET/crash-$(date +%s)"
