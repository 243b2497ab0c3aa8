#!/usr/bin/env python3
"""The hostile-request matrix (issue 15 point 2): the same raw requests to encluster's HTTP
proxy (crates/lb, run by the `lbbench` example), HAProxy (mode http) and nginx
(proxy_pass), each in front of one recording backend, on 127.0.0.1.

For every request it records the client's answer (status line, or how the connection
ended) and what reached the backend (its request line and the fields that matter), and
prints a Markdown table for bench/RESULTS.md. All three proxies get a 3 s head and body
read timeout, so the stall rows finish in seconds.

Usage: bench/hostile_matrix.py [--out FILE]
Needs: haproxy and nginx (Debian packages), and the lbbench example built
(`cargo build --workspace --examples`; LBBENCH overrides its path).
Processes are stopped by the pid we started, never by name.
"""

import argparse
import asyncio
import os
import socket
import subprocess
import tempfile
import time

TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
LBBENCH = os.environ.get("LBBENCH", os.path.join(TARGET, "debug", "examples", "lbbench"))
BACKEND_PORT = 18301
PROXIES = [("encluster", 18300), ("haproxy", 18302), ("nginx", 18303)]
# HOSTILE_SKIP=encluster runs the peers only (to check the script without a build).
SKIP = set(filter(None, os.environ.get("HOSTILE_SKIP", "").split(",")))
READ_TIMEOUT_S = 3
ANSWER_WAIT_S = 12

