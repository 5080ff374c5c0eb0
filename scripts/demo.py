#!/usr/bin/python3
"""xdpath demo: a 2-node sandbox cluster (network namespaces over an underlay
bridge) with a Kubernetes API server (the test server, test/k8s/apiserver.py,
in the cluster's external host: the "control plane"). Each node runs xdpathd
with nothing but a kubeconfig: its addresses and pod CIDRs come from its Node
object, its peers from the other Node objects. Every pod is wired by the real
CNI plugin and registered as a Pod object.

Shows same-node and cross-node traffic forwarded by the eBPF datapath (the
redirect counters rise); then `kubectl apply` of a NetworkPolicy that lets
only the web pod reach the database on TCP 5432: enforced in BPF (with the
time from kubectl to the flow being denied), explained by xdpathctl, counted
against the pod it protects, re-evaluated when `kubectl label` changes a
pod's labels, and lifted by `kubectl delete`; then an emergency filter pushed
live (count-only, then drop, watched, removed), a catalog mitigation, and an
XdpFilter object applied with kubectl reaching every node; /readyz and
/metrics. Tears everything down. Everything lives in namespaces (and a temp
directory) this script creates."""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "test", "k8s"))
import sandbox  # noqa: E402
from apiserver import ApiServer  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
HTTP = "127.0.0.1:9890"


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

POLICY_YAML = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-from-web
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: web}
    ports:
    - {protocol: TCP, port: 5432}
