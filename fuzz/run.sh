#!/bin/sh
# fuzz/run.sh TARGET SECONDS: runs one fuzz target under libFuzzer (cargo-fuzz, nightly) for
# SECONDS, keeps the new inputs that add coverage in the committed corpus, and records the
# run in fuzz/RUNS.md.
#
# Method: one job, niced, with the committed corpus fuzz/corpus/TARGET as a seed directory
# and fuzz/libfuzzer/scratch/TARGET (ignored by git, kept between runs) as the directory
# that receives new inputs. Afterwards `-set_cover_merge=1 -use_counters=0` copies into the
# committed corpus a small set of the scratch inputs of at most 64 KiB that covers the edges
# it does not, so it stays small. A crash, leak, timeout or out-of-memory input lands in
# fuzz/libfuzzer/artifacts/TARGET/ and ends the run; fix it, add the input to the corpus and
# a regression test, then run again for the remaining time (RUNS.md sums the seconds).
#
# FUZZ_BUILD=0 skips the build and runs the binary of the last `cargo fuzz build` (useful
# while others edit the crates; the line in RUNS.md then names the commit of the run, not
# of that build).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: fuzz/run.sh TARGET SECONDS" >&2
    exit 2
fi
target=$1
seconds=$2
case $seconds in
    '' | *[!0-9]*)
        echo "error: SECONDS must be a whole number, not $seconds" >&2
        exit 2
        ;;
esac

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
harness=$fuzz_dir/libfuzzer
corpus=$fuzz_dir/corpus/$target
scratch=$harness/scratch/$target
artifacts=$harness/artifacts/$target
log_dir=$harness/scratch/logs
bytes_max=65536

if [ ! -f "$harness/fuzz_targets/$target.rs" ] || [ ! -d "$corpus" ]; then
    echo "error: no fuzz target $target (see fuzz/libfuzzer/fuzz_targets/)" >&2
    exit 2
fi
mkdir -p "$scratch" "$artifacts" "$log_dir"
cd "$harness"

if [ "${FUZZ_BUILD:-1}" != 0 ]; then
    nice -n 19 cargo +nightly fuzz build --fuzz-dir "$harness" "$target"
fi
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
# The target's tokens (fuzz::TARGETS) as a libFuzzer dictionary, when it has any (with
# FUZZ_BUILD=0, the one the last build wrote).
dict=$log_dir/$target.dict
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
    nice -n 19 cargo run -q -p fuzz --manifest-path "$fuzz_dir/../Cargo.toml" -- \
        --dict "$target" >"$dict"
fi
dict_flag=
if [ -s "$dict" ]; then
    dict_flag=-dict=$dict
fi
binary=$harness/target/$host/release/$target
# The binary is run directly: `cargo fuzz run` would build again.
fuzz() {
    nice -n 19 "$binary" -artifact_prefix="$artifacts/" -rss_limit_mb=2048 \
        -max_len=$bytes_max -timeout=10 "$@"
}

crashes_before=$(find "$artifacts" -type f | wc -l)
started=$(date -u +%s)
log=$log_dir/$target-$(date -u +%Y%m%dT%H%M%SZ).log
status=0
fuzz -max_total_time="$seconds" -print_final_stats=1 $dict_flag "$scratch" "$corpus" \
    >"$log" 2>&1 || status=$?
ended=$(date -u +%s)
crashes=$(($(find "$artifacts" -type f | wc -l) - crashes_before))

executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
if [ -z "$executions" ]; then
    # A crash can end the run before the final statistics: take the last status line.
    executions=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
fi

# Only inputs within the size cap are candidates; the merge keeps a small set of them that
# covers the edges the committed corpus does not (edges only, not hit counts, or it keeps
# thousands). The scratch directory keeps the whole corpus for the next run.
candidates=$(mktemp -d)
find "$scratch" -maxdepth 1 -type f -size -$((bytes_max + 1))c -exec cp {} "$candidates" \;
fuzz -set_cover_merge=1 -use_counters=0 "$corpus" "$candidates" >"$log.merge" 2>&1 ||
    echo "warning: the merge failed; see $log.merge" >&2
rm -rf "$candidates"
find "$corpus" -maxdepth 1 -type f -size +$((bytes_max))c -delete

corpus_files=$(find "$corpus" -maxdepth 1 -type f | wc -l)
corpus_bytes=$(du -sb "$corpus" | cut -f 1)
commit=$(git -C "$fuzz_dir" rev-parse --short HEAD)
if [ -n "$(git -C "$fuzz_dir" status --porcelain -- . ../crates)" ]; then
    commit="$commit+changes"
fi
runs=$fuzz_dir/RUNS.md
if [ ! -f "$runs" ]; then
    cat >"$runs" <<'EOF'
# Fuzz runs

One line per run of `fuzz/run.sh` (libFuzzer, one job); a target's time is the sum of its lines.
"Commit" is the checkout's HEAD, with `+changes` when fuzz/ or crates/ had uncommitted changes.

| Date (UTC) | Target | Seconds | Executions | Corpus (files, bytes) | Crashes | Commit |
| --- | --- | ---: | ---: | --- | ---: | --- |
EOF
fi
printf '| %s | %s | %s | %s | %s, %s | %s | %s |\n' \
    "$(date -u -d "@$started" '+%Y-%m-%d %H:%M')" "$target" $((ended - started)) \
    "${executions:-unknown}" "$corpus_files" "$corpus_bytes" "$crashes" "$commit" >>"$runs"

echo "$target: $((ended - started)) s, ${executions:-unknown} executions," \
    "corpus $corpus_files files, $crashes new artifacts, exit $status; log $log"
if [ "$crashes" -gt 0 ] || [ "$status" -ne 0 ]; then
    ls -l "$artifacts" >&2
    exit 1
fi
