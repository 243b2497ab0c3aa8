#!/usr/bin/env python3
"""bench/peers/etcd_summarize.py -- markdown tables from the stdout log of bench/peers/etcd_bench.sh.

Usage: bench/peers/etcd_bench.sh > etcd.log; python3 bench/peers/etcd_summarize.py etcd.log [MAX_FOREIGN]

* put benchmark: for every (profile, clients, target, round) the last try is used (the script
  repeats a run when other processes used > MAX_FOREIGN % of a core); the tables give the median
  (min-max) over rounds of writes/s and of each round's p50 / p99 latency.
* failover: only trials with foreign CPU <= MAX_FOREIGN (default 15) % of a core are summarized.
* check perf / disk / hyperfine lines are echoed per profile.
"""
import json
import re
import statistics
import sys


def rng(vals, fmt="%.0f"):
    if not vals:
        return "-"
    return "%s (%s–%s)" % (fmt % statistics.median(vals), fmt % min(vals), fmt % max(vals))


def main():
    path = sys.argv[1]
    max_foreign = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
    prof = None
    puts, fails, notes = {}, {}, {}
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"=+ profile election-timeout=(\d+)ms heartbeat=(\d+)ms", line)
        if m:
            prof = "%s/%s" % m.groups()
            notes[prof] = []
            continue
        if line.startswith("RESULT put "):
            j = json.loads(line[len("RESULT put "):])
            lab = dict(kv.split("=", 1) for kv in j["label"].split())
            key = (prof, j["clients"], lab["target"], int(lab["round"]))
            puts[key] = j                       # later tries overwrite earlier ones
        elif line.startswith("RESULT failover "):
            j = json.loads(line[len("RESULT failover "):])
            fails.setdefault(prof, []).append(j)
        elif prof and re.search(r"check perf --load|Throughput|Slowest|Stddev|foreign CPU during|"
                                r"fdatasync|_seconds:|Benchmark|Time \(|Range|FAIL: ERROR", line):
            notes[prof].append(line.strip())

    for p in notes:
        print("\n### etcd profile election-timeout/heartbeat = %s ms\n" % p)
        print("```")
        for n in notes[p]:
            print(n)
        print("```\n")
        print("| clients | target | writes/s median (min–max) | p50 ms | p99 ms | rounds | max foreign CPU % | errors |")
        print("|---|---|---|---|---|---|---|---|")
        combos = sorted({(k[1], k[2]) for k in puts if k[0] == p}, key=lambda x: (x[0], x[1]))
        for c, t in combos:
            rs = [v for k, v in puts.items() if k[0] == p and k[1] == c and k[2] == t]
            print("| %d | %s | %s | %s | %s | %d | %.0f | %d |" % (
                c, "all 3 members" if t == "all" else "leader only",
                rng([r["writes_per_s"] for r in rs]), rng([r["p50_ms"] for r in rs], "%.2f"),
                rng([r["p99_ms"] for r in rs], "%.2f"), len(rs),
                max(r.get("foreign_cpu_pct", 0) for r in rs), sum(r["errors"] for r in rs)))
        fl = fails.get(p, [])
        ok = [f for f in fl if f.get("foreign_cpu_pct", 0) <= max_foreign and f["unavailable_ms"] is not None]
        print("\nfailover (SIGKILL leader), %d undisturbed of %d trials:\n" % (len(ok), len(fl)))
        print("| metric | median (min–max) ms | per trial |")
        print("|---|---|---|")
        for k, name in (("unavailable_ms", "first successful put issued after the kill"),
                        ("gap_ms", "longest gap between successful puts"),
                        ("leader_ms", "survivor reports new leader")):
            vals = [f[k] for f in ok if f.get(k) is not None]
            print("| %s | %s | %s |" % (name, rng(vals), ", ".join("%.0f" % v for v in vals)))


if __name__ == "__main__":
    main()
