#!/usr/bin/env python3
"""bench/connections.py -- 10,000 idle or slow connections to the API and to the HTTP proxy
(issue 15 point 5): the agents' memory, whether heartbeats and leases stayed on time (no
false failover), and the latency of normal API requests meanwhile.

Method (loopback, one machine): a 3-node cluster from `encluster init --local 3`, agents
with the `[api]` limits `init` writes; an `lb` resource (protocol http) in front of one
small HTTP server. Each round:

1. probe: `GET /v1/status` with the admin token over one kept-alive HTTPS connection to
   the master, every 20 ms for PROBE_S seconds, without load (the baseline);
2. attack: N connections to the master's API and N to the proxy's listener (on whichever
   node runs the lb resource); half of each send nothing (idle), half send a partial
   request head, one byte every 5 s (slow); the probe runs again meanwhile;
3. the master's and the director's VmRSS before, at the peak and 10 s after the close;
   the master before and after, and the events of the window (`node_lost`, `master`,
   `fenc...` kinds count as a failover).

Prints one Markdown table (medians over ROUNDS, p99 of every probe of a kind), also
written to bench/results/connections-<date>.md.

Usage: python3 bench/connections.py [N] [ROUNDS]   (default 10000 3)
Environment: ENCLUSTER_BIN (default $CARGO_TARGET_DIR/debug/encluster), PROBE_S (20).
Raises RLIMIT_NOFILE to N + 1000 (root, or a hard limit that high); the agents inherit it.
The connections to each target come from a process of their own (`--attack`). The agents are ours: stopped by the pids we started.
"""
import asyncio
import http.client
import json
import os
import re
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = [] if sys.argv[1:2] == ["--attack"] else sys.argv[1:]
N = int(ARGS[0]) if len(ARGS) > 0 else 10000
ROUNDS = int(ARGS[1]) if len(ARGS) > 1 else 3
PROBE_S = float(os.environ.get("PROBE_S", "20"))
TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
BIN = os.environ.get("ENCLUSTER_BIN", os.path.join(TARGET, "debug", "encluster"))
BASE = "127.0.88.11"
BACKEND = ("127.0.0.1", 18411)
FAILOVER_KINDS = re.compile(r"node_lost|node_down|master|fenc|lease")


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Api:
    """One kept-alive HTTPS connection to an agent's API."""

    def __init__(self, addr, ca, token):
        self.host, port = addr.split(":")
        self.port = int(port)
        self.context = ssl.create_default_context(cafile=ca)
        self.context.check_hostname = False
        self.token = token
        self.conn = None

    def get(self, path, timeout=10):
        """GET path; a kept-alive connection the server closed meanwhile is opened anew once."""
        try:
            return self.get_once(path, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            return self.get_once(path, timeout)

    def get_once(self, path, timeout):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=timeout)
        try:
            self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.token})
            answer = self.conn.getresponse()
            body = answer.read()
            return answer.status, json.loads(body) if body else None
        except Exception:
            self.conn.close()
            self.conn = None
            raise

    def post(self, path, value):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=10)
        conn.request("POST", path, body=json.dumps(value), headers={
            "Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, answer.read()


def wait(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError("timed out waiting for " + what)


def probe(api, seconds):
    """Latencies (ms) of GET /v1/status every 20 ms; failed requests count as errors."""
    latencies, errors = [], 0
    end = time.time() + seconds
    while time.time() < end:
        started = time.perf_counter()
        try:
            status, _ = api.get("/v1/status")
            if status != 200:
                errors += 1
        except Exception:
            errors += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, 0.02 - (time.perf_counter() - started)))
    return latencies, errors


async def attack(addrs, n, hold_s, opened):
    """n connections spread over addrs, half idle, half a slow partial head; held hold_s."""
    writers = []

    async def one(index):
        host, port = addrs[index % len(addrs)]
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            return
        writers.append(writer)
        if index % 2 == 1:
            partial = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
            for byte in partial:
                writer.write(bytes([byte]))
                try:
                    await writer.drain()
                except OSError:
                    return
                await asyncio.sleep(5)

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(hold_s)
    opened.append(len(writers))
    for task in tasks:
        task.cancel()
    for writer in writers:
        writer.close()


class Backend(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


def start_cluster(workdir):
    out = subprocess.run([BIN, "init", "--cluster-name", "bench", "--local", "3", "--voters-max",
                          "3", "--base-ip", BASE, "--dir", os.path.join(workdir, "c")],
                         check=True, capture_output=True, text=True).stdout
    token = re.search(r"admin token:\s*(\S+)", out).group(1)
    agents = {}
    for node in (1, 2, 3):
        config = os.path.join(workdir, "c", "node%d" % node, "encluster.toml")
        log = open(os.path.join(workdir, "agent%d.log" % node), "w")
        agents[node] = subprocess.Popen([BIN, "agent", "--config", config], stdout=log,
                                        stderr=log, stdin=subprocess.DEVNULL)
    return token, agents


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def one_round(apis, token, agents, master, director, events_from):
    base_lat, base_err = probe(apis[master], PROBE_S)
    rss_before = {n: rss_mib(agents[n].pid) for n in (master, director)}
    peak = dict(rss_before)
    api_addr = (apis[master].host, str(apis[master].port))
    proxy_addr = ("127.0.88.%d" % (10 + director), "18080")
    # One process per target, so each needs N descriptors, not 2 N.
    attackers = [subprocess.Popen([sys.executable, __file__, "--attack", host, port, str(N),
                                   str(PROBE_S + 10)], stdout=subprocess.PIPE, text=True)
                 for host, port in (api_addr, proxy_addr)]
    time.sleep(8)  # the connections are being opened
    load_lat, load_err = probe(apis[master], PROBE_S)
    for n in peak:
        peak[n] = max(peak[n], rss_mib(agents[n].pid))
    opened = [int(attacker.communicate()[0].split()[-1]) for attacker in attackers]
    time.sleep(10)
    after = {n: rss_mib(agents[n].pid) for n in (master, director)}
    _, health = apis[master].get("/v1/health")
    _, events = apis[master].get("/v1/events?since=%d&limit=1000" % events_from)
    failovers = [e["kind"] for e in events["events"] if FAILOVER_KINDS.search(e["kind"])]
    return {
        "base": base_lat, "base_err": base_err, "load": load_lat, "load_err": load_err,
        "opened": sum(opened), "rss_before": rss_before, "peak": peak,
        "after": after, "master_after": health.get("master"), "failovers": failovers,
        "next": events["next"],
    }


def main():
    need = N + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
    except (ValueError, OSError):
        sys.exit("error: cannot raise RLIMIT_NOFILE to %d (hard limit %d): run as root or raise "
                 "`ulimit -Hn`" % (need, hard))
    server = ThreadingHTTPServer(BACKEND, Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as workdir:
        token, agents = start_cluster(workdir)
        try:
            report(workdir, token, agents)
        finally:
            for agent in agents.values():
                agent.terminate()
            for agent in agents.values():
                agent.wait(timeout=30)


def report(workdir, token, agents):
    ca = os.path.join(workdir, "c", "ca.pem")
    apis = {n: Api("127.0.88.%d:7511" % (10 + n), ca, token) for n in (1, 2, 3)}
    master = wait("a master", lambda: apis[1].get("/v1/health")[1].get("master"))
    wait("every node", lambda: all(apis[n].get("/v1/status")[0] == 200 for n in (1, 2, 3)))
    lb = {"name": "web", "type": "lb", "params": {
        "listen": "0.0.0.0:18080", "servers": "b=%s:%d" % BACKEND, "protocol": "http"}}
    status, body = apis[master].post("/v1/resources", lb)
    assert status == 200, body

    def director():
        _, view = apis[master].get("/v1/resources/web")
        running = [i["node"] for i in view["instances"] if i["state"] == "running"]
        return running[0] if running else None

    director = wait("the lb resource to run", director)
    _, events = apis[master].get("/v1/events?since=0&limit=1000")
    since = events["next"]
    rounds = []
    for index in range(ROUNDS):
        result = one_round(apis, token, agents, master, director, since)
        since = result["next"]
        rounds.append(result)
        print("round %d: opened %d, p99 %.1f ms under load, master %s, failovers %s" % (
            index + 1, result["opened"], percentile(result["load"], 0.99),
            result["master_after"], result["failovers"]), file=sys.stderr)
    print_table(rounds, master, director)


def print_table(rounds, master, director):
    med = statistics.median
    rows = [
        ("connections open at once (of %d)" % (2 * N), med(r["opened"] for r in rounds), "%d"),
        ("API p50 without load, ms", med(percentile(r["base"], 0.5) for r in rounds), "%.1f"),
        ("API p99 without load, ms", percentile(sum((r["base"] for r in rounds), []), 0.99), "%.1f"),
        ("API p50 under attack, ms", med(percentile(r["load"], 0.5) for r in rounds), "%.1f"),
        ("API p99 under attack, ms", percentile(sum((r["load"] for r in rounds), []), 0.99), "%.1f"),
        ("API probe errors under attack", sum(r["load_err"] for r in rounds), "%d"),
        ("master RSS before, MiB", med(r["rss_before"][master] for r in rounds), "%.0f"),
        ("master RSS peak, MiB", med(r["peak"][master] for r in rounds), "%.0f"),
        ("master RSS 10 s after, MiB", med(r["after"][master] for r in rounds), "%.0f"),
        ("director RSS peak, MiB (node %d)" % director, med(r["peak"][director] for r in rounds), "%.0f"),
        ("master changed / failover events", "%d / %d" % (
            sum(r["master_after"] != master for r in rounds),
            sum(len(r["failovers"]) for r in rounds)), "%s"),
    ]
    lines = ["| measure (median of %d rounds, p99 over all probes) | value |" % len(rounds),
             "|---|---|"]
    lines += ["| %s | %s |" % (name, fmt % value) for name, value, fmt in rows]
    text = "\n".join(lines)
    print(text)
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/connections-%s.md" % time.strftime("%Y-%m-%d", time.gmtime()), "w") as f:
        f.write(text + "\n")


def attack_main(host, port, n, hold_s):
    """`--attack HOST PORT N HOLD_S`: hold n connections to one target; print how many opened."""
    need = n + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, resource.getrlimit(
        resource.RLIMIT_NOFILE)[1])))
    opened = []
    asyncio.run(attack([(host, int(port))], n, float(hold_s), opened))
    print("opened", opened[0] if opened else 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--attack"]:
        attack_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        main()