CHUNKED = b"Transfer-Encoding: chunked\r\n"
CASES = [
    ("duplicate Host", b"GET /a HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"),
    ("no Host (HTTP/1.1)", b"GET /a HTTP/1.1\r\nX: 1\r\n\r\n"),
    ("Host with a comma", b"GET /a HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n"),
    ("Connection: host, x-forwarded-for",
     b"GET /a HTTP/1.1\r\nHost: a.example\r\nConnection: host, x-forwarded-for\r\n"
     b"X-Forwarded-For: 6.6.6.6\r\n\r\n"),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
    ("absolute-form target, other Host",
     b"GET http://real.example/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"),
    ("authority-form GET", b"GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    ("GET *", b"GET * HTTP/1.1\r\nHost: a.example\r\n\r\n"),
    ("TE: gzip, chunked",
     b"POST /z HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     b"3\r\nabc\r\n0\r\n\r\n"),
    ("TE: chunked, gzip (chunked not last)",
     b"POST /z HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
     b"3\r\nabc\r\n0\r\n\r\n"),
    ("chunk size zz", b"POST /z HTTP/1.1\r\nHost: a.example\r\n" + CHUNKED + b"\r\nzz\r\nabc\r\n0\r\n\r\n"),
    ("chunk size -3", b"POST /z HTTP/1.1\r\nHost: a.example\r\n" + CHUNKED + b"\r\n-3\r\nabc\r\n"),
    ("chunk size overflow",
     b"POST /z HTTP/1.1\r\nHost: a.example\r\n" + CHUNKED + b"\r\n10000000000000001\r\nabc\r\n"),
    ("CL + TE (smuggling)",
     b"POST /s HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\n" + CHUNKED +
     b"\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n"),
    ("two different Content-Length",
     b"POST /s HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("Content-Length: +3", b"POST /s HTTP/1.1\r\nHost: a.example\r\nContent-Length: +3\r\n\r\nabc"),
    ("TE: xchunked", b"POST /s HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n"),
    ("space before colon (TE)",
     b"POST /s HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("obs-fold line", b"GET /f HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\n folded\r\n\r\n"),
    ("bare CR in a value", b"GET /i HTTP/1.1\r\nHost: a.example\r\nX-A: 1\rX-Injected: 1\r\n\r\n"),
    ("NUL in a value", b"GET /i HTTP/1.1\r\nHost: a.example\r\nX-A: a\x00b\r\n\r\n"),
    ("bare LF line ends", b"GET /lf HTTP/1.1\nHost: a.example\nX-A: 1\n\n"),
    ("space in a field name", b"GET /n HTTP/1.1\r\nHost: a.example\r\nBad Name: 1\r\n\r\n"),
    ("HTTP/2.0 request line", b"GET /v HTTP/2.0\r\nHost: a.example\r\n\r\n"),
    ("70 KB field", b"GET /big HTTP/1.1\r\nHost: a.example\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n"),
    ("stalled head", b"GET /stall HTTP/1.1\r\nHost: a.example\r\n"),
    ("stalled body (Content-Length 10, 2 sent)",
     b"POST /stall HTTP/1.1\r\nHost: a.example\r\nContent-Length: 10\r\n\r\nab"),
    ("stalled chunked body", b"POST /stall HTTP/1.1\r\nHost: a.example\r\n" + CHUNKED + b"\r\n5\r\nab"),
]

RECEIVED = []


def complete(data):
    """Whether `data` holds a whole request: its head and the body its framing announces."""
    if b"\r\n\r\n" not in data:
        return False
    head, body = data.split(b"\r\n\r\n", 1)
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    if b"transfer-encoding" in fields:
        return body.endswith(b"0\r\n\r\n")
    length = fields.get(b"content-length", b"0")
    return len(body) >= int(length) if length.isdigit() else True


async def backend(reader, writer):
    """Records everything a connection sends; answers 200 once a whole request arrived
    (a request whose body stalls is never answered, so the proxy's own timeout shows)."""
    data = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
        except (asyncio.TimeoutError, ConnectionError):
            break
        if not chunk:
            break
        data += chunk
        if complete(data):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
            try:
                rest = await asyncio.wait_for(reader.read(65536), 0.3)
                data += rest
            except (asyncio.TimeoutError, ConnectionError):
                pass
            break
    if data:
        RECEIVED.append(data)
    writer.close()


def backend_summary(raw):
    """The request line and the fields that show what the proxy did."""
    if not raw:
        return "nothing"
    parts = []
    for request in raw:
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        keep = [lines[0]]
        for line in lines[1:]:
            name = line.split(":", 1)[0].strip().lower()
            if name in ("host", "transfer-encoding", "content-length", "x-forwarded-for",
                        "connection", "x-a", "x-injected"):
                keep.append(line if len(line) < 60 else line[:57] + "...")
        parts.append("; ".join(keep))
    text = " / ".join(parts).replace("|", "\\|")
    return "".join(c if c.isprintable() else "\\x%02x" % ord(c) for c in text)


async def send(port, request):
    """The first line of the answer, or how the connection ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
    except ConnectionError:
        pass
    started = time.monotonic()
    try:
        data = await asyncio.wait_for(reader.read(4096), ANSWER_WAIT_S)
    except asyncio.TimeoutError:
        writer.close()
        return "no answer in %d s" % ANSWER_WAIT_S
    except ConnectionError:
        return "reset"
    writer.close()
    waited = time.monotonic() - started
    if not data:
        note = " after %.0f s" % waited if waited > 1 else ""
        return "closed, no answer" + note
    first = data.split(b"\r\n", 1)[0].decode("latin-1")
    note = " (after %.0f s)" % waited if waited > 1 else ""
    return first.replace("HTTP/1.1 ", "").replace("HTTP/1.0 ", "") + note


def configs(tmp):
    with open(os.path.join(tmp, "lb.toml"), "w") as f:
        f.write('[[services]]\nname = "m"\nlisten = "127.0.0.1:%d"\nprotocol = "http"\n'
                'algorithm = "round_robin"\n'
                '[services.health]\nkind = { type = "tcp" }\ninterval = "5s"\ntimeout = "1s"\n'
                'rise = 1\nfall = 3\n[[services.servers]]\nname = "b1"\naddr = "127.0.0.1:%d"\n'
                % (PROXIES[0][1], BACKEND_PORT))
    with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
        f.write("global\n    nbthread 1\n"
                "defaults\n    mode http\n    timeout connect 5s\n    timeout client %ds\n"
                "    timeout server 10s\n    timeout http-request %ds\n"
                "listen m\n    bind 127.0.0.1:%d\n    option forwardfor\n"
                "    server b1 127.0.0.1:%d\n"
                % (READ_TIMEOUT_S, READ_TIMEOUT_S, PROXIES[1][1], BACKEND_PORT))
    os.makedirs(os.path.join(tmp, "spool"), exist_ok=True)
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write("worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/nginx.err warn;\n"
                "events { worker_connections 1024; }\n"
                "http {\n  access_log off;\n  client_body_temp_path %s/spool;\n"
                "  proxy_temp_path %s/spool;\n"
                "  client_header_timeout %ds;\n  client_body_timeout %ds;\n"
                "  server {\n    listen 127.0.0.1:%d;\n    location / {\n"
                "      proxy_pass http://127.0.0.1:%d;\n      proxy_http_version 1.1;\n"
                "      proxy_set_header Connection \"\";\n"
                "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "    }\n  }\n}\n"
                % (tmp, tmp, tmp, tmp, READ_TIMEOUT_S, READ_TIMEOUT_S, PROXIES[2][1],
                   BACKEND_PORT))


def wait_port(port):
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("nothing listens on %d" % port)


async def main(out):
    server = await asyncio.start_server(backend, "127.0.0.1", BACKEND_PORT)
    tmp = tempfile.mkdtemp()
    configs(tmp)
    commands = {
        # LBBENCH_OLD=1: an lbbench from before issue 15, which has no --read-timeout.
        "encluster": [LBBENCH, "--config", os.path.join(tmp, "lb.toml")] + (
            [] if os.environ.get("LBBENCH_OLD") else ["--read-timeout", str(READ_TIMEOUT_S)]),
        "haproxy": ["haproxy", "-db", "-f", os.path.join(tmp, "haproxy.cfg")],
        "nginx": ["nginx", "-c", os.path.join(tmp, "nginx.conf")],
    }
    proxies = [(name, port) for name, port in PROXIES if name not in SKIP]
    procs = [subprocess.Popen(commands[name]) for name, _ in proxies]
    rows = []
    try:
        for _, port in proxies:
            wait_port(port)
        await asyncio.sleep(1.5)  # encluster's health check marks the backend up
        for name, request in CASES:
            row = [name]
            for _, port in proxies:
                RECEIVED.clear()
                answer = await send(port, request)
                await asyncio.sleep(0.8)  # the backend's read of a forwarded request ends
                row.append("%s; backend: %s" % (answer, backend_summary(list(RECEIVED))))
            rows.append(row)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        server.close()
    versions = [
        subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
        subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
    ]
    names = {"encluster": "encluster", "haproxy": "HAProxy", "nginx": "nginx"}
    lines = ["peers: " + "; ".join(versions), "",
             "| request | " + " | ".join(names[name] for name, _ in proxies) + " |",
             "|---|" + "---|" * len(proxies)]
    lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    asyncio.run(main(parser.parse_args().out))
