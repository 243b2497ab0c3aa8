#!/usr/bin/env python3
"""bench/peers/etcd_failover.py -- one etcd leader-failover trial: how long are puts unavailable
after the leader is killed with SIGKILL?

  python3 bench/peers/etcd_failover.py --endpoints 127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793 \
      --pids PID1,PID2,PID3 [--interval 0.01] [--timeout 3]

--pids must be the pids of the etcd members serving those endpoints (same order); they are
processes the calling script (bench/peers/etcd_bench.sh) started itself. Only the current leader's
pid is signalled. Method:
  1. find the leader through the v3 JSON gateway (POST /v3/maintenance/status on each member);
  2. a prober starts one put every --interval seconds (each on its own new connection, in its own
     thread, client timeout --timeout s), alternating between the two members that will survive;
  3. after 1 s of steady puts, SIGKILL the leader at t_kill;
  4. unavailable_ms = (completion time of the first successful put that was *issued after*
     t_kill) - t_kill; gap_ms = longest interval between two consecutive successful put
     completions around the kill (what a client sees); leader_ms = first time a survivor reports
     a new leader (status polled every 20 ms) - t_kill.
Prints one JSON line. The killed member is NOT restarted here (etcd_bench.sh does that).
"""
import argparse
import base64
import http.client
import json
import os
import signal
import threading
import time


def post(ep, path, body, timeout):
    host, port = ep.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("POST", path, body, {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def status(ep, timeout=0.5):
    st, data = post(ep, "/v3/maintenance/status", "{}", timeout)
    j = json.loads(data)
    return j["header"]["member_id"], j.get("leader", "0")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--pids", required=True)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    eps = a.endpoints.split(",")
    pids = [int(p) for p in a.pids.split(",")]
    assert len(eps) == len(pids)
    assert all(ep.startswith("127.") for ep in eps), "loopback endpoints only"

    ids, leader = [], None
    for ep in eps:
        mid, lead = status(ep)
        ids.append(mid)
        leader = lead if leader is None else leader
    if leader not in ids:
        raise SystemExit("no leader found: %s" % leader)
    li = ids.index(leader)
    survivors = [ep for i, ep in enumerate(eps) if i != li]

    results = []           # (t_issue, t_done, ok, kind)
    lock = threading.Lock()
    stop = threading.Event()
    value = base64.b64encode(b"x" * 256).decode()
    key = base64.b64encode(b"failover/probe").decode()
    body = json.dumps({"key": key, "value": value})

    def attempt(ep):
        t0 = time.monotonic()
        try:
            st, data = post(ep, "/v3/kv/put", body, a.timeout)
            ok = st == 200 and b"revision" in data
            kind = "ok" if ok else "http%d" % st
        except OSError as e:
            ok, kind = False, type(e).__name__
        with lock:
            results.append((t0, time.monotonic(), ok, kind))

    issued = []

    def prober():
        n = 0
        nxt = time.monotonic()
        while not stop.is_set():
            issued.append(time.monotonic())
            threading.Thread(target=attempt, args=(survivors[n % len(survivors)],), daemon=True).start()
            n += 1
            nxt += a.interval
            time.sleep(max(0.0, nxt - time.monotonic()))

    new_leader = {}

    def leader_watch(t_kill):
        while not stop.is_set() and "t" not in new_leader:
            for ep in survivors:
                try:
                    _, lead = status(ep, 0.2)
                except (OSError, ValueError, KeyError):
                    continue
                if lead not in ("0", leader):
                    new_leader.update(t=time.monotonic(), id=lead)
                    break
            time.sleep(0.02)

    threading.Thread(target=prober, daemon=True).start()
    time.sleep(1.0)
    with lock:
        pre_ok = sum(1 for r in results if r[2])
        pre_n = len(results)
    t_kill = time.monotonic()
    os.kill(pids[li], signal.SIGKILL)
    threading.Thread(target=leader_watch, args=(t_kill,), daemon=True).start()

    first_ok = None
    deadline = t_kill + 30
    while time.monotonic() < deadline:
        time.sleep(0.005)
        with lock:
            oks = [r for r in results if r[2] and r[0] >= t_kill]
        if oks:
            first_ok = min(r[1] for r in oks)
            break
    time.sleep(0.3)
    stop.set()
    with lock:
        res = list(results)
    issued = list(issued)
    done_ok = sorted(r[1] for r in res if r[2] and r[1] >= t_kill - 1.0)
    gap = max((b - x for x, b in zip(done_ok, done_ok[1:])), default=float("nan"))
    kinds = {}
    for r in res:
        if r[0] >= t_kill and not r[2]:
            kinds[r[3]] = kinds.get(r[3], 0) + 1
    out = {
        "label": a.label,
        "killed": eps[li], "killed_pid": pids[li],
        "pre_kill_puts_ok": "%d/%d" % (pre_ok, pre_n),
        "unavailable_ms": round((first_ok - t_kill) * 1e3, 1) if first_ok else None,
        "gap_ms": round(gap * 1e3, 1),
        "leader_ms": round((new_leader["t"] - t_kill) * 1e3, 1) if "t" in new_leader else None,
        "failed_puts_after_kill_by_kind": kinds,
        "puts_issued_after_kill": sum(1 for t in issued if t >= t_kill),
        "still_pending_at_end": sum(1 for t in issued if t >= t_kill) - sum(1 for r in res if r[0] >= t_kill),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
