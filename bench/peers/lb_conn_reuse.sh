#!/usr/bin/env bash
# bench/peers/lb_conn_reuse.sh -- how many new TCP connections does each path open per request?
#
# Starts the same servers as bench/peers/lb_bench.sh (3 nginx backends, HAProxy, nginx proxy; same
# templates in bench/peers/conf/, same 127.0.0.1 ports, pinned to CPU 1), then for direct,
# HAProxy tcp/http and nginx stream/http runs wrk (CPU 0) for 3 s with and without
# 'Connection: close' and reports the kernel's TCP ActiveOpens counter delta per request:
#   1.0 with 'Connection: close' = only the client connection is new (proxy reuses backend conns)
#   2.0 = the proxy also opens a fresh backend connection for every request.
# Run (as root): bench/peers/lb_conn_reuse.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
ensure_pkgs nginx libnginx-mod-stream haproxy wrk python3 procps

S=$(mktemp -d)
chmod 755 "$S"
mkdir -p "$S"/{run,log,spool,www}
cleanup() { stop_all; rm -rf "$S"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
printf 'hello\n' >"$S/www/hello.txt"
chmod -R a+rX "$S/www"

python3 - "$S" "$HERE/conf" <<'EOF'
import sys
S, C = sys.argv[1:3]
ports = [18081, 18082, 18083]
srv = "\n".join("    server b%d 127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(ports))
ups = "\n".join("        server 127.0.0.1:%d;" % p for p in ports)
for p in ports:
    t = open(C + "/backend-nginx.conf.in").read()
    open("%s/backend-%d.conf" % (S, p), "w").write(t.replace("@ROOT@", S).replace("@PORT@", str(p)))
t = open(C + "/haproxy.cfg.in").read()
open(S + "/haproxy.cfg", "w").write(t.replace("@ROOT@", S).replace("@SERVERS@", srv))
t = open(C + "/proxy-nginx.conf.in").read()
open(S + "/proxy-nginx.conf", "w").write(t.replace("@ROOT@", S).replace("@UPSTREAMS@", ups))
EOF

for p in 18081 18082 18083; do start_bg "$S/log/b$p" taskset -c 1 nginx -c "$S/backend-$p.conf"; done
start_bg "$S/log/haproxy" taskset -c 1 haproxy -db -f "$S/haproxy.cfg"
start_bg "$S/log/proxy" taskset -c 1 nginx -c "$S/proxy-nginx.conf"
for p in 18081 18082 18083 18090 18091 18092 18093; do wait_port "$p"; done

active_opens() { awk '/^Tcp:/ { if (hdr) print $6; else hdr = 1 }' /proc/net/snmp; }
printf '%-12s %-18s %10s %12s %10s\n' case header requests active_opens opens/req
for c in direct:18081 hap_tcp:18090 hap_http:18091 ngx_stream:18092 ngx_http:18093; do
    name=${c%:*} port=${c#*:}
    for hdr in keep-alive close; do
        args=()
        [[ $hdr == close ]] && args=(-H 'Connection: close')
        a=$(active_opens)
        n=$(taskset -c 0 wrk -t1 -c50 -d3s "${args[@]}" "http://127.0.0.1:$port/hello.txt" | awk '/requests in/ {print $1}')
        b=$(active_opens)
        printf '%-12s %-18s %10d %12d %10.3f\n' "$name" "$hdr" "$n" $((b - a)) "$(python3 -c "print(($b - $a) / $n)")"
    done
done
