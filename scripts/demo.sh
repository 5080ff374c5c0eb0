#!/usr/bin/env bash
# xdpath demo: a throwaway node (a network namespace), three pods wired by the
# real CNI plugin (dual-stack), their addresses, pings between them, and a
# clean teardown. Everything lives in namespaces this script creates.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLUGIN=$ROOT/build/bin/xdpath
TAG=xdpdemo$$
NODE=${TAG}n
WORK=$(mktemp -d /tmp/${TAG}.XXXX)
PODS=(web api db)

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }
[ -x "$PLUGIN" ] || { echo "demo: $PLUGIN missing; run make" >&2; exit 1; }

cleanup() {
	for p in "${PODS[@]}"; do ip netns del "$TAG$p" 2>/dev/null || true; done
	ip netns del "$NODE" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cat > "$WORK/conf.json" <<JSON
{"cniVersion":"1.1.0","name":"demo","type":"xdpath","mtu":1500,
 "endpointDir":"$WORK/endpoints",
 "ipam":{"type":"xdpath","dataDir":"$WORK/ipam",
         "ranges":[[{"subnet":"10.244.1.0/24"}],[{"subnet":"fd00:10:244:1::/64"}]]}}
JSON

cni() { # cni COMMAND POD
	ip netns exec "$NODE" env -i CNI_COMMAND="$1" CNI_CONTAINERID="$TAG-$2" \
		CNI_NETNS="/run/netns/$TAG$2" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2" \
		"$PLUGIN" < "$WORK/conf.json"
}

step "node: network namespace $NODE"
ip netns add "$NODE"
ip netns exec "$NODE" ip link set lo up

declare -A IP4 IP6
for p in "${PODS[@]}"; do
	ip netns add "$TAG$p"
	step "CNI ADD pod demo/$p"
	res=$(cni ADD "$p")
	echo "$res" | jq -c '{interfaces: [.interfaces[] | {name, sandbox}], ips: [.ips[].address]}'
	IP4[$p]=$(echo "$res" | jq -r '.ips[] | select(.address | contains(".")) | .address' | cut -d/ -f1)
	IP6[$p]=$(echo "$res" | jq -r '.ips[] | select(.address | contains(":")) | .address' | cut -d/ -f1)
done

step "pod addresses and routes (pod web)"
ip netns exec "${TAG}web" ip -br addr show dev eth0
ip netns exec "${TAG}web" ip route
ip netns exec "${TAG}web" ip -6 route show default

step "node: host veths and routes to the pods"
ip netns exec "$NODE" ip -br link show type veth
ip netns exec "$NODE" ip route

step "pings between pods (IPv4 and IPv6)"
for pair in "web api" "api db" "db web"; do
	set -- $pair
	ip netns exec "$TAG$1" ping -c1 -W2 "${IP4[$2]}" | sed -n 2p
	ip netns exec "$TAG$1" ping -6 -c1 -W2 "${IP6[$2]}" | sed -n 2p
done

step "endpoint records for the node agent ($WORK/endpoints)"
for f in "$WORK"/endpoints/*.json; do jq -c '{podNamespace, podName, hostIfname, hostIfindex, ips}' "$f"; done

step "CNI CHECK and DEL"
for p in "${PODS[@]}"; do
	prev=$(cni ADD "$p")   # a repeated ADD returns the same addresses
	jq --argjson r "$prev" '. + {prevResult: $r}' "$WORK/conf.json" > "$WORK/check.json"
	ip netns exec "$NODE" env -i CNI_COMMAND=CHECK CNI_CONTAINERID="$TAG-$p" \
		CNI_NETNS="/run/netns/$TAG$p" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
		"$PLUGIN" < "$WORK/check.json" && echo "CHECK $p: ok"
	cni DEL "$p" && echo "DEL $p: ok"
done
left=$(ip netns exec "$NODE" ip -br link show type veth | wc -l)
echo "host veths left on the node: $left"
[ "$left" -eq 0 ]
step "demo done; tearing down"
