#!/usr/bin/env bash
# make bench-policy: what NetworkPolicy costs per packet as the number of
# allow entries grows (0, 100, 10 000, 100 000 by default), as ratios against
# baselines measured in the same run:
#   1. bench/policy_prog_bench  from_pod under BPF_PROG_TEST_RUN: ns/packet of
#      an allowed SYN, an established ACK and a denied SYN against N=0 and
#      against policy off (private maps pinned under /sys/fs/bpf/xdpath-polbench-*)
#   2. bench/policy_rr_bench.py  same-node pod-to-pod sockperf TCP ping-pong:
#      xdpath (agent + NetworkPolicy + N filler entries) against the host-routed
#      sandbox with iptables (linear chain, and ipset) enforcing the same
#      allow-list, evaluated for every packet
#   3. bench/policy_agent_bench.py  policy update latency (manifest change ->
#      enforced, seen by probes) at 100 and 1000 pods, and the agent's RSS with
#      10 000 pods, 1 000 namespaces and 10 000 NetworkPolicies
# Everything lives in namespaces and pin directories the benchmarks create and
# remove (also on Ctrl-C).
#
# Environment (defaults in brackets):
#   BENCH_POL_PART          prog | rr | agent | all [all]
#   BENCH_POL_SIZES         allow entries, ascending [0,100,10000,100000]
#   BENCH_POL_PROG_REPEATS  repeats of the test_run part [9]
#   BENCH_POL_PACKETS       packets per test_run sample [200000]
#   BENCH_POL_PROG_CPU      pin the test_run part to a CPU ["none"]
#   BENCH_POL_PROG_JSON     test_run samples as JSON
#   BENCH_POL_REPEATS, BENCH_POL_SECONDS, BENCH_POL_MSG, BENCH_POL_RR_CPU,
#   BENCH_POL_ONLY, BENCH_POL_LINEAR_MAX, BENCH_POL_IPTABLES, BENCH_POL_JSON
#                           the RR part: see bench/policy_rr_bench.py
#   BENCH_POL_AGENT_SIZES   cluster sizes of the update-latency part [100,1000];
#                           BENCH_POL_TOGGLES, BENCH_POL_RSS_*: bench/policy_agent_bench.py
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROG="$ROOT/build/bench/policy_prog_bench"
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
[ -x "$PROG" ] || { echo "bench: $PROG missing (make build/bench/policy_prog_bench)" >&2; exit 1; }
export BENCH_POL_SIZES=${BENCH_POL_SIZES:-0,100,10000,100000}
export BENCH_POL_PROG_REPEATS=${BENCH_POL_PROG_REPEATS:-9}
export BENCH_POL_PACKETS=${BENCH_POL_PACKETS:-200000}
part=${BENCH_POL_PART:-all}
case "$part" in
prog | rr | agent | all) ;;
*) echo "bench: BENCH_POL_PART=$part: prog, rr, agent or all" >&2; exit 1 ;;
esac
rc=0
if [ "$part" = prog ] || [ "$part" = all ]; then
	start=$SECONDS
	"$PROG" || rc=1
	echo "(test_run part: $((SECONDS - start)) s)"
fi
if [ "$part" = rr ] || [ "$part" = all ]; then
	start=$SECONDS
	/usr/bin/python3 "$ROOT/bench/policy_rr_bench.py" || rc=1
	echo "(RR part: $((SECONDS - start)) s)"
fi
if [ "$part" = agent ] || [ "$part" = all ]; then
	start=$SECONDS
	# its own sizes: pods in the cluster, not allow entries
	BENCH_POL_SIZES=${BENCH_POL_AGENT_SIZES:-100,1000} \
		/usr/bin/python3 "$ROOT/bench/policy_agent_bench.py" || rc=1
	echo "(agent part: $((SECONDS - start)) s)"
fi
exit $rc
