#!/usr/bin/env python3
"""The chat group's client-visible gap (issue 12, point 8), on loopback.

A local 3-node cluster runs the paper's chat (examples/chat) grouped with its VIP. Client
A sends a numbered line every 5 ms through the VIP; client B records when each line
arrives. Both reconnect at once when the connection drops. A run moves the group by hand
(`encluster group move chat --to NODE`) or crashes its node (SIGKILL of the agent and of
the chat process; the agent is started again after the run, once the cluster has declared
it down and, with FENCE=1, fenced it, as an operator powers a fenced node back on, and the
chat's failures are cleaned up so that no restart backoff builds up over runs). Crashes
come in two kinds: of a node that runs the chat but not the master ("crash", the group is
first moved off the master), and of the master while it runs the chat ("crash-master",
which adds an election). The gap of a run is, as B
sees it, from the last line delivered before its connection dropped to the first line
delivered after it reconnected (history replayed to B is not counted).

KINDS=move,crash,crash-master (the default) picks the disruptions. With FENCE=1 in the
environment, a fencing device covers the three nodes: the bench's
own fence agent (bench/fence_localnode, in the fence-agents protocol) "powers a node off" by
killing its agent and its resources' processes, so the master may start a crashed node's
resources once the fence is confirmed instead of waiting for its lease to end.

Usage: bench/chat_gap.py BINARY [RUNS]   (bench/chat_gap.sh builds and runs it)
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(sys.argv[1])
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
# A block of its own for every run: a loopback VIP's claim outlives its cluster.
BASE = f"127.16.{os.getpid() % 250 + 1}."
VIP = BASE + "100"
PORT = 7000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="chat-gap-")
env = dict(os.environ, ENCLUSTER_CLI_CONFIG=f"{work}/c/cli.toml")
agents = {}


def cli(*args, check=True):
    out = subprocess.run([BIN, *args], env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise SystemExit(f"encluster {' '.join(args)} failed: {out.stdout}{out.stderr}")
    return out.stdout


def start_agent(n):
    log = open(f"{work}/agent{n}.log", "a")
    agents[n] = subprocess.Popen(
        [BIN, "agent", "--config", f"{work}/c/node{n}/encluster.toml"],
        stdout=log, stderr=log, start_new_session=True)


def wait(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def nodes():
    out = cli("node", "list", "--json", check=False)
    try:
        return json.loads(out)
    except ValueError:
        return []


def master():
    return next((n["id"] for n in nodes() if n.get("is_master")), None)


def down(node):
    return any(n["id"] == node and n.get("state") == "down" for n in nodes())


def fenced(node, before):
    out = cli("fence", "list", "--json", check=False)
    try:
        history = json.loads(out).get("history", [])
    except ValueError:
        return False
    done = [r for r in history if r.get("node") == node and r.get("outcome") == "confirmed"]
    return len(done) > before


def fence_count(node):
    out = cli("fence", "list", "--json", check=False)
    try:
        history = json.loads(out).get("history", [])
    except ValueError:
        return 0
    return sum(1 for r in history if r.get("node") == node and r.get("outcome") == "confirmed")


def online_count():
    out = cli("node", "list", "--json", check=False)
    try:
        return sum(1 for n in json.loads(out) if n.get("state") == "online")
    except ValueError:
        return 0


class Receiver:
    """Client B: records live lines (time, text) and the time of every disconnect."""

    def __init__(self):
        self.lines = []
        self.drops = []
        self.node = None
        self.lock = threading.Lock()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                sock = socket.create_connection((VIP, PORT), timeout=1)
            except OSError:
                time.sleep(0.005)
                continue
            sock.settimeout(None)
            try:
                self.read(sock.makefile("r"))
            except OSError:
                pass
            with self.lock:
                self.drops.append(time.monotonic())
            sock.close()

    def read(self, f):
        skip = 0
        for line in f:
            now = time.monotonic()
            if line.startswith("* welcome"):
                self.node = int(line.split(" on node")[1].split(":")[0])
                skip = int(line.split("; ")[1].split(" ")[0])
                continue
            if line.startswith("*"):
                return
            if skip:
                skip -= 1
                continue
            with self.lock:
                self.lines.append((now, line.strip()))


def sender():
    """Client A: a numbered line every 5 ms, reconnecting at once."""
    seq = 0
    while True:
        try:
            sock = socket.create_connection((VIP, PORT), timeout=1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                seq += 1
                sock.sendall(f"line {seq}\n".encode())
                time.sleep(0.005)
        except OSError:
            time.sleep(0.005)


def one_run(b, disrupt):
    with b.lock:
        drops = len(b.drops)
    node = b.node
    disrupt(node)
    wait("B to lose its connection", lambda: len(b.drops) > drops, 30)
    with b.lock:
        dropped_at = b.drops[drops]
        before = [t for t, _ in b.lines if t <= dropped_at]
    last = before[-1]

    def first_after():
        with b.lock:
            return next((t for t, _ in b.lines if t > dropped_at), None)

    first = wait("a line after the disruption", first_after, 60)
    return (first - last) * 1000, node, b.node


def move(b):
    def disrupt(node):
        target = node % 3 + 1
        cli("group", "move", "chat", "--to", str(target))
    return disrupt


def crash(node):
    pid_file = f"{work}/c/node{node}/data/resources/chat1/process.pid"
    chat_pid = int(open(pid_file).read().split()[0])
    agents[node].send_signal(signal.SIGKILL)
    try:
        os.killpg(chat_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    agents[node].wait()


def stats(name, gaps):
    gaps = sorted(gaps)
    pick = lambda q: gaps[min(len(gaps) - 1, int(q * len(gaps)))]
    print(f"{name}: n={len(gaps)} p50={pick(0.5):.0f} ms p90={pick(0.9):.0f} ms "
          f"p99={pick(0.99):.0f} ms max={gaps[-1]:.0f} ms; all: "
          + ", ".join(f"{g:.0f}" for g in gaps))


def main():
    subprocess.run([BIN, "init", "--local", "3", "--base-ip", BASE + "1", "--dir",
                    f"{work}/c"], check=True, capture_output=True)
    for n in (1, 2, 3):
        start_agent(n)
    wait("3 nodes online", lambda: online_count() == 3)
    cli("type", "create", "chat", "-f", f"{ROOT}/examples/chat/chat.toml",
        "--command", BIN, "--reload", BIN)
    cli("resource", "create", "chat-vip", "--type", "vip", "--param", f"ip={VIP}")
    cli("resource", "create", "chat1", "--type", "chat", "--param",
        f"listen={VIP}:{PORT}", "--param", "MaxUser=10")
    cli("group", "create", "chat", "chat-vip", "chat1")
    if os.environ.get("FENCE") == "1":
        hosts = ";".join(f"node{n}:{work}/c/node{n}" for n in (1, 2, 3))
        cli("fence", "add", "local", "--agent", f"{ROOT}/bench/fence_localnode",
            "--hosts", hosts, "--timeout", "10s")
        print("fencing: bench/fence_localnode covers node1-3", flush=True)
    b = Receiver()
    threading.Thread(target=sender, daemon=True).start()
    wait("lines flowing", lambda: len(b.lines) > 50)
    fencing = os.environ.get("FENCE") == "1"
    results = {"move": [], "crash": [], "crash-master": []}
    kinds = os.environ.get("KINDS", "move,crash,crash-master").split(",")
    for kind in kinds:
        for run in range(RUNS):
            time.sleep(1.0)
            if kind != "move":
                # The chat on a node that is (crash-master) or is not (crash) the master.
                m = master()
                on_master = b.node == m
                if on_master != (kind == "crash-master"):
                    target = m if kind == "crash-master" else next(
                        n for n in (1, 2, 3) if n != m)
                    cli("group", "move", "chat", "--to", str(target))
                    wait("the chat on the chosen node", lambda: b.node == target, 30)
                    # Stickiness keeps it there; a move left in place would pull it back
                    # when the crashed node returns.
                    cli("group", "move", "chat", "--clear")
                    time.sleep(1.0)
            disrupt = move(b) if kind == "move" else crash
            before = fence_count(b.node) if fencing else 0
            gap, was, now = one_run(b, disrupt)
            print(f"{kind} {run + 1}: node{was} -> node{now}: gap {gap:.0f} ms", flush=True)
            results[kind].append(gap)
            if kind != "move":
                wait("the crashed node declared down", lambda: down(was), 30)
                if fencing:
                    wait("the crashed node fenced", lambda: fenced(was, before), 30)
                start_agent(was)
                wait("the crashed node back online", lambda: online_count() == 3)
                # Each crash counts a failure where the chat ran; cleared, as after any
                # crash test, or the restart backoff (1 s doubling to 5 min) would hold
                # the chat off that node in later runs.
                cli("resource", "cleanup", "chat1")
                cli("resource", "cleanup", "chat-vip")
        cli("group", "move", "chat", "--clear")
    for kind, name in (("move", "manual move (group move)"),
                       ("crash", "crash of the chat's node, not the master (kill -9)"),
                       ("crash-master", "crash of the master running the chat (kill -9)")):
        if results[kind]:
            stats(name, results[kind])


try:
    main()
finally:
    for p in agents.values():
        p.kill()
    for n in (1, 2, 3):
        try:
            pid = int(open(f"{work}/c/node{n}/data/resources/chat1/process.pid").read().split()[0])
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
    print(f"logs in {work}")
