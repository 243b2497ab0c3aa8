#!/usr/bin/env bash
# bench/peers/lb_bench.sh -- data-plane anchor numbers: L4/L7 proxies vs direct, on loopback only.
#
# What it measures (every socket is on 127.0.0.1):
#   Small requests: wrk -t1 -c$CONNS -d$DUR --latency  GET /hello.txt (6-byte static body), for
#     direct      one nginx backend (127.0.0.1:18081), no proxy
#     hap_tcp     HAProxy 2.6 "mode tcp",  roundrobin over 3 nginx backends    (:18090)
#     hap_http    HAProxy 2.6 "mode http", roundrobin over 3 nginx backends    (:18091)
#     ngx_stream  nginx 1.22 stream{} TCP proxy (libnginx-mod-stream)         (:18092)
#     ngx_http    nginx 1.22 http proxy_pass, upstream keepalive 64            (:18093)
#   group "ka"    : client keep-alive (wrk default)
#   group "close" : wrk -H 'Connection: close' (one TCP connection per request)
#   group "bulk1"/"bulk4": GET /big.bin (10 MiB) with 1 / 4 connections, MB/s, for
#     direct, hap_tcp, hap_splice (HAProxy mode tcp + option splice-auto, :18094), ngx_stream
#   Output: requests/s, latency p50/p99 (wrk's), MB/s, per-core busy % during each run.
#
# Method: every round runs each case of a group once (after a 2 s warm-up per case), in an order
#   rotated by one position per round (A B C D E, B C D E A, ...), so cases are interleaved and
#   ratios are computed per round (paired) against "direct" of the same round.
#   Shared-host guard (bench/peers/cpu_guard.py): a run starts only once processes outside this
#   script use < QUIET_PCT (10) % of a core, and is repeated (max 3 tries) if they used more than
#   MAX_FOREIGN (15) % of a core during it; the "foreign" % is recorded next to each result.
# Pinning (taskset), for a 2-core machine:
#   LAYOUT=A (default): wrk on CPU 0; the 3 backends and both proxies on CPU 1
#                       (client core vs. server core; the proxy shares the server core)
#   LAYOUT=B          : wrk and the 3 backends on CPU 0; proxies alone on CPU 1
# Configs: bench/peers/conf/{backend-nginx.conf.in,haproxy.cfg.in,proxy-nginx.conf.in}
#
# Run (as root, so missing Debian packages can be installed):
#   bench/peers/lb_bench.sh                                   # ROUNDS=5 DUR=10s CONNS=50, all groups
#   ROUNDS=3 DUR=5s GROUPS_TO_RUN="ka close" bench/peers/lb_bench.sh
#   LAYOUT=B GROUPS_TO_RUN=ka bench/peers/lb_bench.sh
#   KEEP=some/dir bench/peers/lb_bench.sh                     # keep the raw wrk outputs there
# The summary (markdown tables) is printed by bench/peers/lb_summarize.py at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

ROUNDS=${ROUNDS:-5}
DUR=${DUR:-10s}
CONNS=${CONNS:-50}
LAYOUT=${LAYOUT:-A}
GROUPS_TO_RUN=${GROUPS_TO_RUN:-"ka close bulk1 bulk4"}
BACKEND_PORTS=(18081 18082 18083)

ensure_pkgs nginx libnginx-mod-stream haproxy wrk curl python3 procps

case $LAYOUT in
    A) CPU_CLIENT=0 CPU_BACKEND=1 CPU_PROXY=1 ;;
    B) CPU_CLIENT=0 CPU_BACKEND=0 CPU_PROXY=1 ;;
    *) echo "LAYOUT must be A or B" >&2; exit 2 ;;
esac

