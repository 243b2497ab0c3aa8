#!/usr/bin/env bash
# failover-pacemaker.sh - client-visible VIP failover time of Pacemaker+Corosync
# (ocf:heartbeat:IPaddr2), on the same kind of test bed as failover-keepalived.sh.
#
# Runs without systemd: each node is a network namespace kvp-nX in which one
# `unshare --mount --uts --pid` shell bind-mounts private copies of /etc/corosync,
# /var/lib/{corosync,pacemaker}, /var/log/{corosync,pacemaker} and fresh tmpfs
# on /run and /dev/shm (so three nodes can share one host), then starts
# `corosync -f` and `pacemakerd`.  CLI tools reach a node through nsenter.
#   kvp-sw           bridge kvpbr0 (the "switch")
#   kvp-n1..n3       198.18.0.1-3, corosync 3 (knet, default token timing),
#                    python3 http.server on :80 answering its node name
#   kvp-c            198.18.0.10, failover-client.py against VIP 198.18.0.100
# Cluster: stonith-enabled=false (no fencing devices exist here),
# no-quorum-policy=stop (default), resource-stickiness 0 (default), and
# location scores n1 150 / n2 100 / n3 50, so the VIP goes back to n1 when it
# returns (like VRRP preemption).  IPaddr2 sends 5 ARPs (send_arp) on start.
# Scenarios ($SCENARIOS), $REPS times each, old master n1:
#   crash      kill -9 every process of n1 (corosync, pacemaker, http);
#              recovery = remove the VIP left on n1 (as a reboot would),
#              start http, corosync and pacemaker again
#   linkdown   n1's switch-side veth down;   recovery = up
#   partition  n1's port off the bridge (n1's link stays up); recovery = back
# A random 0-1 s delay precedes each fault and each repair, so that they do not
# phase-lock with the advert/token timers (that biased a first version).
#
# usage:  bench/peers/failover-pacemaker.sh [OUTDIR]          (as root)
#   env:  SCENARIOS="crash linkdown partition"  REPS=5  MAXWAIT=120  TOKEN=""
#         TAG="" (block directory prefix)
#         (TOKEN=ms sets totem.token; empty = corosync default)
# Output: like failover-keepalived.sh (events.log, client.log, ip monitor and
# daemon logs per block), then failover-analyze.py.  Cleanup on any exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-python3}             # any python3 >= 3.7, standard library only
P=kvp
SCENARIOS=${SCENARIOS:-"crash linkdown partition"}
REPS=${REPS:-5}
MAXWAIT=${MAXWAIT:-120}
TOKEN=${TOKEN:-}
TAG=${TAG:-}
NODES="n1 n2 n3"
declare -A IP=([n1]=198.18.0.1 [n2]=198.18.0.2 [n3]=198.18.0.3 [c]=198.18.0.10)
declare -A SCORE=([n1]=150 [n2]=100 [n3]=50)
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
need_pkgs pacemaker pacemaker-cli-utils corosync resource-agents iproute2 python3 procps util-linux

W=$(mktemp -d)
chmod 755 "$W"                  # pacemaker daemons run as hacluster
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
echo "results in $OUT"

declare -A NPID HPID            # node shell (process group leader), http server
BGPIDS=()
stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

