#!/usr/bin/env python3
"""bench/peers/etcd_metrics.py -- small helpers for bench/peers/etcd_bench.sh (stdlib only).

  etcd_metrics.py leader EP1,EP2,EP3
      print the client endpoint of the current leader (v3 JSON gateway, maintenance/status)
  etcd_metrics.py hist EP METRIC [METRIC...]
      scrape http://EP/metrics and print count, mean and p50/p99 (Prometheus-style linear
      interpolation inside buckets) of each histogram, e.g. etcd_disk_wal_fsync_duration_seconds
  etcd_metrics.py fsync DIR [N]
      disk anchor: N times write 4 KiB + fdatasync to a file in DIR; print p50/p99/mean in ms
"""
import http.client
import json
import os
import sys
import time


def get(ep, path, body=None):
    host, port = ep.rsplit(":", 1)
    assert host.startswith("127."), "loopback endpoints only"
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, body, {"Content-Type": "application/json"})
        return c.getresponse().read()
    finally:
        c.close()


def leader(eps):
    for ep in eps:
        try:
            j = json.loads(get(ep, "/v3/maintenance/status", "{}"))
        except OSError:
            continue
        if j["header"]["member_id"] == j.get("leader"):
            return ep
    return ""


def quantile(buckets, q):
    """buckets: sorted [(le, cumulative_count)]; returns the q-quantile (seconds)."""
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_c = 0.0, 0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0)
        prev_le, prev_c = le, c
    return prev_le


def hist(ep, names):
    text = get(ep, "/metrics").decode()
    for name in names:
        b, s, n = [], 0.0, 0
        for line in text.splitlines():
            if line.startswith(name + "_bucket{"):
                le = line.split('le="')[1].split('"')[0]
                b.append((float("inf") if le == "+Inf" else float(le), int(float(line.split()[-1]))))
            elif line.startswith(name + "_sum"):
                s = float(line.split()[-1])
            elif line.startswith(name + "_count"):
                n = int(float(line.split()[-1]))
        b.sort()
        if not b or n == 0:
            print("%s: no samples" % name)
            continue
        print("%s: count=%d mean=%.2fms p50~%.2fms p99~%.2fms" % (
            name, n, 1e3 * s / n, 1e3 * quantile(b, 0.5), 1e3 * quantile(b, 0.99)))


def fsync(d, n):
    path = os.path.join(d, "fsync-probe.dat")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = os.urandom(4096)
    lat = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, buf)
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    print("write 4KiB+fdatasync x%d: p50=%.3fms p99=%.3fms mean=%.3fms" % (
        n, 1e3 * lat[len(lat) // 2], 1e3 * lat[int(0.99 * (len(lat) - 1))], 1e3 * sum(lat) / n))


def main():
    cmd = sys.argv[1]
    if cmd == "leader":
        print(leader(sys.argv[2].split(",")))
    elif cmd == "hist":
        hist(sys.argv[2], sys.argv[3:])
    elif cmd == "fsync":
        fsync(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
