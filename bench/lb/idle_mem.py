#!/usr/bin/env python3
"""bench/lb/idle_mem.py -- resident memory per idle proxied TCP connection, encluster lb vs HAProxy.

Method (loopback only): one asyncio backend on 127.0.0.1:18181 accepts and holds connections;
encluster's lbbench (tcp mode, splice relay, one thread) listens on :18180 and HAProxy
(mode tcp, nbthread 1) on :18182, both forwarding to the backend. For each proxy: read its VmRSS,
open N client connections that send nothing, wait until the backend holds all N, read VmRSS
again, close everything. Prints (after - before) / N.

Needs a hard RLIMIT_NOFILE above 3 N (it raises the soft limit to the hard one):  python3 bench/lb/idle_mem.py [N]   (default 10000)
"""
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
HERE = os.path.dirname(os.path.abspath(__file__))
LBBENCH = os.environ.get("LBBENCH", os.path.join(HERE, "../../target-lb/release/examples/lbbench"))
held = []


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def backend(reader, writer):
    held.append(writer)
    await reader.read()


async def measure(name, pid, port):
    await asyncio.sleep(1)
    before = rss_kib(pid)
    base = len(held)
    clients = []
    for i in range(N):
        clients.append(await asyncio.open_connection("127.0.0.1", port))
    deadline = time.time() + 60
    while len(held) - base < N and time.time() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    after = rss_kib(pid)
    print("%-10s %6d idle connections: RSS %7d KiB -> %7d KiB, %.2f KiB per connection"
          % (name, len(held) - base, before, after, (after - before) / N))
    for _, writer in clients:
        writer.close()
    await asyncio.sleep(1)


async def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(backend, "127.0.0.1", 18181, backlog=4096)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "lb.toml"), "w") as f:
        f.write('[[services]]\nname = "idle"\nlisten = "127.0.0.1:18180"\nprotocol = "tcp"\n'
                'algorithm = "round_robin"\nidle_timeout = "1h"\n'
                '[services.health]\nkind = { type = "tcp" }\ninterval = "5s"\ntimeout = "1s"\n'
                'rise = 2\nfall = 3\n[[services.servers]]\nname = "b1"\naddr = "127.0.0.1:18181"\n')
    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write("global\n    nbthread 1\n    maxconn %d\n"
                "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n"
                "    timeout server 1h\n    maxconn %d\n"
                "listen idle\n    bind 127.0.0.1:18182\n    server b1 127.0.0.1:18181\n"
                % (N + 100, N + 100))
    procs = [
        ("encluster", subprocess.Popen([LBBENCH, "--config", os.path.join(tmp, "lb.toml")]), 18180),
        ("haproxy", subprocess.Popen(["haproxy", "-db", "-f", os.path.join(tmp, "haproxy.cfg")]), 18182),
    ]
    try:
        for name, proc, port in procs:
            await measure(name, proc.pid, port)
    finally:
        for _, proc, _ in procs:
            proc.terminate()
            proc.wait()
        server.close()


asyncio.run(main())
