#!/usr/bin/env bash
# Cluster-core benchmarks (issue 2): encluster and etcd side by side on this machine in
# one run, with the same Rust load generator (`cargo xtask bench-core`). Needs root the
# first time, to install Debian's etcd.
#
#   bench/cluster_core.sh            full run (about 15 minutes)
#   bench/cluster_core.sh --quick    a smoke run
# Environment: CLIENTS="1 16 64", DUR=10 (s per write run), ROUNDS=3, TRIALS=12, SECTIONS,
# ETCD_TLS=1 (etcd's clients and peers over TLS, as encluster's always are).
# The Markdown report goes to stdout and to bench/results/cluster-core-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/peers/lib.sh 2>/dev/null || ensure_pkgs() {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
ensure_pkgs etcd-server etcd-client
cargo build --release --locked -p encluster -p xtask
# Private copies of the binaries: other checkouts sharing CARGO_TARGET_DIR overwrite them.
target="${CARGO_TARGET_DIR:-$PWD/target}"
bin_dir="$(mktemp -d)"
trap 'rm -rf "$bin_dir"' EXIT
cp "$target/release/encluster" "$target/release/xtask" "$bin_dir/"
mkdir -p bench/results
out="bench/results/cluster-core-$(date -u +%Y-%m-%d).md"
ENCLUSTER_BIN="$bin_dir/encluster" "$bin_dir/xtask" bench-core "$@" | tee "$out"
