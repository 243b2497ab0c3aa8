#!/usr/bin/env bash
# Linearizability of the key/value API under kills, pauses and restarts (issue 10):
# `cargo xtask bench-lin` on 3- and 5-node clusters of release-built agents on loopback,
# several seeds each, checked by e2e::linearizability (Wing & Gong with memoisation).
#
#   bench/linearizability.sh                 3 and 5 nodes, seeds 1 2 3, 120 s each
#   NODES=3 SEEDS="7" DUR=30 bench/linearizability.sh
# Environment: NODES, SEEDS, DUR (s per run), CLIENTS, KEYS; CARGO_TARGET_DIR is honoured.
# The Markdown report goes to stdout and to bench/results/linearizability-<date>-<time>.md;
# the script fails if any run found an anomaly.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked -p encluster -p xtask
# Private copies: other checkouts sharing the target directory overwrite it.
bin_dir="$(mktemp -d)"
trap 'rm -rf "$bin_dir"' EXIT
cp "$target/release/encluster" "$target/release/xtask" "$bin_dir/"
mkdir -p bench/results
out="bench/results/linearizability-$(date -u +%Y-%m-%d-%H%M).md"
ENCLUSTER_BIN="$bin_dir/encluster" "$bin_dir/xtask" bench-lin | tee "$out"