"""


class Kube:
    """kubectl and the API server, as the cluster's operators see them."""

    def __init__(self, c, srv, kubeconfig):
        self.c, self.srv, self.kubeconfig = c, srv, kubeconfig

    def kubectl(self, *args, input=None, show=True):
        if show:
            print(f"  $ kubectl {' '.join(args)}")
        r = subprocess.run(["ip", "netns", "exec", self.c.external.netns, "kubectl",
                            "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, timeout=30)
        if r.returncode:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {r.stderr.strip()}")
        if show and r.stdout.strip():
            print("    " + r.stdout.strip().replace("\n", "\n    "))
        return r.stdout

    def register(self, pods):
        """What the kubelet would report: the namespace and each pod with its IPs."""
        for ns in sorted({p.namespace for p in pods}):
            self.srv.create("namespaces", {"metadata": {"name": ns}})
        for p in pods:
            self.srv.create("pods", {
                "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
                "spec": {"nodeName": p.node.name},
                "status": {"phase": "Running", "podIP": p.ip4,
                           "podIPs": [{"ip": ip} for ip in (p.ip4, p.ip6) if ip]}},
                namespace=p.namespace)


def http(node, path):
    return node.exec("curl", "-s", f"http://{HTTP}{path}", check=False).stdout


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


def policy_demo(k, web, db, other):
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
        print("  " + POLICY_YAML.replace("\n", "\n  ").rstrip())
        t0 = time.monotonic()
        k.kubectl("apply", "-f", "-", input=POLICY_YAML)
        # Timed with pings that give up after 0.2 s (a denied TCP connect
        # would only show after its own timeout).
        if not until(lambda: not other.exec("ping", "-n", "-c1", "-W0.2", db.ip4,
                                            check=False).returncode == 0):
            print("  the policy was not enforced")
            return 1
        print(f"  denied {(time.monotonic() - t0) * 1000:.0f} ms after `kubectl apply` started "
              f"(kubectl itself included)")
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
        step("kubectl label: the other pod becomes app=web, and is let in")
        k.kubectl("label", "pod", "other", "-n", "shop", "app=web", "--overwrite")
        if not until(lambda: connect(other, db)[0]):
            print("  the label change was not re-evaluated")
            return 1
        print(f"  {other.name} -> db:5432  allowed")
        k.kubectl("label", "pod", "other", "-n", "shop", "app=other", "--overwrite")
        if not until(lambda: not connect(other, db)[0]):
            print("  the label change back was not re-evaluated")
            return 1
        print(f"  {other.name} -> db:5432  denied again")
        step("kubectl delete: everything reachable again")
        k.kubectl("delete", "networkpolicy", "db-from-web", "-n", "shop")
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


def xdpfilter_demo(k, nodes):
    """The cluster-wide way: one XdpFilter object, a rule on every node."""
    step("an XdpFilter object with kubectl: the same mitigation on every node")
    with open(os.path.join(ROOT, "deploy", "examples", "xdpfilter-memcached-flood.yaml")) as f:
        text = f.read()
    print("  " + text.strip().replace("\n", "\n  "))
    k.kubectl("apply", "-f", "-", input=text)
    name = "crd:" + next(l.split(":", 1)[1].strip() for l in text.splitlines()
                         if l.strip().startswith("name:"))

    def everywhere(present):
        return all((name in {r["name"] for r in ctl(n, "filter", "list", json_out=True)["filters"]})
                   == present for n in nodes)
    if not until(lambda: everywhere(True)):
        print(f"  {name} did not reach every node")
        return 1
    for n in nodes:
        rule = next(r for r in ctl(n, "filter", "list", json_out=True)["filters"] if r["name"] == name)
        print(f"  {n.name}: {rule['name']}  {rule.get('action')}  {rule.get('expr', rule.get('rule', ''))}")
    k.kubectl("delete", "xdpfilter", name[4:])
    if not until(lambda: everywhere(False)):
        print(f"  {name} was not removed")
        return 1
    print(f"  {name} removed from every node")
    return 0


def main():
    mode = os.environ.get("DEMO_MODE", "native")
    step(f"sandbox cluster: 2 nodes, a Kubernetes API server, 3 pods in namespace shop, "
         f"datapath mode {mode}")
    return run(mode)


def start_cluster(c):
    """The API server in the external host, the Node objects, the agents."""
    srv = ApiServer(host=sandbox.EXT4, netns=c.external.netns).start()
    kc = srv.kubeconfig(os.path.join(c.state_dir, "kubeconfig"))
    for n in c.nodes:
        srv.create("nodes", {"metadata": {"name": n.name}, "spec": {"podCIDRs": n.pod_cidrs},
                             "status": {"addresses": [{"type": "InternalIP", "address": n.ip4},
                                                      {"type": "InternalIP", "address": n.ip6}]}})
    # Nothing node-specific in the agents' config: the Node objects have it.
    c.agent_extra = {"kubernetes": {"kubeconfig": kc}, "httpAddress": HTTP, "peers": None,
                     "nodeIP": None, "nodeIP6": None, "podCIDRs": None}
    for n in c.nodes:
        c.start_agent(n)
    print(f"  API server {srv.url} (in {c.external.netns}); agents ready")
    return Kube(c, srv, kc)


def run(mode):
    srv = None
    with sandbox.Cluster(nodes=2, pods=0, mode=mode, agent=False) as c:
        try:
            k = start_cluster(c)
            srv = k.srv
            return demo(c, k, mode)
        finally:
            if srv:
                srv.stop()


def demo(c, k, mode):
    n1, n2 = c.nodes
    a = c.add_pod(n1, name="web", namespace="shop", labels={"app": "web"})
    same = c.add_pod(n1, name="other", namespace="shop", labels={"app": "other"})
    cross = c.add_pod(n2, name="db", namespace="shop", labels={"app": "db"})
    k.register(c.pods)
    for n in c.nodes:
        print(f"node {n.name}: uplink {n.ip4} / {n.ip6}, pod CIDRs {n.pod_cidr4} {n.pod_cidr6}")
    for p in c.pods:
        print(f"  pod {p.namespace}/{p.name:6} on {p.node.name}: {p.ip4:12} {p.ip6}")
    k.kubectl("get", "nodes")
    k.kubectl("get", "pods", "-n", "shop", "-o", "wide")
    if not until(lambda: all(ctl(n, "policy", "list", json_out=True)["stats"]["pods"] == 3
                             for n in c.nodes), timeout=10):
        print("the agents did not see the pods")
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
    time.sleep(0.3)
    res = json.loads(a.exec("iperf3", "-c", cross.ip4, "-t", "2", "-J").stdout)
    print(f"  {a.name} -> {cross.name}: "
          f"{res['end']['sum_received']['bits_per_second'] / 1e9:.1f} Gbit/s")

    step(f"datapath forwarding counters on {n1.name} (before -> after)")
    after = forwarded(n1)
    for key in after:
        print(f"  {key:15} {before.get(key, 0):8} -> {after[key]:8}")
    remote = "tunnel" if mode == "vxlan" else "redirect_neigh"
    if after["redirect_peer"] <= before["redirect_peer"] or after[remote] <= before[remote]:
        print("  the redirect counters did not rise")
        return 1

    step(f"xdpathctl endpoint list ({n1.name})")
    print(ctl(n1, "endpoint", "list"))
    step(f"xdpathctl status ({n1.name})")
    print(ctl(n1, "status"))
    if policy_demo(k, a, cross, same):
        return 1
    if filter_demo(c, a, cross, same):
        return 1
    if xdpfilter_demo(k, c.nodes):
        return 1

    step(f"health and metrics ({n2.name}, {HTTP})")
    ready = http(n2, "/readyz").strip()
    print(f"  /readyz: {ready}")
    if ready != "ok":
        return 1
    lines = http(n2, "/metrics").splitlines()
    shown = [l for l in lines if l.startswith(("xdpath_k8s_watch_events_total", "xdpath_k8s_synced",
                                               'xdpath_drops_total{reason="policy_denied"}',
                                               "xdpath_k8s_first_sync_seconds"))]
    print("  " + "\n  ".join(shown))
    if not shown:
        return 1
    step("tearing down")
    print("demo done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
