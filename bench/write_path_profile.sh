#!/usr/bin/env bash
# Where a single client's durable write spends its time (issue 10, point 8): a 3-node
# release cluster on loopback, one kept-alive HTTPS connection (curl), sequential requests.
#
#   bench/write_path_profile.sh [N]      N requests per kind (default 2000)
# Needs a release build (ENCLUSTER_BIN, default $CARGO_TARGET_DIR/release/encluster), curl,
# strace and python3. Prints per-request latency (p50, p90, p99 in ms) of:
#   stale GET on the master       HTTPS request, token check, handler (no Raft)
#   linearizable GET on master    + ReadIndex: one heartbeat round to a quorum
#   PUT on the master             + append, replicate, two fsyncs in sequence, apply
#   PUT on a follower             + forwarding to the master's API (a second HTTPS hop)
# then the write-related system calls per write on the master and a follower with their
# wall-clock time per call (strace -c -w),
# and the cost of one 4 KiB write + fdatasync on this filesystem.
set -euo pipefail
n="${1:-2000}"
target="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}"
bin="${ENCLUSTER_BIN:-$target/release/encluster}"
dir="$(mktemp -d /tmp/write-profile.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
base=127.0.77.1
"$bin" init --cluster-name prof --local 3 --voters-max 5 --base-ip "$base" --dir "$dir/c" > "$dir/init.txt"
token="$(sed -n 's/^admin token:[[:space:]]*//p' "$dir/init.txt")"
for i in 1 2 3; do
    ENCLUSTER_LOG=warn "$bin" agent --config "$dir/c/node$i/encluster.toml" > "$dir/node$i.log" 2>&1 &
    pids+=("$!")
done
ca="$dir/c/ca.pem"
api() { echo "https://127.0.77.$1:7511"; }
master=""
for _ in $(seq 1 200); do
    master="$(curl -s --cacert "$ca" "$(api 1)/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("master") or "")' 2>/dev/null || true)"
    if [ -n "$master" ] && curl -sf --cacert "$ca" -H "Authorization: Bearer $token" "$(api 1)/v1/status" > /dev/null; then break; fi
    sleep 0.1
done
[ -n "$master" ] || { echo "no master" >&2; exit 1; }
follower=$(( master % 3 + 1 ))
value="$(head -c 256 /dev/zero | tr '\0' v)"
# One curl process, one kept-alive connection, n sequential requests; prints p50/p90/p99.
run() {
    local what="$1" method="$2" node="$3" path="$4"
    local urls=()
    for i in $(seq 1 "$n"); do urls+=("$(api "$node")$path$i$5"); done
    local args=(-s --cacert "$ca" -H "Authorization: Bearer $token" -w '\nTIME %{time_total}\n')
    if [ "$method" = PUT ]; then args+=(-X PUT --data-binary "$value"); fi
    curl "${args[@]}" "${urls[@]}" | python3 -c '
import sys
xs = sorted(float(l.split()[1]) * 1000 for l in sys.stdin if l.startswith("TIME "))
p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
print(f"| '"$what"' | {len(xs)} | {p(0.5):.2f} | {p(0.9):.2f} | {p(0.99):.2f} |")'
}
echo "master: node $master, follower measured: node $follower, $n requests per kind"
echo
echo "| request | n | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|---|"
run "PUT on the master (warm-up, keys w1..)" PUT "$master" /v1/kv/w ""
run "stale GET on the master" GET "$master" /v1/kv/w "?consistency=stale"
run "linearizable GET on the master" GET "$master" /v1/kv/w "?consistency=linearizable"
run "PUT on the master" PUT "$master" /v1/kv/m ""
run "PUT on a follower (forwarded)" PUT "$follower" /v1/kv/f ""
echo
for node in "$master" "$follower"; do
    pid="${pids[$((node - 1))]}"
    strace -f -c -w -e trace=fsync,fdatasync,sync_file_range,pwrite64,write,sendto,sendmsg,writev \
        -p "$pid" -o "$dir/strace$node.txt" &
    spid=$!
    sleep 1
    run "PUT on the master while strace watches node $node" PUT "$master" /v1/kv/s$node- "" > /dev/null
    kill -INT "$spid"; wait "$spid" 2>/dev/null || true
    echo "system calls on node $node ($([ "$node" = "$master" ] && echo master || echo follower)) for $n PUTs:"
    awk -v n="$n" '$NF ~ /^(fsync|fdatasync|sync_file_range|pwrite64|write|sendto|sendmsg|writev)$/ && $4 ~ /^[0-9]+$/ {
        printf "  %-16s %8d calls  %6.2f per write  %8.1f us per call\n", $NF, $4, $4 / n, $3 }' "$dir/strace$node.txt"
done
echo
python3 - "$dir/c/node$master" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
samples = []
for i in range(500):
    os.pwrite(fd, b"x" * 4096, (i % 64) * 4096)
    t = time.perf_counter(); os.fdatasync(fd); samples.append((time.perf_counter() - t) * 1000)
os.close(fd); os.unlink(path)
samples.sort()
print(f"4 KiB pwrite + fdatasync on this filesystem: p50 {samples[250]:.2f} ms, p90 {samples[450]:.2f} ms (500 samples)")
PY