SCRATCH=$(mktemp -d)
chmod 755 "$SCRATCH"            # nginx workers run as an unprivileged user and must read www/
RAW=${KEEP:-$SCRATCH/raw}
mkdir -p "$SCRATCH"/{run,log,spool,www,conf} "$RAW"
cleanup() { stop_all; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'hello\n' >"$SCRATCH/www/hello.txt"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$SCRATCH/www/big.bin"
chmod -R a+rX "$SCRATCH/www"

# ---- render configs from the templates
servers="" upstreams="" i=1
for p in "${BACKEND_PORTS[@]}"; do
    servers+="    server b$i 127.0.0.1:$p"$'\n'
    upstreams+="        server 127.0.0.1:$p;"$'\n'
    i=$((i + 1))
done
render() {  # render TEMPLATE OUT [PORT]
    python3 - "$1" "$2" "$SCRATCH" "${3:-}" "$servers" "$upstreams" <<'EOF'
import sys
tpl, out, root, port, servers, upstreams = sys.argv[1:7]
s = open(tpl).read()
s = s.replace("@ROOT@", root).replace("@PORT@", port)
s = s.replace("@SERVERS@", servers.rstrip("\n")).replace("@UPSTREAMS@", upstreams.rstrip("\n"))
open(out, "w").write(s)
EOF
}
for p in "${BACKEND_PORTS[@]}"; do
    render "$HERE/conf/backend-nginx.conf.in" "$SCRATCH/conf/backend-$p.conf" "$p"
done
render "$HERE/conf/haproxy.cfg.in" "$SCRATCH/conf/haproxy.cfg"
render "$HERE/conf/proxy-nginx.conf.in" "$SCRATCH/conf/proxy-nginx.conf"
cp "$SCRATCH"/conf/* "$RAW"/ 2>/dev/null || true

# ---- start servers (each is our direct child; we keep its pid)
for p in "${BACKEND_PORTS[@]}"; do
    start_bg "$SCRATCH/log/backend-$p.out" taskset -c "$CPU_BACKEND" nginx -c "$SCRATCH/conf/backend-$p.conf"
    echo "backend nginx :$p pid $LAST_PID (CPU $CPU_BACKEND)"
done
start_bg "$SCRATCH/log/haproxy.out" taskset -c "$CPU_PROXY" haproxy -db -f "$SCRATCH/conf/haproxy.cfg"
echo "haproxy pid $LAST_PID (CPU $CPU_PROXY)"
start_bg "$SCRATCH/log/proxy-nginx.out" taskset -c "$CPU_PROXY" nginx -c "$SCRATCH/conf/proxy-nginx.conf"
echo "proxy nginx pid $LAST_PID (CPU $CPU_PROXY)"
show_logs() { tail -n 5 "$SCRATCH"/log/* >&2; }
for port in "${BACKEND_PORTS[@]}" 18090 18091 18092 18093 18094; do wait_port "$port" || { show_logs; exit 1; }; done
for port in 18081 18090 18091 18092 18093 18094; do
    body=$(curl -sf "http://127.0.0.1:$port/hello.txt")
    [[ $body == hello ]] || { echo "port $port did not serve hello.txt" >&2; exit 1; }
done

declare -A PORT=([direct]=18081 [hap_tcp]=18090 [hap_http]=18091 [ngx_stream]=18092 [ngx_http]=18093 [hap_splice]=18094)

GUARD="python3 $HERE/cpu_guard.py"
QUIET_PCT=${QUIET_PCT:-10}      # start a run only when other processes use < this % of one core
MAX_FOREIGN=${MAX_FOREIGN:-15}  # repeat a run (up to 3 tries) if others used more than this during it
QUIET_WAIT=${QUIET_WAIT:-600}   # give up waiting for quiet after this many seconds (run anyway, flagged)

run_group() {  # run_group NAME PATH CONNS "CASES" [extra wrk args...]
    local group=$1 path=$2 conns=$3 cases=($4) r k n c snap1 snap2 url out try q foreign
    shift 4
    n=${#cases[@]}
    mkdir -p "$RAW/$LAYOUT-$group"
    echo "== group $group: ${cases[*]} x $ROUNDS rounds, wrk -t1 -c$conns -d$DUR $*"
    for ((r = 1; r <= ROUNDS; r++)); do
        for ((k = 0; k < n; k++)); do
            c=${cases[$(((k + r - 1) % n))]}
            url="http://127.0.0.1:${PORT[$c]}$path"
            out="$RAW/$LAYOUT-$group/$r-$c"
            for ((try = 1; try <= 3; try++)); do
                q=$($GUARD wait-quiet $$ "$QUIET_PCT" "$QUIET_WAIT")
                taskset -c "$CPU_CLIENT" wrk -t1 -c"$conns" -d2s "$@" "$url" >/dev/null   # warm-up
                $GUARD snap $$ "$SCRATCH/g1.json"; snap1=$(cpu_snap)
                taskset -c "$CPU_CLIENT" wrk -t1 -c"$conns" -d"$DUR" --latency "$@" "$url" >"$out.wrk"
                snap2=$(cpu_snap); $GUARD snap $$ "$SCRATCH/g2.json"
                foreign=$($GUARD foreign $$ "$SCRATCH/g1.json" "$SCRATCH/g2.json")
                echo "$(cpu_busy "$snap1" "$snap2") foreign=$foreign tries=$try pre_${q/ / pre_}" >"$out.cpu"
                python3 -c "import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))" "$foreign" "$MAX_FOREIGN" && break
            done
            printf '   round %d %-10s %s  %s\n' "$r" "$c" \
                "$(grep -E 'Requests/sec|Transfer/sec' "$out.wrk" | tr -s ' ' | tr '\n' ' ')" "$(cat "$out.cpu")"
        done
    done
}

SMALL="direct hap_tcp hap_http ngx_stream ngx_http"
BULK="direct hap_tcp hap_splice ngx_stream"
for g in $GROUPS_TO_RUN; do
    case $g in
        ka)    run_group ka    /hello.txt "$CONNS" "$SMALL" ;;
        close) run_group close /hello.txt "$CONNS" "$SMALL" -H 'Connection: close' ;;
        bulk1) run_group bulk1 /big.bin 1 "$BULK" ;;
        bulk4) run_group bulk4 /big.bin 4 "$BULK" ;;
        *) echo "unknown group $g" >&2; exit 2 ;;
    esac
done

{
    echo "host: $(nproc) CPUs, $(uname -r); $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "layout $LAYOUT: wrk CPU $CPU_CLIENT, backends CPU $CPU_BACKEND, proxies CPU $CPU_PROXY; rounds=$ROUNDS dur=$DUR conns=$CONNS"
} | tee "$RAW/meta-$LAYOUT.txt"
python3 "$HERE/lb_summarize.py" "$RAW" "$LAYOUT"
