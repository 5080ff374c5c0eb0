#!/usr/bin/env bash
# make demo: a 2-node sandbox cluster on the eBPF datapath, driven with kubectl
# through a test Kubernetes API server (see demo.py).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces, BPF)" >&2; exit 1; }
exec /usr/bin/python3 "$(dirname "$0")/demo.py" "$@"
