#!/usr/bin/env bash
# make bench-filter: what the emergency XDP filters cost, as ratios against
# baselines measured in the same run:
#   1. build/bench/filter_prog_bench  xdp_uplink under BPF_PROG_TEST_RUN with
#      1, 64 and 1024 exact rules (source addresses, UDP ports), 64 and
#      1500 B packets that pass and that are dropped: ns/packet against
#      xdp-tools' xdp-filter loaded with the same rules, and against one rule
#      (private maps pinned under /sys/fs/bpf/xdpath-fltbench-*)
#   2. bench/filter_push_bench.py  push-to-effect latency on a 2-node sandbox
#      cluster: `xdpathctl filter add` -> a 5 000 packets/s UDP stream stops,
#      cross-node on the uplink (with the XDP attach the first uplink rule
#      costs, and with XDP already attached) and same-node on the pods' veths;
#      p50/p99/max against the 50 ms target, and the CLI call's own duration
# Everything lives in namespaces, pin directories and files the benchmarks
# create and remove (also on Ctrl-C).
#
# Environment (defaults in brackets):
#   BENCH_FLT_PART            prog | push | all [all]
#   BENCH_FLT_REPEATS         repeats of the test_run part [11]
#   BENCH_FLT_PACKETS         packets per test_run sample [200000]
#   BENCH_FLT_CPU             CPU the test_run part is pinned to [0]
#   BENCH_FLT_JSON            test_run results as JSON
#   BENCH_FLT_PUSHES          pushes per case of the push part [20]
#   BENCH_FLT_ATTACH_PUSHES   pushes that attach XDP [BENCH_FLT_PUSHES]
#   BENCH_FLT_PERIOD_US       the stream's packet interval [200]
#   BENCH_FLT_PUSH_JSON       push samples as JSON
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROG="$ROOT/build/bench/filter_prog_bench"
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
part=${BENCH_FLT_PART:-all}
case "$part" in
prog | push | all) ;;
*) echo "bench: BENCH_FLT_PART=$part: prog, push or all" >&2; exit 1 ;;
esac
if [ "$part" != push ]; then
	[ -x "$PROG" ] || { echo "bench: $PROG missing (make build/bench/filter_prog_bench)" >&2; exit 1; }
fi
if [ "$part" != prog ]; then
	for b in xdpath xdpathd xdpathctl; do
		[ -x "$ROOT/build/bin/$b" ] || { echo "bench: build/bin/$b missing (make)" >&2; exit 1; }
	done
fi
rc=0
if [ "$part" = prog ] || [ "$part" = all ]; then
	start=$SECONDS
	args=(--repeats "${BENCH_FLT_REPEATS:-11}" --packets "${BENCH_FLT_PACKETS:-200000}"
		--cpu "${BENCH_FLT_CPU:-0}")
	[ -z "${BENCH_FLT_JSON:-}" ] || args+=(--json "$BENCH_FLT_JSON")
	"$PROG" "${args[@]}" || rc=1
	echo "(test_run part: $((SECONDS - start)) s)"
fi
if [ "$part" = push ] || [ "$part" = all ]; then
	start=$SECONDS
	/usr/bin/python3 "$ROOT/bench/filter_push_bench.py" || rc=1
	echo "(push part: $((SECONDS - start)) s)"
fi
exit $rc
