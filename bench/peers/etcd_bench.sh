#!/usr/bin/env bash
# bench/peers/etcd_bench.sh -- Raft anchor numbers: a 3-member etcd 3.4 (Debian) cluster on
# loopback, write throughput/latency and leader-failover time.
#
# For each timing profile in PROFILES ("election-timeout-ms/heartbeat-ms", default
# "1000/100 300/50") a fresh cluster is started (new data dirs in a mktemp scratch dir):
#   members m1..m3: client 127.0.0.1:2379{1,2,3}, peer 127.0.0.1:2380{1,2,3}; other flags default
#   (pre-vote off, snapshot-count 100000, GOMAXPROCS = all cores); etcd is NOT pinned.
#   1. disk anchor: 4 KiB write + fdatasync x2000 in the scratch dir  (etcd_metrics.py fsync)
#   2. etcdctl check perf --load L for L in CHECK_LOADS (default "s m l"; 60 s each; open-loop,
#      rate-limited 150 / 1000 / 8000 puts/s from 50 / 200 / 500 clients, 256 B keys, 1 KiB values)
#   3. one-shot CLI round trip: hyperfine on `etcdctl put` / `etcdctl get` (process start + dial)
#   4. closed-loop put benchmark (etcd_put_bench.py, 256 B values) for CLIENTS (default "1 16 64")
#      x targets {all members, leader only}, ROUNDS (3) interleaved rounds of DUR (10) s each
#   5. WAL fsync / backend commit histograms scraped from the leader's /metrics
#   6. TRIALS (5) failover trials: etcd_failover.py SIGKILLs the current leader (a pid this script
#      started) and measures how long puts are unavailable; the killed member is then restarted
#      with its data dir and the cluster is left to settle before the next trial.
# Shared-host guard (bench/peers/cpu_guard.py): runs of 2., 4. and 6. start only when other
# processes use < 10 % of a core; a run during which they used > MAX_FOREIGN (15) % of a core is
# repeated (max 3 tries; failover: up to TRIALS+5 attempts to get TRIALS undisturbed ones). The
# foreign CPU % is printed with every result.
# Summarize a saved log with: python3 bench/peers/etcd_summarize.py LOGFILE
#
# Run (as root, so missing Debian packages can be installed):
#   bench/peers/etcd_bench.sh
#   PROFILES=300/50 CHECK_LOADS=s CLIENTS="16" ROUNDS=1 TRIALS=2 bench/peers/etcd_bench.sh   # quick
# Output: human-readable log on stdout; JSON lines from the Python helpers are prefixed "RESULT".
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PROFILES=${PROFILES:-"1000/100 300/50"}
CHECK_LOADS=${CHECK_LOADS-"s m l"}
CLIENTS=${CLIENTS:-"1 16 64"}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10}
TRIALS=${TRIALS:-5}
QUIET_WAIT=${QUIET_WAIT:-600}   # max seconds to wait for other processes to go quiet before a run

ensure_pkgs etcd-server etcd-client hyperfine python3 procps

