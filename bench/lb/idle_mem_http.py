#!/usr/bin/env python3
"""bench/lb/idle_mem_http.py -- resident memory per idle kept-alive HTTP client connection,
encluster lb (http mode) vs HAProxy (mode http).

Method (loopback only): an asyncio HTTP/1.1 backend on 127.0.0.1:18281 answers every request
with a small body and keeps its connections; lbbench (protocol http, one thread) listens on
:18280 and HAProxy (mode http, nbthread 1) on :18282. For each proxy: read its VmRSS, open N
client connections that each send one GET, read the answer and then stay idle (keep-alive),
read VmRSS again, close everything. Prints (after - before) / N. Both proxies pool their
upstream connections, so what remains per client connection is the proxy's own state for an
idle kept-alive client: the figure an operator needs for many browsers holding connections.

    python3 bench/lb/idle_mem_http.py [N]   (default 5000; needs a hard RLIMIT_NOFILE above 3 N)
"""
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
HERE = os.path.dirname(os.path.abspath(__file__))
LBBENCH = os.environ.get("LBBENCH", os.path.join(HERE, "../../target/release/examples/lbbench"))
BODY = b"hello\n"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def backend(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                return
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
    except asyncio.CancelledError:
        # The run is over; asyncio.run cancels the handlers still waiting.
        writer.close()


async def one_client(port, clients):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(len(BODY))
    clients.append((reader, writer))


async def measure(name, pid, port):
    await asyncio.sleep(1)
    # Warm the proxy's upstream pool and allocator with one round first.
    warm = []
    await asyncio.gather(*(one_client(port, warm) for _ in range(100)))
    for _, writer in warm:
        writer.close()
    await asyncio.sleep(1)
    before = rss_kib(pid)
    clients = []
    started = time.time()
    for batch in range(0, N, 500):
        await asyncio.gather(*(one_client(port, clients) for _ in range(min(500, N - batch))))
    await asyncio.sleep(1)
    after = rss_kib(pid)
    print("%-10s %6d idle kept-alive connections (opened in %.1f s): RSS %7d KiB -> %7d KiB, "
          "%.2f KiB per connection" % (name, len(clients), time.time() - started, before, after,
                                       (after - before) / N))
    for _, writer in clients:
        writer.close()
    await asyncio.sleep(1)


async def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(backend, "127.0.0.1", 18281, backlog=4096)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "lb.toml"), "w") as f:
        f.write('[[services]]\nname = "idle"\nlisten = "127.0.0.1:18280"\nprotocol = "http"\n'
                'algorithm = "round_robin"\nidle_timeout = "1h"\n'
                '[services.health]\nkind = { type = "tcp" }\ninterval = "5s"\ntimeout = "1s"\n'
                'rise = 2\nfall = 3\n[[services.servers]]\nname = "b1"\naddr = "127.0.0.1:18281"\n')
    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write("global\n    nbthread 1\n    maxconn %d\n"
                "defaults\n    mode http\n    timeout connect 5s\n    timeout client 1h\n"
                "    timeout server 1h\n    timeout http-keep-alive 1h\n    maxconn %d\n"
                "listen idle\n    bind 127.0.0.1:18282\n    server b1 127.0.0.1:18281\n"
                % (N + 100, N + 100))
    procs = [
        ("encluster", subprocess.Popen([LBBENCH, "--config", os.path.join(tmp, "lb.toml")]), 18280),
        ("haproxy", subprocess.Popen(["haproxy", "-db", "-f", os.path.join(tmp, "haproxy.cfg")]), 18282),
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
