#!/usr/bin/env python3
"""bench/lb/lb_summarize.py (a copy of bench/peers/lb_summarize.py that also knows
the encluster cases enc_tcp, enc_http and enc_copy) -- turn the raw wrk outputs of bench/peers/lb_bench.sh into
markdown tables (median and min-max over rounds, paired ratio vs. "direct").

Usage: python3 bench/lb/lb_summarize.py RAW_DIR [LAYOUT]
  RAW_DIR holds <LAYOUT>-<group>/<round>-<case>.wrk (+ .cpu) files written by lb_bench.sh.
Ratios are paired: for every round, value(case) / value(direct) of the same round; the table
shows the median (min-max) of those per-round ratios.
"""
import os
import re
import statistics
import sys

UNIT_T = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}       # -> milliseconds
UNIT_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def ms(tok):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", tok)
    return float(m.group(1)) * UNIT_T[m.group(2)]


def parse_wrk(text):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", text)
    r["MBps"] = float(m.group(1)) * UNIT_B[m.group(2)] / 1e6            # decimal MB/s
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+(\S+)" % pct, text, re.M)
        r["p" + pct] = ms(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", text)
    r["requests"] = int(m.group(1))
    err = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        # with 'Connection: close' wrk counts the server's close as a read error; report
        # connect/write/timeout errors only
        err += int(m.group(1)) + int(m.group(3)) + int(m.group(4))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        err += int(m.group(1))
    r["errors"] = err
    return r


def fmt_range(vals, f):
    return "%s (%s–%s)" % (f(statistics.median(vals)), f(min(vals)), f(max(vals)))


def main():
    raw = sys.argv[1]
    layout = sys.argv[2] if len(sys.argv) > 2 else "A"
    order = ["direct", "hap_tcp", "hap_http", "ngx_stream", "ngx_http", "hap_splice",
             "enc_tcp", "enc_http", "enc_copy"]
    for group in ("ka", "close", "bulk1", "bulk4"):
        d = os.path.join(raw, "%s-%s" % (layout, group))
        if not os.path.isdir(d):
            continue
        runs = {}   # case -> round -> result
        for fn in os.listdir(d):
            m = re.fullmatch(r"(\d+)-(\w+)\.wrk", fn)
            if not m:
                continue
            rnd, case = int(m.group(1)), m.group(2)
            res = parse_wrk(open(os.path.join(d, fn)).read())
            cpu_file = os.path.join(d, "%d-%s.cpu" % (rnd, case))
            res["cpu"] = open(cpu_file).read().strip() if os.path.exists(cpu_file) else ""
            runs.setdefault(case, {})[rnd] = res
        bulk = group.startswith("bulk")
        key = "MBps" if bulk else "rps"
        print("\n### layout %s, group %s (%d rounds)\n" % (layout, group, len(runs.get("direct", {}))))
        head = "MB/s" if bulk else "req/s"
        print("| case | %s median (min–max) | ratio vs direct, paired (min–max) | p50 ms | p99 ms "
              "| CPU busy %% cpu0 / cpu1 (median) | foreign CPU %% max | extra tries | errors |" % head)
        print("|---|---|---|---|---|---|---|---|---|")
        for case in [c for c in order if c in runs]:
            rs = runs[case]
            vals = [rs[k][key] for k in sorted(rs)]
            ratios = [rs[k][key] / runs["direct"][k][key] for k in sorted(rs) if k in runs.get("direct", {})]
            p50 = [rs[k]["p50"] for k in rs]
            p99 = [rs[k]["p99"] for k in rs]
            cpus = {}
            for k in rs:
                for tok in rs[k]["cpu"].split():
                    name, v = tok.split("=")
                    cpus.setdefault(name, []).append(float(v))
            cpu_s = " / ".join("%d" % statistics.median(cpus[n]) for n in sorted(cpus) if n.startswith("cpu"))
            foreign = max(cpus.get("foreign", [0]))
            tries = sum(int(t) - 1 for t in cpus.get("tries", []))
            errs = sum(rs[k]["errors"] for k in rs)
            print("| %s | %s | %s | %s | %s | %s | %.0f | %d | %d |" % (
                case, fmt_range(vals, lambda x: "%.0f" % x),
                fmt_range(ratios, lambda x: "%.2f" % x) if ratios else "-",
                fmt_range(p50, lambda x: "%.2f" % x), fmt_range(p99, lambda x: "%.2f" % x),
                cpu_s, foreign, tries, errs))

if __name__ == "__main__":
    main()
