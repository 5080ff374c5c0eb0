#!/usr/bin/env bash
# make bench: CNI ADD/DEL benchmark against the reference plugins, inside a
# throwaway node netns with its own pod namespaces. Cleans up on any exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=xdpb$$
NODE=${TAG}n
PAR=${BENCH_PARALLEL:-100}
WORK=$(mktemp -d /tmp/${TAG}.XXXX)

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
cleanup() {
	for i in $(seq 0 $((PAR - 1))); do echo "netns del ${TAG}p$i"; done > "$WORK/del.batch"
	echo "netns del ${TAG}fill" >> "$WORK/del.batch"
	ip -force -batch "$WORK/del.batch" 2>/dev/null || true
	ip netns del "$NODE" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NODE"
ip netns exec "$NODE" ip link set lo up
for i in $(seq 0 $((PAR - 1))); do echo "netns add ${TAG}p$i"; done > "$WORK/add.batch"
echo "netns add ${TAG}fill" >> "$WORK/add.batch"
ip -batch "$WORK/add.batch"
/usr/bin/python3 "$ROOT/bench/cni_bench.py" "$ROOT/build/bin" "$WORK" "$TAG"
