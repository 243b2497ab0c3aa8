#!/usr/bin/env bash
# failover-keepalived.sh - client-visible VIP failover time of keepalived (VRRP).
#
# Test bed (network namespaces, all named kvt-*; nothing is created in the
# host's own namespace, all addresses are in the benchmarking range 198.18.0.0/15):
#   kvt-sw             the "switch": bridge kvtbr0 with ports kvtp-n1 .. kvtp-c
#   kvt-n1/-n2/-n3     nodes 198.18.0.1-3: keepalived priority 150/100/50 for the
#                      VIP 198.18.0.100/24, and `python3 -m http.server 80`
#                      whose index.html is the node name
#   kvt-c              client 198.18.0.10 running failover-client.py against the
#                      VIP (one new TCP connection every 10 ms, 50 ms timeout)
#
# For each advert_int in $ADVERTS and scenario in $SCENARIOS it does $REPS
# failovers of the master n1 followed by a recovery of n1 (preemption back):
#   crash      kill -9 keepalived (parent + VRRP child) and the http server on n1;
#              recovery = start the http server, then keepalived, again
#   linkdown   set n1's switch-side veth down (n1 sees carrier loss);
#              recovery = set it up again
#   partition  detach n1's port from the bridge: n1's link stays up, so n1 keeps
#              the VIP while n2 takes it too (split brain); recovery = re-attach
# A random 0-1 s delay precedes each fault and each repair, so that they do not
# phase-lock with the advert/token timers (that biased a first version).
# GARP=0 makes the client namespace drop gratuitous ARP
# (net.ipv4.conf.{all,eth0}.drop_gratuitous_arp=1), to show what a client sees
# when it does not get or accept the new master's gratuitous ARP.
#
# usage:  bench/peers/failover-keepalived.sh [OUTDIR]          (as root)
#   env:  ADVERTS="1 0.1"  SCENARIOS="crash linkdown partition"  REPS=10
#         GARP=1  MAXWAIT=90 (s to wait for a failover/recovery)  TAG=""
#         KA_GLOBAL="..."  extra global_defs line(s), e.g.
#                          KA_GLOBAL=vrrp_higher_prio_send_advert
# Output: OUTDIR (default: a new mktemp dir, printed) gets one directory per
# (advert, scenario) with client.log, events.log, keepalived and `ip monitor`
# logs; failover-analyze.py is run on it at the end.
# All processes started here are stopped by pid, and all kvt-* namespaces
# (with their bridge and veths) are deleted on any exit (trap).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-python3}             # any python3 >= 3.7, standard library only
P=kvt
ADVERTS=${ADVERTS:-"1 0.1"}
SCENARIOS=${SCENARIOS:-"crash linkdown partition"}
REPS=${REPS:-10}
GARP=${GARP:-1}
MAXWAIT=${MAXWAIT:-90}
TAG=${TAG:-}
KA_GLOBAL=${KA_GLOBAL:-}
NODES="n1 n2 n3"
declare -A IP=([n1]=198.18.0.1 [n2]=198.18.0.2 [n3]=198.18.0.3 [c]=198.18.0.10)
declare -A PRIO=([n1]=150 [n2]=100 [n3]=50)
VIP=198.18.0.100

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

