#!/usr/bin/env bash
# Alert delivery latency (issue 13, point 9): from an event to the webhook that receives
# it, on a three-node loopback cluster of the release build, TRIALS alerts one after
# another per run. Each of the three rounds runs the webhook alone, then beside three
# hostile recipients (BAD=1: a hanging agent, a flooding agent, a silent webhook), and
# prints the master's worst loop lag and the node health changes of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p encluster -p xtask
for round in 1 2 3; do
    for bad in 0 1; do
        echo "== round $round, hostile recipients: $bad"
        BAD="$bad" ENCLUSTER_BIN="${ENCLUSTER_BIN:-$target/release/encluster}" \
            TRIALS="${TRIALS:-100}" "$target/release/xtask" bench-alerts
    done
done
