#!/usr/bin/env bash
# What monitoring costs a running agent (issue 13, point 9): a 3-node cluster on loopback
# (127.0.13.1-3) of the release build, idle, its agents' CPU time read from /proc/PID/stat
# over SECS seconds (default 60) with monitoring on (samplers, archives, remote monitors,
# the defaults), then with `monitoring = false`, ROUNDS times (default 2), alternating.
# Prints each agent's share of one core per phase and its resident memory (VmRSS) at the
# phase's end.
#
#   cargo build --release -p encluster && bench/monitor_agent_cpu.sh
# ENCLUSTER_BIN overrides the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${ENCLUSTER_BIN:-target/release/encluster}"
SECS="${SECS:-60}"
ROUNDS="${ROUNDS:-2}"
tick="$(getconf CLK_TCK)"
dir="$(mktemp -d)"
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$dir"' EXIT

ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# One phase: start the three agents of $1 (on|off), let them settle, measure, stop them.
phase() {
    local mode="$1" cluster="$dir/$1"
    if [ ! -d "$cluster" ]; then
        "$bin" init --local 3 --base-ip 127.0.13.1 --cluster-name cpu --dir "$cluster" >/dev/null
        if [ "$mode" = off ]; then
            for i in 1 2 3; do
                config="$cluster/node$i/encluster.toml"
                { echo "monitoring = false"; cat "$config"; } >"$config.new"
                mv "$config.new" "$config"
            done
        fi
    fi
    for i in 1 2 3; do
        "$bin" agent --config "$cluster/node$i/encluster.toml" >>"$cluster/node$i.log" 2>&1 &
        pids+=("$!")
    done
    sleep 15 # settle: elect a master, first samples, first remote probes
    local before=() after=() total=0
    for pid in "${pids[@]}"; do before+=("$(ticks "$pid")"); done
    sleep "$SECS"
    for pid in "${pids[@]}"; do after+=("$(ticks "$pid")"); done
    local shares=""
    for n in 0 1 2; do
        share=$(awk -v a="${after[$n]}" -v b="${before[$n]}" -v t="$tick" -v s="$SECS" \
            'BEGIN { printf "%.2f", 100 * (a - b) / t / s }')
        shares="$shares $share"
        total=$(awk -v x="$total" -v y="$share" 'BEGIN { printf "%.2f", x + y }')
    done
    echo "monitoring $mode: agents' share of one core over ${SECS} s:$shares (mean $(awk -v x="$total" 'BEGIN { printf "%.2f", x / 3 }') %)"
    local rss=""
    for pid in "${pids[@]}"; do
        rss="$rss $(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")"
    done
    echo "monitoring $mode: agents' RSS in MiB at the end:$rss"
    stop_all
}

echo "machine: $(nproc) cores; binary: $bin"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    phase on
    phase off
done
