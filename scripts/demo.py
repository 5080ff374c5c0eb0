#!/usr/bin/python3
"""xdpath demo: a 2-node x 2-pod sandbox cluster (network namespaces over an
underlay bridge), each node running xdpathd, every pod wired by the real CNI
plugin. Shows same-node and cross-node traffic forwarded by the eBPF datapath
(the redirect counters rise), the endpoints the agent knows, and tears
everything down. Everything lives in namespaces this script creates."""
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")


def step(msg):
    print(f"\n\033[1m== {msg}\033[0m", flush=True)


def ctl(node, *args, json_out=False):
    argv = [CTL, "--socket", node.socket, *args] + (["-o", "json"] if json_out else [])
    out = sandbox.run(argv).stdout
    return json.loads(out) if json_out else out


def forwarded(node):
    fwd = ctl(node, "metrics", json_out=True)["forward"]
    return {k: v["packets"] for k, v in fwd.items()}


def main():
    mode = os.environ.get("DEMO_MODE", "native")
    step(f"sandbox cluster: 2 nodes x 2 pods, datapath mode {mode}")
    with sandbox.Cluster(nodes=2, pods=2, mode=mode, agent=True) as c:
        for n in c.nodes:
            print(f"node {n.name}: uplink {n.ip4} / {n.ip6}, pod CIDRs {n.pod_cidr4} {n.pod_cidr6}")
        for p in c.pods:
            print(f"  pod {p.namespace}/{p.name:6} on {p.node.name}: {p.ip4:12} {p.ip6}")

        a, same, cross = c.pod("n1p1"), c.pod("n1p2"), c.pod("n2p1")
        n1 = c.nodes[0]
        before = forwarded(n1)

        step("same-node and cross-node pings (IPv4 and IPv6)")
        for dst, where in ((same, "same node"), (cross, "other node")):
            for fam in (4, 6):
                ok = a.ping(dst.ip(fam), count=3)
                print(f"  {a.name} -> {dst.name} ({where}, IPv{fam} {dst.ip(fam)}): "
                      f"{'ok' if ok else 'FAILED'}")
                if not ok:
                    return 1

        step("TCP across nodes (iperf3, 2 s)")
        cross.exec("iperf3", "-s", "-D", "-1", "-B", cross.ip4)
        sandbox.time.sleep(0.3)
        res = json.loads(a.exec("iperf3", "-c", cross.ip4, "-t", "2", "-J").stdout)
        print(f"  {a.name} -> {cross.name}: "
              f"{res['end']['sum_received']['bits_per_second'] / 1e9:.1f} Gbit/s")

        step(f"datapath forwarding counters on {n1.name} (before -> after)")
        after = forwarded(n1)
        for k in after:
            print(f"  {k:15} {before.get(k, 0):8} -> {after[k]:8}")
        remote = "tunnel" if mode == "vxlan" else "redirect_neigh"
        if after["redirect_peer"] <= before["redirect_peer"] or after[remote] <= before[remote]:
            print("  the redirect counters did not rise")
            return 1

        step(f"xdpathctl endpoint list ({n1.name})")
        print(ctl(n1, "endpoint", "list"))
        step(f"xdpathctl status ({n1.name})")
        print(ctl(n1, "status"))
        step("tearing down")
    print("demo done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
