#!/usr/bin/env bash
# The monitor's cost (issue 13, point 9): 500 series sampled once a (simulated) second
# for an hour into real files, then one-hour range queries at a 1 s step. Runs the
# release build of crates/monitor/examples/cost.rs three times.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p monitor --example cost
for run in 1 2 3; do
    echo "== run $run"
    target/release/examples/cost
done
