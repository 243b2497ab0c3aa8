#!/usr/bin/env bash
# The time-series store beside rrdtool (issue 13, point 9): SERIES series (500) updated
# once a (simulated) second for ROUNDS seconds (3600), with the same archives on both
# sides (1 s for an hour, 1 min for 2 days, 15 min for 2 weeks, 1 h for 90 days; min,
# average, max and last), then QUERIES one-hour fetches at a 1 s step. rrdtool runs as one
# `rrdtool -` process fed on stdin (its library's cost, no process per update); encluster's
# side is crates/monitor/examples/cost.rs (500 series, 3600 rounds, flush every 10 s).
# Prints CPU seconds per round, disk per series and the fetch time for each.
# Needs Debian's rrdtool. PROFILE=debug checks the script against the debug build; the
# figures in bench/RESULTS.md come from the default, release.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v rrdtool >/dev/null || { echo "error: needs rrdtool: apt-get install rrdtool" >&2; exit 1; }
SERIES="${SERIES:-500}"
ROUNDS="${ROUNDS:-3600}"
QUERIES="${QUERIES:-100}"
PROFILE="${PROFILE:-release}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
start=1800000000
rras=()
for cf in AVERAGE MIN MAX LAST; do
    for archive in 1:3600 60:2880 900:1344 3600:2160; do
        rras+=("RRA:$cf:0.5:$archive")
    done
done
for ((i = 0; i < SERIES; i++)); do
    echo "create $dir/$i.rrd --start $((start - 1)) --step 1 DS:v:GAUGE:2:U:U ${rras[*]}"
done | rrdtool - >/dev/null
# The update commands are written to a file first, so generating them is not counted.
for ((t = 1; t <= ROUNDS; t++)); do
    for ((i = 0; i < SERIES; i++)); do
        echo "update $dir/$i.rrd $((start + t)):$(((i * 7 + t) % 100))"
    done
done >"$dir/updates"
TIMEFORMAT='%U %S'
update_times="$( { time rrdtool - <"$dir/updates" >/dev/null; } 2>&1 )"
end=$((start + ROUNDS))
for ((q = 0; q < QUERIES; q++)); do
    echo "fetch $dir/$((q % SERIES)).rrd AVERAGE -r 1 -s $((end - 3600)) -e $end"
done >"$dir/fetches"
fetch_times="$( { time rrdtool - <"$dir/fetches" >/dev/null; } 2>&1 )"
bytes="$(stat -c %s "$dir/0.rrd")"
read -r user sys <<<"$update_times"
read -r fuser fsys <<<"$fetch_times"
echo "== rrdtool $(rrdtool --version | head -1 | awk '{print $2}'): $SERIES series, $ROUNDS rounds"
awk -v u="$user" -v s="$sys" -v r="$ROUNDS" -v b="$bytes" -v fu="$fuser" -v fs="$fsys" -v q="$QUERIES" 'BEGIN {
    printf "cpu per round: %.3f ms (%.2f %% of a core at one round a second)\n", (u + s) * 1000 / r, (u + s) * 100 / r
    printf "disk per series: %d bytes\n", b
    printf "1-hour fetch at 1 s: %.3f ms mean (cpu)\n", (fu + fs) * 1000 / q
}'
echo "== encluster monitor (crates/monitor/examples/cost.rs, $PROFILE)"
target="${CARGO_TARGET_DIR:-target}"
if [ "$PROFILE" = release ]; then
    cargo build --release -p monitor --example cost
else
    cargo build -p monitor --example cost
fi
"$target/$PROFILE/examples/cost"
