#!/usr/bin/env bash
# The application protocol's cost (issue 12, point 8): round trips (`ping`) and 1 KiB
# checkpoint writes (through Raft, fenced) as the Rust SDK sees them, from an instance
# started by a local 3-node cluster. RUNS runs of COUNT each, with the instance on the
# master and on a follower. Uses the debug build, or the agent ENCLUSTER_BIN names (the
# SDK driver stays the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
COUNT=${COUNT:-1000}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build -p encluster -p e2e --bins
BIN="${ENCLUSTER_BIN:-$TARGET/debug/encluster}"
DRIVER="$(cd "$TARGET/debug" && pwd)/app_conformance"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
"$BIN" init --local 3 --base-ip 127.0.12.1 --dir "$work/c" >/dev/null
for i in 1 2 3; do
    "$BIN" agent --config "$work/c/node$i/encluster.toml" >"$work/agent$i.log" 2>&1 &
    pids+=($!)
done
export ENCLUSTER_CLI_CONFIG="$work/c/cli.toml"
until "$BIN" node list --json 2>/dev/null | grep -q '"is_master": true'; do sleep 0.2; done
master=$("$BIN" node list --json | python3 -c \
    'import json,sys; print(next(n["id"] for n in json.load(sys.stdin) if n["is_master"]))')
follower=$(( master % 3 + 1 ))
env="CONFORMANCE_SCENARIOS=$PWD/clients/conformance/scenarios.json;CONFORMANCE_CLIENT=rust"
"$BIN" resource create bench --type process --param command="$DRIVER" \
    --param env="$env;CONFORMANCE_COMMAND=$DRIVER" >/dev/null
# One run: the command in the instance's control file, then its two BENCH lines; an
# instance restarted meanwhile (a lost lease on a loaded machine) loses the run, which is
# tried again (at most 3 times).
bench_run() {
    local dir=$1 attempt
    for attempt in 1 2 3; do
        until grep -q '^CONFORMANCE-DONE' "$dir/process.log" 2>/dev/null; do sleep 0.2; done
        local log_before
        log_before=$(grep -c '^BENCH-DONE' "$dir/process.log" || true)
        echo "bench $COUNT" >"$dir/app-control.tmp" && mv "$dir/app-control.tmp" "$dir/app-control"
        for _ in $(seq 600); do
            if [ "$(grep -c '^BENCH-DONE' "$dir/process.log" || true)" -gt "$log_before" ]; then
                grep '^BENCH ' "$dir/process.log" | tail -2
                return 0
            fi
            sleep 0.2
        done
        echo "attempt $attempt: no answer in 120 s (instance restarted?)" >&2
    done
    return 1
}
for where in master follower; do
    node=${!where}
    "$BIN" resource move bench --to "$node" --wait >/dev/null
    dir="$work/c/node$node/data/resources/bench"
    for run in $(seq "$RUNS"); do
        bench_run "$dir" | sed "s/^/$where run $run: /"
    done
done
