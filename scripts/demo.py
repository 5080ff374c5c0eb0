#!/usr/bin/python3
"""xdpath demo: a 2-node sandbox cluster (network namespaces over an underlay
bridge), each node running xdpathd with a policy directory, every pod wired
by the real CNI plugin. Shows same-node and cross-node traffic forwarded by
the eBPF datapath (the redirect counters rise), then a NetworkPolicy that
lets only the web pod reach the database on TCP 5432: enforced in BPF,
explained by xdpathctl, counted against the pod it protects, and lifted
again; then an emergency filter pushed live (count-only, then drop, watched,
removed) and a catalog mitigation. Tears everything down. Everything lives in namespaces (and a temp
directory) this script creates."""
import json
import os
import shutil
import sys
import tempfile
import time

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


SERVE = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5432)); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"db says hi"); c.close()
"""
CONNECT = """
import socket, sys
try:
    print(socket.create_connection((sys.argv[1], 5432), timeout=1).recv(64).decode())
except OSError as e:
    print("refused or timed out:", e); sys.exit(1)
"""

POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "db-from-web", "namespace": "shop"},
          "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                   "policyTypes": ["Ingress"],
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                "ports": [{"protocol": "TCP", "port": 5432}]}]}}


def write(d, name, obj):
    with open(os.path.join(d, f".{name}"), "w") as f:
        json.dump(obj, f)
    os.replace(os.path.join(d, f".{name}"), os.path.join(d, name))


def manifests(d, pods):
    """What the API server would hold: the namespace and the pods' labels."""
    write(d, "ns-shop.json", {"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": "shop",
                                           "labels": {"kubernetes.io/metadata.name": "shop"}}})
    for p in pods:
        write(d, f"pod-{p.name}.json", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"nodeName": p.node.name},
            "status": {"podIPs": [{"ip": ip} for ip in (p.ip4, p.ip6) if ip]}})


def connect(src, dst):
    r = src.exec("python3", "-c", CONNECT, dst.ip4, check=False)
    return r.returncode == 0, r.stdout.strip()


