#!/usr/bin/env python3
"""bench/peers/etcd_put_bench.py -- closed-loop etcd write benchmark (stdlib only).

N client processes each keep one HTTP/1.1 keep-alive connection to an etcd member's v3 JSON
gateway (POST /v3/kv/put, the grpc-gateway built into etcd 3.4) and issue puts back-to-back for
DURATION seconds: key "bench/<client>/<n mod 10000>", value VALUE_SIZE random bytes (default 256).
Prints one JSON line: writes/s, latency p50/p90/p99/max in ms, errors, and client_cpu_cores
(CPU seconds used by the client processes / duration, i.e. how much of the 2 cores the load
generator itself took away from etcd).

Usage: python3 bench/peers/etcd_put_bench.py --endpoints 127.0.0.1:23791,127.0.0.1:23792 \
           --clients 16 --duration 10 [--value-size 256]
Clients are spread round-robin over the given endpoints (give only the leader's endpoint to
measure "leader only"). Run by bench/peers/etcd_bench.sh, which starts the cluster.
Caveat: the JSON gateway adds a JSON<->gRPC hop inside etcd, and Python clients cost CPU on the
same 2 cores as the 3 etcd members; compare with `etcdctl check perf` (native gRPC client).
"""
import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import resource
import time


def worker(idx, endpoint, duration, value_size, start_at, q):
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    value = base64.b64encode(os.urandom(value_size)).decode()
    lat, errors, n = [], 0, 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    while True:
        t0 = time.perf_counter()
        if time.time() >= end:
            break
        key = base64.b64encode(b"bench/%d/%d" % (idx, n % 10000)).decode()
        body = json.dumps({"key": key, "value": value})
        try:
            conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            ok = resp.status == 200 and b"revision" in data
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
        if ok:
            lat.append(time.perf_counter() - t0)
        else:
            errors += 1
        n += 1
    q.put((lat, errors))


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--value-size", type=int, default=256)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    eps = a.endpoints.split(",")
    for ep in eps:
        host = ep.rsplit(":", 1)[0]
        assert host.startswith("127."), "loopback endpoints only"
    q = mp.Queue()
    start_at = time.time() + 0.5 + 0.02 * a.clients
    procs = [mp.Process(target=worker, args=(i, eps[i % len(eps)], a.duration, a.value_size, start_at, q))
             for i in range(a.clients)]
    for p in procs:
        p.start()
    lat, errors = [], 0
    for _ in procs:
        l, e = q.get()
        lat.extend(l)
        errors += e
    for p in procs:
        p.join()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)     # CPU used by the client processes
    lat.sort()
    print(json.dumps({
        "label": a.label, "clients": a.clients, "endpoints": len(eps), "value_size": a.value_size,
        "writes_per_s": round(len(lat) / a.duration, 1),
        "p50_ms": round(pct(lat, 50) * 1e3, 2), "p90_ms": round(pct(lat, 90) * 1e3, 2),
        "p99_ms": round(pct(lat, 99) * 1e3, 2), "max_ms": round(lat[-1] * 1e3, 2) if lat else None,
        "errors": errors,
        "client_cpu_cores": round((ru.ru_utime + ru.ru_stime) / a.duration, 2)}))


if __name__ == "__main__":
    main()
