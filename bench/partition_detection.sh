#!/usr/bin/env bash
# How long a partition takes to fail both sides' pending operations, with
# default endpoint options (the remote heartbeat: 1 s, deadline 5 s), next
# to a process kill on the same two test hosts. Two network namespaces on a
# bridge, UCX over tcp on their veths; the link is cut at the bridge (no
# RST, both processes alive). Needs root (ip netns); exits 77 without it.
#   bench/partition_detection.sh BUILD_DIR [REPEAT]
# Prints, per fault and phase, ms from the fault to each side's error line:
# median [min-max] over REPEAT runs.
set -uo pipefail
build=${1:?usage: partition_detection.sh BUILD_DIR [REPEAT]}
repeat=${2:-3}
side=$build/tests/ucoro_test_partition_side
[ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1 || { echo "SKIP: ip netns needs root"; exit 77; }
p=ucbench$$
cleanup() { for n in h1 h2 sw; do ip netns del $p$n 2>/dev/null; done; }
trap cleanup EXIT
ip netns add ${p}sw && ip -n ${p}sw link add br0 type bridge && ip -n ${p}sw link set br0 up || exit 1
for i in 1 2; do
  ip netns add ${p}h$i
  ip link add veth0 netns ${p}h$i type veth peer name p$i netns ${p}sw
  ip -n ${p}sw link set p$i master br0 && ip -n ${p}sw link set p$i up
  ip -n ${p}h$i addr add 198.18.0.$i/15 dev veth0 && ip -n ${p}h$i link set veth0 up && ip -n ${p}h$i link set lo up
done
on() { local h=$1; shift; ip netns exec $p$h env UCX_TLS=tcp UCX_NET_DEVICES=veth0 UCX_WARN_UNUSED_ENV_VARS=n "$@"; }
now_ms() { date +%s%3N; }

# run FAULT SERVER_MODE CLIENT_MODE READY: one measurement, "server_ms client_ms".
run() {
  local fault=$1 smode=$2 cmode=$3 ready=$4 dir port=$((20000 + RANDOM % 10000))
  dir=$(mktemp -d)
  on h1 "$side" serve $port "$smode" >"$dir/s" 2>/dev/null & local spid=$!
  for _ in $(seq 100); do grep -q listening "$dir/s" && break; sleep 0.1; done
  on h2 "$side" connect 198.18.0.1 $port "$cmode" >"$dir/c" 2>/dev/null & local cpid=$!
  for _ in $(seq 300); do grep -q "$ready" "$dir/s" && grep -q "$ready" "$dir/c" && break; sleep 0.1; done
  local t0
  t0=$(now_ms)
  if [ "$fault" = partition ]; then ip -n ${p}sw link set p2 down; else pkill -KILL -f "ucoro_test_partition_side connect 198.18.0.1 $port"; fi
  local s_ms=- c_ms=-
  for _ in $(seq 300); do # 30 s bound
    [ "$s_ms" = - ] && grep -q "^failed" "$dir/s" && s_ms=$(($(now_ms) - t0))
    [ "$c_ms" = - ] && { [ "$fault" = kill ] || grep -q "^failed" "$dir/c"; } && c_ms=$([ "$fault" = kill ] && echo 0 || echo $(($(now_ms) - t0)))
    [ "$s_ms" != - ] && [ "$c_ms" != - ] && break
    sleep 0.01
  done
  kill -9 $spid $cpid 2>/dev/null; wait $spid $cpid 2>/dev/null
  ip -n ${p}sw link set p2 up
  rm -rf "$dir"
  echo "$s_ms $c_ms"
}

stats() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} printf "%d [%d-%d]", a[int((NR+1)/2)], a[1], a[NR]}'; }

echo "fault      phase      server ms median [min-max]   client ms median [min-max]   (repeat $repeat)"
for fault in kill partition; do
  for phase in idle streaming; do
    if [ $phase = idle ]; then modes="idle idle connected"; else modes="sink stream streaming"; fi
    out=$(for _ in $(seq "$repeat"); do run $fault $modes; done)
    s=$(echo "$out" | awk '$1 != "-" {print $1}' | stats)
    c=$(echo "$out" | awk '$2 != "-" {print $2}' | stats)
    printf "%-10s %-10s %-28s %s\n" $fault $phase "$s" "$([ $fault = kill ] && echo "(killed)" || echo "$c")"
  done
done