def until(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def policy_demo(c, d, web, db, other):
    n_db = db.node
    step("NetworkPolicy: only app=web may reach the database, on TCP 5432")
    server = db.popen("python3", "-c", SERVE)
    try:
        time.sleep(0.3)
        for src in (web, other):
            ok, out = connect(src, db)
            print(f"  before: {src.name} -> db:5432  {'ok' if ok else 'FAILED'}  {out}")
            if not ok:
                return 1
        print(json.dumps(POLICY, indent=1))
        write(d, "db-from-web.json", POLICY)
        if not until(lambda: not connect(other, db)[0]):
            print("  the policy was not enforced")
            return 1
        for src, want in ((web, True), (other, False)):
            ok, out = connect(src, db)
            print(f"  after:  {src.name} -> db:5432  {'allowed' if ok else 'denied'}  {out}")
            if ok != want:
                return 1
        ping = other.ping(db.ip4, count=1, wait=1)
        print(f"  after:  {other.name} -> db ping  {'allowed' if ping else 'denied'}")
        if ping:
            return 1
        step(f"xdpathctl policy get shop/db ({n_db.name})")
        print(ctl(n_db, "policy", "get", "shop/db"))
        step("xdpathctl policy explain --from shop/other --to shop/db --port 5432/TCP")
        print(ctl(n_db, "policy", "explain", "--from", "shop/other", "--to", "shop/db",
                  "--port", "5432/TCP"))
        step(f"xdpathctl metrics: policy drops counted against the db pod ({n_db.name})")
        eps = ctl(n_db, "metrics", json_out=True)["endpoints"]
        for e in eps:
            print(f"  {e['podNamespace']}/{e['podName']:6} denied in {e['policy_denied_ingress']:3}"
                  f"  denied out {e['policy_denied_egress']:3}")
        step(f"xdpathctl policy drops ({n_db.name}): each denied packet, why, and who sent it")
        print(ctl(n_db, "policy", "drops"))
        step("deleting the policy: everything reachable again")
        os.unlink(os.path.join(d, "db-from-web.json"))
        if not until(lambda: connect(other, db)[0]):
            print("  still denied after the delete")
            return 1
        print(f"  {other.name} -> db:5432  ok")
        return 0
    finally:
        server.kill()
        server.wait()


def filter_demo(c, web, db, other):
    """An SRE pushes an emergency filter on db's node: count-only first, then
    drop, watched and removed; and a catalog mitigation. 1 on failure."""
    n_db = db.node
    rule = f"icmp and ip.src == {other.ip4}"
    step(f"emergency filter on {n_db.name}: '{rule}', count-only first")
    print(ctl(n_db, "filter", "check", rule))
    print(ctl(n_db, "filter", "add", "demo-icmp", rule, "--action", "count", "--expire", "10m"))
    ok = other.ping(db.ip4, count=3)
    print(f"  {other.name} -> {db.name} ping (counted, not dropped): {'ok' if ok else 'FAILED'}")
    if not ok:
        return 1
    print(ctl(n_db, "filter", "list"))

    step("enforcing it: the same rule with --action drop (XDP on the uplink)")
    ctl(n_db, "filter", "del", "demo-icmp")
    print(ctl(n_db, "filter", "add", "demo-icmp", rule, "--action", "drop", "--expire", "10m"))
    dropped = not other.ping(db.ip4, count=2)
    kept = web.ping(db.ip4, count=2)
    print(f"  {other.name} -> {db.name} ping: {'dropped' if dropped else 'NOT DROPPED'}")
    print(f"  {web.name} -> {db.name} ping: {'ok' if kept else 'FAILED'} (other traffic untouched)")
    if not dropped or not kept:
        return 1
    print(ctl(n_db, "filter", "list"))
    step(f"xdpathctl filter watch ({n_db.name}): sampled drops")
    print(ctl(n_db, "filter", "watch"))

    step("a catalog mitigation: SACK Panic (CVE-2019-11477)")
    print(ctl(n_db, "filter", "catalog", "CVE-2019-11477"))
    print(ctl(n_db, "filter", "enable", "CVE-2019-11477"))
    print(ctl(n_db, "filter", "list"))

    step("lifting the filters")
    ctl(n_db, "filter", "del", "demo-icmp")
    ctl(n_db, "filter", "disable", "CVE-2019-11477")
    if not other.ping(db.ip4, count=2):
        print("  still dropped after the delete")
        return 1
    print(f"  {other.name} -> {db.name} ping ok")
    return 0


def main():
    mode = os.environ.get("DEMO_MODE", "native")
    d = tempfile.mkdtemp(prefix="xdpath-demo-")
    os.chmod(d, 0o755)
    step(f"sandbox cluster: 2 nodes, 3 pods in namespace shop, datapath mode {mode}")
    try:
        return run(mode, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(mode, d):
    with sandbox.Cluster(nodes=2, pods=0, mode=mode, agent=True,
                         agent_extra={"policyDir": d}) as c:
        n1, n2 = c.nodes
        a = c.add_pod(n1, name="web", namespace="shop", labels={"app": "web"})
        same = c.add_pod(n1, name="other", namespace="shop", labels={"app": "other"})
        cross = c.add_pod(n2, name="db", namespace="shop", labels={"app": "db"})
        manifests(d, c.pods)
        for n in c.nodes:
            print(f"node {n.name}: uplink {n.ip4} / {n.ip6}, pod CIDRs {n.pod_cidr4} {n.pod_cidr6}")
        for p in c.pods:
            print(f"  pod {p.namespace}/{p.name:6} on {p.node.name}: {p.ip4:12} {p.ip6}")
        if not until(lambda: all(json.loads(sandbox.run(
                [CTL, "--socket", n.socket, "policy", "list", "-o", "json"]).stdout)
                ["stats"]["pods"] == 3 for n in c.nodes), timeout=10):
            print("the agents did not load the pod manifests")
            return 1
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
        if policy_demo(c, d, a, cross, same):
            return 1
        if filter_demo(c, a, cross, same):
            return 1
        step("tearing down")
    print("demo done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
