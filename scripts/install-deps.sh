#!/usr/bin/env bash
# Install every build and test dependency of xdpath from Debian packages.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

PKGS=(
  # build
  make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libmnl-dev
  libjson-c-dev libnftables-dev libyaml-dev libcurl4-openssl-dev pkg-config
  # tests
  iproute2 iputils-ping libcmocka-dev python3 python3-pytest python3-scapy python3-yaml iperf3 jq
  containernetworking-plugins golang-go golang-github-appc-cni-dev
  nftables iptables procps util-linux
  # benchmarks (iperf3 above; sockperf: request/response latency)
  sockperf ipset
  # the filter benchmark compares with xdp-tools' xdp-filter
  xdp-tools
  # fuzzing (libFuzzer runtime, sanitizers)
  libclang-rt-14-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# kubectl for the Kubernetes tests: any build on PATH will do (some machines
# carry a newer one than Debian's kubernetes-client, from another package).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