cleanup() {
  set +e
  local ns pids sig
  for sig in TERM KILL; do
    for ns in c n1 n2 n3 sw; do
      pids=$(ip netns pids $P-$ns 2>/dev/null)
      [ -n "$pids" ] && kill -$sig $pids 2>/dev/null
    done
    sleep 2
  done
  for ns in c n1 n2 n3 sw; do ip netns del $P-$ns 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mk_testbed() {
  ip netns add $P-sw
  ip -n $P-sw link set lo up
  ip -n $P-sw link add ${P}br0 type bridge
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
}

prep_node_dirs() {  # node
  local n=$1 d=$W/$1 m
  mkdir -p "$d/www" "$d/etc-corosync" "$d/lib-corosync" "$d/log-corosync"
  echo "$n" > "$d/www/index.html"
  for m in blackbox cib cores pengine; do mkdir -p "$d/lib-pacemaker/$m"; done
  mkdir -p "$d/log-pacemaker/bundles"
  chown -R hacluster:haclient "$d/lib-pacemaker" "$d/log-pacemaker"
  chmod -R 770 "$d/lib-pacemaker" "$d/log-pacemaker"
  cat > "$d/etc-corosync/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: $P
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    ${TOKEN:+token: $TOKEN}
}
logging {
    to_stderr: yes
    to_logfile: no
    to_syslog: no
    timestamp: hires
}
quorum {
    provider: corosync_votequorum
}
nodelist {
    node {
        name: n1
        nodeid: 1
        ring0_addr: ${IP[n1]}
    }
    node {
        name: n2
        nodeid: 2
        ring0_addr: ${IP[n2]}
    }
    node {
        name: n3
        nodeid: 3
        ring0_addr: ${IP[n3]}
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
start_node() {      # corosync + pacemaker in private mount/uts/pid namespaces
  local n=$1 d=$W/$1
  setsid ip netns exec $P-$n unshare --mount --uts --pid --fork --mount-proc \
      --propagation private sh -c "
    hostname $n
    mount --bind $d/etc-corosync  /etc/corosync
    mount --bind $d/lib-corosync  /var/lib/corosync
    mount --bind $d/log-corosync  /var/log/corosync
    mount --bind $d/lib-pacemaker /var/lib/pacemaker
    mount --bind $d/log-pacemaker /var/log/pacemaker
    mount -t tmpfs -o mode=755 tmpfs /run
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm
    mkdir -p /run/resource-agents /run/corosync
    install -d -o hacluster -g haclient -m 770 /run/crm /run/pacemaker
    corosync -f -c /etc/corosync/corosync.conf &
    sleep 1
    PCMK_logfacility=none PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd &
    wait" > >(stamp >> "$B/node-$n.log") 2>&1 &
  NPID[$n]=$!
}
# run a command inside node $1's namespaces (net + mount + uts)
on() {
  local n=$1 p; shift
  for p in $(ip netns pids $P-$n); do
    [ "$(cat /proc/$p/comm 2>/dev/null)" = corosync ] && break
  done
  nsenter -t "$p" -n -m -u "$@"
}
crash_node() {      # kill -9 everything in n1's netns except our ip monitor
  local n=$1 p pids=()
  for p in $(ip netns pids $P-$n); do
    [ "$p" = "${MONPID[$n]}" ] || pids+=("$p")
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "${NPID[$n]}" "${HPID[$n]}" 2>/dev/null || true
}
stop_all_nodes() {  # end of a block: nothing is measured any more, so just kill -9
  local n p
  for n in $NODES; do
    for p in $(ip netns pids $P-$n); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for n in $NODES; do wait "${NPID[$n]}" "${HPID[$n]}" 2>/dev/null || true; done
}

event() { echo "$EPOCHREALTIME $*" >> "$B/events.log"; }
holders() {
  local n h=""
  for n in $NODES; do
    ip -n $P-$n -o addr show dev eth0 | grep " $VIP/" >/dev/null && h+="$n,"  # no -q: SIGPIPE + pipefail
  done
  echo "${h%,}"
}
wait_client() {
  local n=$1 deadline=$((SECONDS + $2))
  while [ "$(tail -n 5 "$B/client.log" 2>/dev/null | grep -c " ok $n\$")" != 5 ]; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
}
inject() {
  case $1 in
    crash)     crash_node n1 2>/dev/null ;;   # (hides bash's "Killed" job notices)
    linkdown)  ip -n $P-sw link set ${P}p-n1 down ;;
    partition) ip -n $P-sw link set ${P}p-n1 nomaster ;;
  esac
}
repair() {
  case $1 in
    crash)     ip -n $P-n1 addr del $VIP/24 dev eth0 2>/dev/null || true
               start_http n1; start_node n1 ;;
    linkdown)  ip -n $P-sw link set ${P}p-n1 up ;;
    partition) ip -n $P-sw link set ${P}p-n1 master ${P}br0 ;;
  esac
}

