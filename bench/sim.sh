#!/usr/bin/env bash
# Simulation sweep (issue 10): thousands of seeds of the deterministic cluster simulator,
# each a whole cluster through 10 simulated seconds of faults and operator actions and
# 20 of quiet; prints seeds per second and the count run, and every failing seed with
# how to replay it (`cargo run -p sim -- --seed N --trace`).
#
#   bench/sim.sh                 2000 seeds from 0
#   SEEDS=10000 FROM=5000 bench/sim.sh
# Environment: SEEDS, FROM, CHAOS_MS, QUIESCE_MS, PROFILE (release by default).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
cargo build --profile "$profile" -p sim
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
target="${CARGO_TARGET_DIR:-target}"
mkdir -p bench/results
out="bench/results/sim-$(date -u +%Y-%m-%d).txt"
"$target/$dir/sim" --seeds "${SEEDS:-2000}" --from "${FROM:-0}" --keep-going \
    --chaos-ms "${CHAOS_MS:-10000}" --quiesce-ms "${QUIESCE_MS:-20000}" 2>&1 \
    | grep -E "^simulation seed|seeds" | tee "$out"
