# bench/peers/lib.sh -- shared helpers for the peer benchmarks (sourced by lb_bench.sh and
# etcd_bench.sh, not run on its own).
#
#   ensure_pkgs PKG...        apt-get install the Debian packages that are not installed yet
#   start_bg LOG CMD...       start CMD in the background (stdout+stderr to LOG); its pid is
#                             appended to BG_PIDS and left in LAST_PID
#   stop_pid PID [SIG]        stop ONE process that we started (SIGTERM by default, SIGKILL
#                             after 5 s), then reap it
#   stop_all                  stop every pid in BG_PIDS (install it as an EXIT trap)
#   cpu_snap / cpu_busy A B   per-core busy % between two snapshots of the kernel's CPU counters
#
# Processes are only ever stopped by the pid we got from "$!" -- never by name.

BG_PIDS=()
LAST_PID=

ensure_pkgs() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "== installing missing Debian packages: ${missing[*]}" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

start_bg() {
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    LAST_PID=$!
    BG_PIDS+=("$LAST_PID")
}

_alive() {  # running and not a zombie
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $st && $st != Z* ]]
}

stop_pid() {
    local pid=$1 sig=${2:-TERM} i
    if _alive "$pid"; then
        kill -"$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do _alive "$pid" || break; sleep 0.1; done
        _alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local pid
    for pid in "${BG_PIDS[@]}"; do stop_pid "$pid"; done
    BG_PIDS=()
}

cpu_snap() {  # prints "busy0 total0 busy1 total1 ..." in jiffies (busy = user+nice+system+irq+softirq)
    awk '/^cpu[0-9]+ /{busy=$2+$3+$4+$7+$8; tot=busy+$5+$6+$9; printf "%s %s ", busy, tot} END{print ""}' /proc/stat
}

cpu_busy() {  # cpu_busy "<snap before>" "<snap after>"  ->  "cpu0=80 cpu1=97"
    python3 - "$1" "$2" <<'EOF'
import sys
a = list(map(int, sys.argv[1].split())); b = list(map(int, sys.argv[2].split()))
out = []
for i in range(0, len(a), 2):
    d_busy, d_tot = b[i] - a[i], b[i + 1] - a[i + 1]
    out.append("cpu%d=%d" % (i // 2, round(100 * d_busy / d_tot) if d_tot else 0))
print(" ".join(out))
EOF
}

wait_port() {  # wait_port PORT [TIMEOUT_S]: wait until something listens on 127.0.0.1:PORT
    local port=$1 t=${2:-10} i
    for ((i = 0; i < t * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$port" >&2
    return 1
}