SCRATCH=$(mktemp -d)
cleanup() { stop_all; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

GUARD="python3 $HERE/cpu_guard.py"
MET="python3 $HERE/etcd_metrics.py"
EPS="127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793"
CLUSTER="m1=http://127.0.0.1:23801,m2=http://127.0.0.1:23802,m3=http://127.0.0.1:23803"
declare -A MPID
MAX_FOREIGN=${MAX_FOREIGN:-15}   # a run during which other processes used more than this % of a core is repeated
over() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$1" "$MAX_FOREIGN"; }

start_member() {  # start_member I ET HB DATADIR_ROOT
    local i=$1 et=$2 hb=$3 root=$4
    start_bg "$root/m$i.log" etcd --name "m$i" --data-dir "$root/m$i.etcd" \
        --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
        --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
        --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "bench-$et-$hb" \
        --election-timeout "$et" --heartbeat-interval "$hb" \
        --logger zap --log-outputs stderr --log-level warn
    MPID[$i]=$LAST_PID
}

wait_healthy() {  # all 3 members healthy and a put succeeds, within 60 s
    local i
    for ((i = 0; i < 600; i++)); do
        if etcdctl --endpoints="$EPS" --dial-timeout=1s --command-timeout=2s endpoint health >/dev/null 2>&1 &&
            etcdctl --endpoints="$EPS" --command-timeout=2s put bench/health ok >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "cluster not healthy" >&2
    etcdctl --endpoints="$EPS" endpoint health >&2 || true
    return 1
}

for prof in $PROFILES; do
    ET=${prof%/*} HB=${prof#*/}
    ROOT="$SCRATCH/p$ET-$HB"
    mkdir -p "$ROOT"
    echo "=================== profile election-timeout=${ET}ms heartbeat=${HB}ms"
    for i in 1 2 3; do start_member "$i" "$ET" "$HB" "$ROOT"; done
    echo "members: m1 pid ${MPID[1]}, m2 pid ${MPID[2]}, m3 pid ${MPID[3]}"
    wait_healthy
    etcdctl --endpoints="$EPS" endpoint status -w table

    echo "--- disk anchor (scratch dir filesystem)"
    $MET fsync "$ROOT" 2000

    for load in $CHECK_LOADS; do
        for ((try = 1; try <= 3; try++)); do
            echo "--- etcdctl check perf --load $load   ($(date +%T), try $try)"
            $GUARD wait-quiet $$ 10 "$QUIET_WAIT"
            $GUARD snap $$ "$SCRATCH/g1.json"
            etcdctl --endpoints="$EPS" check perf --load "$load" 2>&1 | tr '\r' '\n' | grep -E 'PASS|FAIL|writes|Slowest|Stddev|ERROR' || true
            $GUARD snap $$ "$SCRATCH/g2.json"
            f=$($GUARD foreign $$ "$SCRATCH/g1.json" "$SCRATCH/g2.json")
            echo "foreign CPU during run: $f % of one core"
            etcdctl --endpoints="$EPS" del --prefix /etcdctl-check-perf/ >/dev/null || true
            over "$f" || break
        done
    done

    echo "--- one-shot CLI round trip (hyperfine; includes etcdctl process start + gRPC dial)"
    $GUARD wait-quiet $$ 10 "$QUIET_WAIT"
    hyperfine -N --warmup 5 --runs 100 --style basic \
        "etcdctl --endpoints=$EPS put bench/cli hello" "etcdctl --endpoints=$EPS get bench/cli" 2>&1 |
        grep -E 'Benchmark|Time|Range' || true

    echo "--- closed-loop puts (etcd_put_bench.py), $ROUNDS rounds x ($CLIENTS clients) x {all,leader}, ${DUR}s each"
    for ((r = 1; r <= ROUNDS; r++)); do
        for c in $CLIENTS; do
            for tgt in all leader; do
                for ((try = 1; try <= 3; try++)); do
                    if [[ $tgt == leader ]]; then eps=$($MET leader "$EPS"); else eps=$EPS; fi
                    q=$($GUARD wait-quiet $$ 10 "$QUIET_WAIT")
                    $GUARD snap $$ "$SCRATCH/g1.json"
                    res=$(python3 "$HERE/etcd_put_bench.py" --endpoints "$eps" --clients "$c" --duration "$DUR" \
                        --label "et=$ET/hb=$HB round=$r target=$tgt")
                    $GUARD snap $$ "$SCRATCH/g2.json"
                    f=$($GUARD foreign $$ "$SCRATCH/g1.json" "$SCRATCH/g2.json")
                    echo "RESULT put ${res%\}}, \"foreign_cpu_pct\": $f, \"try\": $try, \"pre\": \"$q\"}"
                    over "$f" || break
                done
            done
        done
    done
    etcdctl --endpoints="$EPS" compact "$(etcdctl --endpoints="$EPS" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')" >/dev/null || true

    echo "--- leader's disk histograms after the put benchmarks"
    $MET hist "$($MET leader "$EPS")" etcd_disk_wal_fsync_duration_seconds etcd_disk_backend_commit_duration_seconds

    echo "--- failover: $TRIALS undisturbed trials wanted (max $((TRIALS + 5)) attempts), SIGKILL the leader"
    clean=0
    for ((t = 1; t <= TRIALS + 5 && clean < TRIALS; t++)); do
        wait_healthy
        sleep 2
        $GUARD wait-quiet $$ 10 "$QUIET_WAIT" >/dev/null
        $GUARD snap $$ "$SCRATCH/g1.json"
        res=$(python3 "$HERE/etcd_failover.py" --endpoints "$EPS" --pids "${MPID[1]},${MPID[2]},${MPID[3]}" \
            --label "et=$ET/hb=$HB trial=$t")
        $GUARD snap $$ "$SCRATCH/g2.json"
        f=$($GUARD foreign $$ "$SCRATCH/g1.json" "$SCRATCH/g2.json")
        echo "RESULT failover ${res%\}}, \"foreign_cpu_pct\": $f}"
        over "$f" || clean=$((clean + 1))
        killed=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["killed"][-1])' "$res")
        stop_pid "${MPID[$killed]}" 2>/dev/null   # reap the SIGKILLed member
        start_member "$killed" "$ET" "$HB" "$ROOT"
        echo "restarted m$killed as pid ${MPID[$killed]}"
    done
    wait_healthy
    for i in 1 2 3; do stop_pid "${MPID[$i]}"; done
done
echo "done; etcd $(etcd --version | head -1 | awk '{print $3}'), $(nproc) CPUs"
