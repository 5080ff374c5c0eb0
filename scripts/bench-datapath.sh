#!/usr/bin/env bash
# make bench, part 2: pod-to-pod throughput (iperf3) and TCP request/response
# latency (sockperf) for xdpath, host routing, the bridge plugin and the
# direct veth / underlay limits; see bench/datapath_bench.py for the setups
# and BENCH_DP_* settings. Everything lives in namespaces the benchmark
# creates and removes (also on Ctrl-C).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
exec /usr/bin/python3 "$ROOT/bench/datapath_bench.py"
