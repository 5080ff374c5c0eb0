#!/usr/bin/env bash
# make bench-k8s: xdpathd as a Kubernetes controller at cluster scale
# (bench/k8s_agent_bench.py): initial sync time and RSS with 10 000 pods,
# 1 000 namespaces and 10 000 NetworkPolicies served by the test API server,
# and watch-event -> map-update latency (p50/p99), each against the same
# agent on an empty cluster in the same run; the sync also against a plain
# client listing the same objects, the RSS against the policyDir source with
# the same objects. Targets: sync <= 5 s, RSS <= 100 MB, p99 <= 100 ms.
# Everything lives in namespaces the benchmark creates and removes.
#
# Environment (defaults in brackets): BENCH_K8S_PODS [10000], BENCH_K8S_NS
# [1000], BENCH_K8S_POLICIES [10000], BENCH_K8S_LOCAL [20],
# BENCH_K8S_TOGGLES [30], BENCH_K8S_POLDIR [1], BENCH_K8S_JSON.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
for b in xdpath xdpathd xdpathctl; do
	[ -x "$ROOT/build/bin/$b" ] || { echo "bench: build/bin/$b missing (make)" >&2; exit 1; }
done
exec /usr/bin/python3 "$ROOT/bench/k8s_agent_bench.py"
