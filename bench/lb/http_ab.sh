#!/usr/bin/env bash
# bench/lb/http_ab.sh -- A/B of two lbbench builds against HAProxy, HTTP and TCP mode, keep-alive.
#
# Same backends, HAProxy config and pinning as lb_bench.sh layout A (wrk on CPU 0; three nginx
# backends, HAProxy and both lbbench binaries on CPU 1), but with two encluster binaries side by
# side so that a change can be compared with its base in the same session:
#     hap_http  HAProxy mode http (:18091)        hap_tcp  HAProxy mode tcp (:18090)
#     a_http    LBBENCH_A, protocol http (:18096)  a_tcp    LBBENCH_A, protocol tcp, copy (:18097)
#     b_http    LBBENCH_B, protocol http (:18098)  b_tcp    LBBENCH_B, protocol tcp, copy (:18099)
# Each round runs every case once (2 s warm-up, then wrk -t1 -c$CONNS -d$DUR --latency), in an
# order rotated by one per round; prints one line per run and medians at the end. Next to wrk's
# figures it records the proxy's own CPU time per request (from /proc/PID/schedstat), which is
# far less disturbed by other load on the host than requests/s.
#
# With CLOSE=1 every request carries "Connection: close", so each one costs a new connection.
#
#   LBBENCH_A=/tmp/lbbench-before LBBENCH_B=target-lb/release/examples/lbbench \
#       ROUNDS=5 DUR=5s bench/lb/http_ab.sh
set -euo pipefail

HERE=${PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}
# shellcheck source=/dev/null
source "$HERE/lib.sh"
LBBENCH_A=${LBBENCH_A:?path of the base lbbench}
LBBENCH_B=${LBBENCH_B:?path of the changed lbbench}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5s}
CONNS=${CONNS:-50}
CASES=${CASES:-"hap_http a_http b_http hap_tcp a_tcp b_tcp"}
PATH_=${URL_PATH:-/hello.txt}
WRK_HEADERS=()
[[ ${CLOSE:-0} == 1 ]] && WRK_HEADERS=(-H "Connection: close")
BACKEND_PORTS=(18081 18082 18083)

