#!/usr/bin/env python3
"""bench/lb/idle_mem.py -- resident memory per idle proxied connection, encluster lb vs HAProxy.

Method (loopback only), in one of two modes:

* tcp (default): an asyncio backend on 127.0.0.1:18181 accepts and holds connections; lbbench
  (tcp mode, splice relay, one thread) listens on :18180 and HAProxy (mode tcp, nbthread 1) on
  :18182. Each client connection sends nothing; the backend holds all N.
* http: the backend answers every request with a small body and keeps its connections; lbbench
  (protocol http) and HAProxy (mode http) pool their upstream connections. Each client sends
  one GET, reads the answer and stays connected (keep-alive), so what is measured is the
  proxy's state for an idle kept-alive client.

For each proxy: read its VmRSS, open N client connections, read VmRSS again, close
everything. Prints (after - before) / N.

Needs a hard RLIMIT_NOFILE above 3 N (it raises the soft limit to the hard one):
    python3 bench/lb/idle_mem.py [N] [tcp|http]   (default 10000 tcp; LBBENCH= the binary)
"""
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
MODE = sys.argv[2] if len(sys.argv) > 2 else "tcp"
HERE = os.path.dirname(os.path.abspath(__file__))
LBBENCH = os.environ.get("LBBENCH", os.path.join(HERE, "../../target-lb/release/examples/lbbench"))
BODY = b"hello\n"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
held = []


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def backend(reader, writer):
    held.append(writer)
    try:
        if MODE == "tcp":
            await reader.read()
            return
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        # A closed client, or the run is over and asyncio.run cancels what still waits.
        writer.close()


async def open_client(port, clients):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if MODE == "http":
        writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(len(BODY))
    clients.append((reader, writer))


async def measure(name, pid, port):
    await asyncio.sleep(1)
    if MODE == "http":
        # Warm the proxy's upstream pool and allocator with one round first.
        warm = []
        await asyncio.gather(*(open_client(port, warm) for _ in range(100)))
        for _, writer in warm:
            writer.close()
        await asyncio.sleep(1)
    before = rss_kib(pid)
    base = len(held)
    clients = []
    started = time.time()
    for batch in range(0, N, 500):
        await asyncio.gather(*(open_client(port, clients) for _ in range(min(500, N - batch))))
    deadline = time.time() + 60
    while MODE == "tcp" and len(held) - base < N and time.time() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    after = rss_kib(pid)
    print("%-10s %6d idle %s connections (opened in %.1f s): RSS %7d KiB -> %7d KiB, "
          "%.2f KiB per connection" % (name, len(clients), MODE, time.time() - started, before,
                                       after, (after - before) / N))
    for _, writer in clients:
        writer.close()
    await asyncio.sleep(1)


async def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(backend, "127.0.0.1", 18181, backlog=4096)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "lb.toml"), "w") as f:
        f.write('[[services]]\nname = "idle"\nlisten = "127.0.0.1:18180"\nprotocol = "%s"\n'
                'algorithm = "round_robin"\nidle_timeout = "1h"\n'
                '[services.health]\nkind = { type = "tcp" }\ninterval = "5s"\ntimeout = "1s"\n'
                'rise = 2\nfall = 3\n[[services.servers]]\nname = "b1"\naddr = "127.0.0.1:18181"\n'
                % MODE)
    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write("global\n    nbthread 1\n    maxconn %d\n"
                "defaults\n    mode %s\n    timeout connect 5s\n    timeout client 1h\n"
                "    timeout server 1h\n    timeout http-keep-alive 1h\n    maxconn %d\n"
                "listen idle\n    bind 127.0.0.1:18182\n    server b1 127.0.0.1:18181\n"
                % (N + 100, MODE, N + 100))
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