need_pkgs() {
  local miss=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || miss+=("$p"); done
  if ((${#miss[@]})); then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${miss[@]}"
  fi
}
need_pkgs keepalived iproute2 python3 procps

W=$(mktemp -d)                 # scratch: configs, pid files, web roots
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
echo "results in $OUT"

# --- process bookkeeping and cleanup -------------------------------------
declare -A KPID HPID           # keepalived parent pid (= its process group), http pid
BGPIDS=()                      # client and monitors of the current block

stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

cleanup() {
  set +e
  local ns p pids
  # every process still inside one of our namespaces is ours; TERM lets
  # keepalived drop its VIPs, KILL whatever is left.
  for sig in TERM KILL; do
    for ns in c n1 n2 n3 sw; do
      pids=$(ip netns pids $P-$ns 2>/dev/null)
      [ -n "$pids" ] && kill -$sig $pids 2>/dev/null
    done
    sleep 1
  done
  for ns in c n1 n2 n3 sw; do ip netns del $P-$ns 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- test bed ------------------------------------------------------------
mk_testbed() {
  ip netns add $P-sw
  ip -n $P-sw link set lo up
  ip -n $P-sw link add ${P}br0 type bridge        # STP off: ports forward at once
  ip -n $P-sw link set ${P}br0 up
  local h
  for h in n1 n2 n3 c; do
    ip netns add $P-$h
    ip -n $P-sw link add ${P}p-$h type veth peer name eth0 netns $P-$h
    ip -n $P-sw link set ${P}p-$h master ${P}br0 up
    ip -n $P-$h link set lo up
    ip -n $P-$h addr add "${IP[$h]}/24" dev eth0
    ip -n $P-$h link set eth0 up
  done
  if [ "$GARP" = 0 ]; then
    ip netns exec $P-c sysctl -qw net.ipv4.conf.all.drop_gratuitous_arp=1 \
                                 net.ipv4.conf.eth0.drop_gratuitous_arp=1
  fi
}

write_conf() {   # node advert_int
  local n=$1 adv=$2 d=$W/$1
  mkdir -p "$d/www"
  echo "$n" > "$d/www/index.html"
  cat > "$d/keepalived.conf" <<EOF
global_defs {
    router_id $P-$n
    vrrp_version 3              # VRRPv3 (RFC 5798) allows advert_int < 1 s
    $KA_GLOBAL
}
vrrp_instance KVT_VIP {
    state BACKUP                # all start as BACKUP, the highest priority wins
    interface eth0
    virtual_router_id 51
    priority ${PRIO[$n]}
    advert_int $adv
    # preempt (the default): n1 takes the VIP back when it returns
    # GARP defaults: 5 gratuitous ARPs on becoming MASTER, 5 more 5 s later
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
}
EOF
}

start_http() {
  local n=$1
  setsid ip netns exec $P-$n $PY -m http.server 80 --bind 0.0.0.0 \
      --directory "$W/$n/www" >/dev/null 2>&1 &
  HPID[$n]=$!
}
start_ka() {      # setsid: keepalived's parent and VRRP child share a fresh process group
  local n=$1 d=$W/$1
  rm -f "$d"/*.pid
  setsid ip netns exec $P-$n keepalived -n -l -D -G -P -f "$d/keepalived.conf" \
      -p "$d/keepalived.pid" -r "$d/vrrp.pid" > >(stamp >> "$B/keepalived-$n.log") 2>&1 &
  KPID[$n]=$!
}
stop_node() {     # graceful: keepalived drops its VIP on SIGTERM
  local n=$1
  kill -TERM -- -"${KPID[$n]}" "${HPID[$n]}" 2>/dev/null || true
  wait "${KPID[$n]}" "${HPID[$n]}" 2>/dev/null || true
}
crash_node() {    # no cleanup at all: the VIP stays configured on n1's eth0
  local n=$1
  kill -KILL -- -"${KPID[$n]}" "${HPID[$n]}"
  wait "${KPID[$n]}" "${HPID[$n]}" 2>/dev/null || true
}

event() { echo "$EPOCHREALTIME $*" >> "$B/events.log"; }
holders() {       # which nodes have the VIP configured right now
  local n h=""
  for n in $NODES; do
    ip -n $P-$n -o addr show dev eth0 | grep " $VIP/" >/dev/null && h+="$n,"  # no -q: SIGPIPE + pipefail
  done
  echo "${h%,}"
}
# wait until the last 5 probes were all answered by node $1 (at most $2 s)
wait_client() {
  local n=$1 deadline=$((SECONDS + $2))
  while [ "$(tail -n 5 "$B/client.log" 2>/dev/null | grep -c " ok $n\$")" != 5 ]; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}

inject() {
  case $1 in
    crash)     crash_node n1 ;;
    linkdown)  ip -n $P-sw link set ${P}p-n1 down ;;
    partition) ip -n $P-sw link set ${P}p-n1 nomaster ;;
  esac
}
repair() {
  case $1 in
    crash)     start_http n1; sleep 0.3; start_ka n1 ;;
    linkdown)  ip -n $P-sw link set ${P}p-n1 up ;;
    partition) ip -n $P-sw link set ${P}p-n1 master ${P}br0 ;;
  esac
}

run_block() {     # advert_int scenario
  local adv=$1 sc=$2 n rep
  B=$OUT/${TAG}adv$adv-$sc
  mkdir -p "$B"
  : > "$B/events.log"
  event CONFIG advert_int=$adv scenario=$sc garp=$GARP reps=$REPS global="$KA_GLOBAL" keepalived="$(keepalived --version 2>&1 | head -1)"
  for n in $NODES c; do
    event MAC $n "$(ip -n $P-$n -o link show dev eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)"
  done
  BGPIDS=()
  for n in $NODES; do
    ip -n $P-$n monitor address > >(stamp >> "$B/addr-$n.log") 2>&1 & BGPIDS+=($!)
  done
  ip -n $P-c monitor neigh > >(stamp >> "$B/neigh-c.log") 2>&1 & BGPIDS+=($!)
  for n in $NODES; do write_conf $n "$adv"; start_http $n; done
  sleep 0.5
  for n in $NODES; do start_ka $n; done
  ip netns exec $P-c $PY -u "$HERE/failover-client.py" $VIP 80 0.01 0.05 > "$B/client.log" &
  BGPIDS+=($!)
  wait_client n1 60 || { echo "n1 never answered on the VIP" >&2; return 1; }
  sleep 2
  for rep in $(seq 1 "$REPS"); do
    wait_client n1 "$MAXWAIT" || echo "rep $rep: n1 not answering before fault" >&2
    sleep 1
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"   # random phase vs. the advert/token timers
    event FAIL "$rep" "$sc" holders="$(holders)"
    inject "$sc"
    wait_client n2 "$MAXWAIT" || echo "rep $rep: no failover to n2 within $MAXWAIT s" >&2
    sleep 1
    event HOLDERS "$rep" "$(holders)"
    sleep 1
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"   # random phase for the repair too
    event RECOVER "$rep" "$sc" holders="$(holders)"
    repair "$sc"
    wait_client n1 "$MAXWAIT" || echo "rep $rep: n1 did not take the VIP back within $MAXWAIT s" >&2
    sleep 2
    event STABLE "$rep" "$(holders)"
    echo "adv=$adv $sc rep $rep done"
  done
  kill "${BGPIDS[@]}" 2>/dev/null || true
  for n in $NODES; do stop_node $n; done
  wait "${BGPIDS[@]}" 2>/dev/null || true
  for n in $NODES; do   # a crashed keepalived leaves its VIP behind
    ip -n $P-$n addr del $VIP/24 dev eth0 2>/dev/null || true
  done
  event END
}

mk_testbed
for adv in $ADVERTS; do
  for sc in $SCENARIOS; do
    run_block "$adv" "$sc"
  done
done
$PY "$HERE/failover-analyze.py" "$OUT"