SCRATCH=$(mktemp -d)
chmod 755 "$SCRATCH"
mkdir -p "$SCRATCH"/{run,log,spool,www,conf}
cleanup() { stop_all; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
printf 'hello\n' >"$SCRATCH/www/hello.txt"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$SCRATCH/www/big.bin"
chmod -R a+rX "$SCRATCH/www"

servers=""
i=1
for p in "${BACKEND_PORTS[@]}"; do servers+="    server b$i 127.0.0.1:$p"$'\n'; i=$((i + 1)); done
render() {
    python3 - "$1" "$2" "$SCRATCH" "${3:-}" "$servers" <<'PY'
import sys
tpl, out, root, port, servers = sys.argv[1:6]
s = open(tpl).read().replace("@ROOT@", root).replace("@PORT@", port)
open(out, "w").write(s.replace("@SERVERS@", servers.rstrip("\n")))
PY
}
for p in "${BACKEND_PORTS[@]}"; do render "$HERE/conf/backend-nginx.conf.in" "$SCRATCH/conf/backend-$p.conf" "$p"; done
render "$HERE/conf/haproxy.cfg.in" "$SCRATCH/conf/haproxy.cfg"
enc_config() {  # enc_config OUT HTTP_PORT TCP_PORT
    local out=$1 spec name port proto p i
    : >"$out"
    for spec in "http:$2:http" "tcp:$3:tcp"; do
        IFS=: read -r name port proto <<<"$spec"
        printf '[[services]]\nname = "%s"\nlisten = "127.0.0.1:%s"\nprotocol = "%s"\nalgorithm = "round_robin"\n' \
            "$name" "$port" "$proto" >>"$out"
        printf '[services.health]\nkind = { type = "tcp" }\ninterval = "2s"\ntimeout = "1s"\nrise = 2\nfall = 3\n' >>"$out"
        i=1
        for p in "${BACKEND_PORTS[@]}"; do
            printf '[[services.servers]]\nname = "b%d"\naddr = "127.0.0.1:%s"\n' "$i" "$p" >>"$out"
            i=$((i + 1))
        done
    done
}
enc_config "$SCRATCH/conf/a.toml" 18096 18097
enc_config "$SCRATCH/conf/b.toml" 18098 18099

for p in "${BACKEND_PORTS[@]}"; do
    start_bg "$SCRATCH/log/backend-$p.out" taskset -c 1 nginx -c "$SCRATCH/conf/backend-$p.conf"
done
start_bg "$SCRATCH/log/haproxy.out" taskset -c 1 haproxy -db -f "$SCRATCH/conf/haproxy.cfg"
HAP_PID=$LAST_PID
start_bg "$SCRATCH/log/a.out" taskset -c 1 "$LBBENCH_A" --config "$SCRATCH/conf/a.toml" --relay copy
A_PID=$LAST_PID
start_bg "$SCRATCH/log/b.out" taskset -c 1 "$LBBENCH_B" --config "$SCRATCH/conf/b.toml" --relay copy
B_PID=$LAST_PID
declare -A PID=([hap_tcp]=$HAP_PID [hap_http]=$HAP_PID [a_http]=$A_PID [a_tcp]=$A_PID [b_http]=$B_PID [b_tcp]=$B_PID)
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }  # time on CPU of the process's main thread
declare -A PORT=([hap_tcp]=18090 [hap_http]=18091 [a_http]=18096 [a_tcp]=18097 [b_http]=18098 [b_tcp]=18099)
for port in "${BACKEND_PORTS[@]}" 18090 18091 18096 18097 18098 18099; do
    wait_port "$port" || { tail -n 5 "$SCRATCH"/log/* >&2; exit 1; }
done
for c in $CASES; do
    body=$(curl -sf "http://127.0.0.1:${PORT[$c]}/hello.txt")
    [[ $body == hello ]] || { echo "$c did not serve hello.txt" >&2; exit 1; }
done

cases=($CASES)
n=${#cases[@]}
RESULTS=$SCRATCH/results.txt
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        c=${cases[$(((k + r - 1) % n))]}
        url="http://127.0.0.1:${PORT[$c]}$PATH_"
        taskset -c 0 wrk -t1 -c"$CONNS" -d2s "${WRK_HEADERS[@]}" "$url" >/dev/null
        cpu0=$(cpu_ns "${PID[$c]}")
        out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DUR" --latency "${WRK_HEADERS[@]}" "$url")
        cpu1=$(cpu_ns "${PID[$c]}")
        rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
        reqs=$(awk '/requests in/{print $1}' <<<"$out")
        us_per_req=$(python3 -c "import sys; print('%.2f' % ((int(sys.argv[2]) - int(sys.argv[1])) / 1000 / int(sys.argv[3])))" "$cpu0" "$cpu1" "$reqs")
        p50=$(awk '$1=="50%"{print $2}' <<<"$out")
        p99=$(awk '$1=="99%"{print $2}' <<<"$out")
        errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
        printf 'round %d %-9s req/s %9s p50 %8s p99 %8s cpu_us/req %6s %s\n' "$r" "$c" "$rps" "$p50" "$p99" "$us_per_req" "$errs" | tee -a "$RESULTS"
    done
done
python3 - "$RESULTS" <<'PY'
import re, statistics, sys
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[2], {}).setdefault(int(f[1]), (float(f[4]), ms(f[8]), float(f[10])))
def paired(by_round, base, i):
    if base not in rows:
        return ""
    pairs = [by_round[r][i] / rows[base][r][i] for r in by_round if r in rows[base]]
    return "%.3f" % statistics.median(pairs)
print("\n| case | req/s median (min-max) | p99 ms median (min-max) | proxy CPU us/req median (min-max) | req/s vs HAProxy, paired median | CPU/req vs HAProxy, paired median |")
print("|---|---|---|---|---|---|")
for case, by_round in rows.items():
    rps = [v[0] for v in by_round.values()]; p99 = [v[1] for v in by_round.values()]; cpu = [v[2] for v in by_round.values()]
    base = "hap_tcp" if case.endswith("_tcp") else "hap_http"
    print("| %s | %.0f (%.0f-%.0f) | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %s | %s |" % (case, statistics.median(rps), min(rps), max(rps),
          statistics.median(p99), min(p99), max(p99), statistics.median(cpu), min(cpu), max(cpu),
          paired(by_round, base, 0), paired(by_round, base, 2)))
PY
