#!/usr/bin/env bash
# Alert delivery latency (issue 13, point 9): from an event to the webhook that receives
# it, on a three-node loopback cluster, TRIALS alerts one after another per run, three runs.
# Uses the debug build (the machine is shared; see bench/RESULTS.md for the conditions).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build -p encluster -p xtask
for run in 1 2 3; do
    echo "== run $run"
    ENCLUSTER_BIN="$target/debug/encluster" TRIALS="${TRIALS:-100}" "$target/debug/xtask" bench-alerts
done
