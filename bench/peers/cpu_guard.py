#!/usr/bin/env python3
"""bench/peers/cpu_guard.py -- detect CPU used by processes that are NOT part of a benchmark.

The benchmark host is a shared 2-core VM; other jobs (compilers, package installs) come and
go. This helper measures "foreign" CPU over a window, in % of ONE core:

    foreign = (user+nice+system time of all CPUs, from the kernel's global counters)
              - (CPU time of the benchmark's own process tree: ROOTPID and its descendants,
                 utime+stime plus cutime+cstime of reaped children such as wrk)
              - (CPU time of kernel threads, e.g. ksoftirqd doing loopback work for us)
    irq/softirq time is left out entirely (mostly our own loopback traffic).

  cpu_guard.py snap ROOTPID FILE             write a snapshot to FILE
  cpu_guard.py foreign ROOTPID FILE_A FILE_B print foreign CPU % (of one core) between two snapshots
  cpu_guard.py wait-quiet ROOTPID MAX_PCT MAX_WAIT_S
        sample 1 s windows until foreign CPU < MAX_PCT (or MAX_WAIT_S passed); prints the
        seconds waited and the last foreign %, e.g. "waited=12 foreign=1.0"
"""
import json
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def global_ticks():
    with open("/proc/stat") as f:
        v = f.readline().split()
    user, nice, system = int(v[1]), int(v[2]), int(v[3])
    return user + nice + system


def read_procs():
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        ppid, flags = int(rest[1]), int(rest[6])
        utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
        kthread = bool(flags & 0x00200000) or int(d) == 2 or ppid == 2
        procs[int(d)] = (ppid, kthread, utime + stime, cutime + cstime, int(rest[19]))
    return procs


def snap(root):
    g = global_ticks()
    procs = read_procs()
    kids = {}
    for pid, p in procs.items():
        kids.setdefault(p[0], []).append(pid)
    mine, todo = set(), [root]
    while todo:
        p = todo.pop()
        if p in mine or (p not in procs and p != root):
            continue
        mine.add(p)
        todo.extend(kids.get(p, []))
    return {
        "t": time.monotonic(), "global": g,
        "mine": {"%d:%d" % (pid, p[4]): p[2] + p[3] for pid, p in procs.items() if pid in mine},
        "kthreads": {"%d:%d" % (pid, p[4]): p[2] for pid, p in procs.items() if p[1]},
    }


def delta(a, b):
    return sum(v - a.get(k, 0) for k, v in b.items())


def foreign_pct(a, b):
    dt = b["t"] - a["t"]
    used = (b["global"] - a["global"]) - delta(a["mine"], b["mine"]) - delta(a["kthreads"], b["kthreads"])
    return max(0.0, 100.0 * used / HZ / dt) if dt > 0 else 0.0


def main():
    cmd, root = sys.argv[1], int(sys.argv[2])
    if cmd == "snap":
        with open(sys.argv[3], "w") as f:
            json.dump(snap(root), f)
    elif cmd == "foreign":
        a, b = (json.load(open(p)) for p in sys.argv[3:5])
        print("%.1f" % foreign_pct(a, b))
    elif cmd == "wait-quiet":
        max_pct, max_wait = float(sys.argv[3]), float(sys.argv[4])
        t0 = time.monotonic()
        while True:
            a = snap(root)
            time.sleep(1.0)
            pct = foreign_pct(a, snap(root))
            waited = time.monotonic() - t0
            if pct < max_pct or waited >= max_wait:
                print("waited=%d foreign=%.1f" % (waited, pct))
                return
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