configure_cluster() {   # through n1
  local n
  on n1 crm_attribute -t crm_config -n stonith-enabled -v false
  on n1 crm_attribute -t crm_config -n no-quorum-policy -v stop
  on n1 cibadmin -C -o resources -X "<primitive id='vip' class='ocf' provider='heartbeat' type='IPaddr2'>
      <instance_attributes id='vip-ia'>
        <nvpair id='vip-ip' name='ip' value='$VIP'/>
        <nvpair id='vip-mask' name='cidr_netmask' value='24'/>
        <nvpair id='vip-nic' name='nic' value='eth0'/>
      </instance_attributes>
      <operations><op id='vip-mon' name='monitor' interval='2s' timeout='20s'/></operations>
    </primitive>"
  for n in $NODES; do
    on n1 cibadmin -C -o constraints -X "<rsc_location id='vip-on-$n' rsc='vip' node='$n' score='${SCORE[$n]}'/>"
  done
}

declare -A MONPID
run_block() {
  local sc=$1 n rep
  B=$OUT/${TAG}pcmk-$sc
  mkdir -p "$B"
  : > "$B/events.log"
  event CONFIG scenario=$sc reps=$REPS token=${TOKEN:-default} pacemaker="$(pacemakerd --version | head -1)" corosync="$(corosync -v | head -1)"
  for n in $NODES c; do
    event MAC $n "$(ip -n $P-$n -o link show dev eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)"
  done
  BGPIDS=()
  for n in $NODES; do
    ip -n $P-$n monitor address > >(stamp >> "$B/addr-$n.log") 2>&1 &
    MONPID[$n]=$!; BGPIDS+=($!)
  done
  ip -n $P-c monitor neigh > >(stamp >> "$B/neigh-c.log") 2>&1 & BGPIDS+=($!)
  for n in $NODES; do rm -rf "${W:?}/$n"; prep_node_dirs $n; start_http $n; start_node $n; done
  local deadline=$((SECONDS + 120))
  until on n1 crm_mon -1 2>/dev/null | grep -q "partition with quorum"; do
    [ $SECONDS -ge $deadline ] && { echo "cluster did not form" >&2; return 1; }
    sleep 1
  done
  until on n1 crm_mon -1 2>/dev/null | grep -q "3 nodes configured"; do sleep 1; done
  until [ "$(on n1 crm_mon -1 2>/dev/null | grep -c 'Online: \[ n1 n2 n3 \]')" = 1 ]; do
    [ $SECONDS -ge $deadline ] && { echo "nodes not online" >&2; return 1; }
    sleep 1
  done
  configure_cluster
  ip netns exec $P-c $PY -u "$HERE/failover-client.py" $VIP 80 0.01 0.05 > "$B/client.log" &
  BGPIDS+=($!)
  wait_client n1 120 || { echo "n1 never answered on the VIP" >&2; return 1; }
  sleep 3
  for rep in $(seq 1 "$REPS"); do
    wait_client n1 "$MAXWAIT" || echo "rep $rep: n1 not answering before fault" >&2
    sleep 2
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"   # random phase vs. the advert/token timers
    event FAIL "$rep" "$sc" holders="$(holders)"
    inject "$sc"
    wait_client n2 "$MAXWAIT" || echo "rep $rep: no failover to n2 within $MAXWAIT s" >&2
    sleep 1
    event HOLDERS "$rep" "$(holders)"
    sleep 4
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"   # random phase for the repair too
    event RECOVER "$rep" "$sc" holders="$(holders)"
    repair "$sc"
    wait_client n1 "$MAXWAIT" || echo "rep $rep: n1 did not take the VIP back within $MAXWAIT s" >&2
    sleep 3
    event STABLE "$rep" "$(holders)"
    echo "pacemaker $sc rep $rep done"
  done
  on n1 crm_mon -1 > "$B/crm_mon-end.txt" 2>&1 || true
  kill "${BGPIDS[@]}" 2>/dev/null || true
  wait "${BGPIDS[@]}" 2>/dev/null || true
  stop_all_nodes 2>/dev/null
  for n in $NODES; do ip -n $P-$n addr del $VIP/24 dev eth0 2>/dev/null || true; done
  event END
}

mk_testbed
for sc in $SCENARIOS; do run_block "$sc"; done
$PY "$HERE/failover-analyze.py" "$OUT"
