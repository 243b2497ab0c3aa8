#!/usr/bin/env bash
# The chat group's client-visible gap for a manual move and a node crash (issue 12,
# point 8): bench/chat_gap.py on a local 3-node cluster, RUNS runs of each. Loopback VIP
# (the namespace test bed is not used); the debug build, or the agent ENCLUSTER_BIN names.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build -p encluster
exec python3 bench/chat_gap.py "${ENCLUSTER_BIN:-$TARGET/debug/encluster}" "$RUNS"
