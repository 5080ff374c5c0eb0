#!/usr/bin/python3
"""xdpath demo: a 2-node sandbox cluster (network namespaces over an underlay
bridge) with a Kubernetes API server (the test server, test/k8s/apiserver.py,
in the cluster's external host: the "control plane"). Each node runs xdpathd
with nothing but a kubeconfig: its addresses and pod CIDRs come from its Node
object, its peers from the other Node objects. Every pod is wired by the real
CNI plugin and registered as a Pod object (and its Namespace).

Shows same-node and cross-node traffic forwarded by the eBPF datapath (the
redirect counters rise); then `kubectl apply` of a NetworkPolicy that lets
only the web pod reach the database on TCP 5432: the flow from the other pod
goes from allowed to denied in BPF (with the time from kubectl to the flow
being denied), listed and explained by xdpathctl, counted against the pod it
protects, re-evaluated when `kubectl label` changes a pod's labels, and
lifted by `kubectl delete`; then an emergency filter pushed live
(count-only, then drop, watched, removed), a catalog mitigation, and an
XdpFilter object applied with kubectl reaching every node as a crd:NAME
filter; /readyz and /metrics. Every step checks what it shows: the demo exits
non-zero as soon as something is not as claimed. Tears everything down, also
on an error, Ctrl-C or SIGTERM. Everything lives in namespaces (and temp
directories) this script creates."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "test", "k8s"))
import sandbox  # noqa: E402
from apiserver import ApiServer  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
KUBECTL = shutil.which("kubectl")   # scripts/install-deps.sh installs one if missing
HTTP = "127.0.0.1:9890"


class DemoFailed(Exception):
    pass


def check(cond, what):
    """Every claim the demo prints is checked: fail loudly when it is wrong."""
    if not cond:
        raise DemoFailed(what)


def expect(text, *needles):
    for n in needles:
        check(n in text, f"expected {n!r} in:\n{text}")
    return text


def step(msg):
    print(f"\n\033[1m== {msg}\033[0m", flush=True)


def ctl(node, *args, json_out=False):
    argv = [CTL, "--socket", node.socket, *args] + (["-o", "json"] if json_out else [])
    out = sandbox.run(argv).stdout
    return json.loads(out) if json_out else out


def indent(text):
    print("  " + text.strip().replace("\n", "\n  "))


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
    print(socket.create_connection((sys.argv[1], 5432), timeout=float(sys.argv[2])).recv(64).decode())
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
    """kubectl (run in the external host, next to the API server) and the
    API server itself, as the cluster's operators and kubelets see them."""

    def __init__(self, c, srv, kubeconfig):
        self.c, self.srv, self.kubeconfig = c, srv, kubeconfig

    def kubectl(self, *args, input=None, show=True):
        if show:
            print(f"  $ kubectl {' '.join(args)}")
        r = subprocess.run(["ip", "netns", "exec", self.c.external.netns, KUBECTL,
                            "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr.strip()}")
        if show and r.stdout.strip():
            print("    " + r.stdout.strip().replace("\n", "\n    "))
        return r.stdout

    def register(self, pods):
        """What the kubelet would report: the namespace and each pod with its IPs."""
        for ns in sorted({p.namespace for p in pods}):
            self.srv.create("namespaces", {"metadata": {"name": ns}})
        for p in pods:
            ips = [ip for ip in (p.ip4, p.ip6) if ip]
            self.srv.create("pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": p.name, "namespace": p.namespace, "labels": dict(p.labels)},
                "spec": {"nodeName": p.node.name, "containers": [{"name": p.name, "image": "demo"}]},
                "status": {"phase": "Running", "podIP": ips[0],
                           "podIPs": [{"ip": ip} for ip in ips]}},
                namespace=p.namespace)


def http(node, path):
    return node.exec("curl", "-s", "-m", "5", f"http://{HTTP}{path}", check=False).stdout


def connect(src, dst, timeout=1.0):
    r = src.exec("python3", "-c", CONNECT, dst.ip4, str(timeout), check=False)
    return r.returncode == 0, r.stdout.strip()


def reach(src, dst, wait=0.2):
    """One ping that gives up after `wait` s (a denied TCP connect would only
    show after its own timeout)."""
    return src.exec("ping", "-n", "-c1", f"-W{wait}", dst.ip4, check=False).returncode == 0


def until(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def timed(action, probe, timeout=3.0):
    """Run action() while probing the flow from another thread, from before
    the action starts: returns (seconds action() took, seconds from its start
    to the start of the first probe() that holds, or None if none did within
    `timeout` after it)."""
    hit, stop = [], threading.Event()

    def prober():
        while not stop.is_set() and not hit:
            t = time.monotonic()
            if probe():
                hit.append(t)
            else:
                time.sleep(0.01)
    th = threading.Thread(target=prober, daemon=True)
    t0 = time.monotonic()
    th.start()
    try:
        action()
        t_action = time.monotonic() - t0
        th.join(timeout + t_action)
    finally:
        stop.set()
        th.join()
    return t_action, (hit[0] - t0 if hit else None)


def ms(s):
    return f"{s * 1000:.0f} ms"


def policies(node):
    return ctl(node, "policy", "list", json_out=True)["policies"]


def policy_demo(k, nodes, web, db, other):
    n_db = db.node
    step("NetworkPolicy: only app=web may reach the database, on TCP 5432")
    server = db.popen("python3", "-c", SERVE)
    try:
        check(until(lambda: connect(web, db)[0]), "the database does not answer")
        for src in (web, other):
            ok, out = connect(src, db)
            print(f"  before: {src.name:5} -> db:5432  {'allowed' if ok else 'DENIED'}  {out}")
            check(ok, f"{src.name} -> db should be allowed before the policy")
        indent(POLICY_YAML)
        t_kubectl, t = timed(lambda: k.kubectl("apply", "-f", "-", input=POLICY_YAML),
                             lambda: not reach(other, db, 0.1))
        check(t is not None, "the policy was not enforced within 3 s")
        print(f"  other -> db denied {ms(t)} after `kubectl apply` started "
              f"(the kubectl command took {ms(t_kubectl)})")
        for src, want in ((web, True), (other, False)):
            ok, out = connect(src, db)
            print(f"  after:  {src.name:5} -> db:5432  {'allowed' if ok else 'denied'}  {out}")
            check(ok == want, f"{src.name} -> db should be {'allowed' if want else 'denied'}")
        ping = other.ping(db.ip4, count=1, wait=1)
        print(f"  after:  {other.name:5} -> db ping  {'allowed' if ping else 'denied'}")
        check(not ping, "other -> db ping should be denied (only TCP 5432 from web is allowed)")

        step(f"xdpathctl policy list ({n_db.name})")
        print(expect(ctl(n_db, "policy", "list"), "db-from-web"))
        step(f"xdpathctl policy get shop/db ({n_db.name})")
        print(expect(ctl(n_db, "policy", "get", "shop/db"), "shop/db-from-web", "5432"))
        step("xdpathctl policy explain --from shop/other --to shop/db --port 5432/TCP")
        out = ctl(n_db, "policy", "explain", "--from", "shop/other", "--to", "shop/db",
                  "--port", "5432/TCP")
        print(out)
        check(out.split("\n", 1)[0].split() == ["verdict:", "denied"], "explain: not denied")
        step(f"xdpathctl metrics: policy drops counted against the db pod ({n_db.name})")
        eps = ctl(n_db, "metrics", json_out=True)["endpoints"]
        for e in eps:
            print(f"  {e['podNamespace']}/{e['podName']:6} denied in {e['policy_denied_ingress']:3}"
                  f"  denied out {e['policy_denied_egress']:3}")
        check(any(e["podName"] == "db" and e["policy_denied_ingress"] > 0 for e in eps),
              "no ingress drops counted against the db pod")
        step(f"xdpathctl policy drops ({n_db.name}): each denied packet, why, and who sent it")
        print(expect(ctl(n_db, "policy", "drops"), "shop/db", other.ip4))

        step("kubectl label: the other pod becomes app=web, and is let in")
        _, t = timed(lambda: k.kubectl("label", "pod", "other", "-n", "shop", "app=web",
                                       "--overwrite"),
                     lambda: connect(other, db, 0.1)[0])
        check(t is not None, "the label change was not re-evaluated")
        print(f"  {other.name} -> db:5432  allowed ({ms(t)} after `kubectl label` started)")
        _, t = timed(lambda: k.kubectl("label", "pod", "other", "-n", "shop", "app=other",
                                       "--overwrite"),
                     lambda: not connect(other, db, 0.1)[0])
        check(t is not None, "the label change back was not re-evaluated")
        print(f"  {other.name} -> db:5432  denied again ({ms(t)} after `kubectl label` started)")

        step("kubectl delete: everything reachable again")
        _, t = timed(lambda: k.kubectl("delete", "networkpolicy", "db-from-web", "-n", "shop"),
                     lambda: reach(other, db, 0.1))
        check(t is not None, "still denied 3 s after the delete")
        print(f"  {other.name} -> db ping  allowed ({ms(t)} after `kubectl delete` started)")
        ok, out = connect(other, db)
        print(f"  {other.name} -> db:5432  {'allowed' if ok else 'DENIED'}  {out}")
        check(ok, "other -> db:5432 still denied after the delete")
        check(until(lambda: all(not policies(n) for n in nodes)),
              "xdpathctl policy list still shows policies")
        print(f"  xdpathctl policy list: no policies on {', '.join(n.name for n in nodes)}")
    finally:
        server.kill()
        server.wait()


def filter_demo(web, db, other, mode):
    """An SRE pushes an emergency filter on db's node: count-only first, then
    drop, watched and removed; and a catalog mitigation."""
    n_db = db.node
    where = "XDP on the uplink"
    if mode == "vxlan":
        # other's packets reach db's uplink encapsulated; the same filters
        # run on the decapsulated frame at xdpvx0 (docs/filter-ops.md).
        where = "XDP on the uplink and on xdpvx0 for tunnelled pod traffic"
    rule = f"icmp and ip.src == {other.ip4}"
    step(f"emergency filter on {n_db.name}: '{rule}', count-only first")
    print(expect(ctl(n_db, "filter", "check", rule), "ok"))
    print(ctl(n_db, "filter", "add", "demo-icmp", rule, "--action", "count", "--expire", "10m"))
    ok = other.ping(db.ip4, count=3)
    print(f"  {other.name} -> {db.name} ping (counted, not dropped): {'ok' if ok else 'FAILED'}")
    check(ok, "a count-only filter dropped the ping")
    f = next(r for r in ctl(n_db, "filter", "list", json_out=True)["filters"] if r["name"] == "demo-icmp")
    check(f["hits"] >= 3, f"demo-icmp counted {f['hits']} hits, expected >= 3")
    print(ctl(n_db, "filter", "list"))

    step(f"enforcing it: the same rule with --action drop ({where})")
    ctl(n_db, "filter", "del", "demo-icmp")
    print(ctl(n_db, "filter", "add", "demo-icmp", rule, "--action", "drop", "--expire", "10m"))
    dropped = not other.ping(db.ip4, count=2, wait=1)
    kept = web.ping(db.ip4, count=2)
    print(f"  {other.name} -> {db.name} ping: {'dropped' if dropped else 'NOT DROPPED'}")
    print(f"  {web.name} -> {db.name} ping: {'ok' if kept else 'FAILED'} (other traffic untouched)")
    check(dropped, "the drop filter did not drop")
    check(kept, "the drop filter dropped other traffic")
    print(ctl(n_db, "filter", "list"))
    step(f"xdpathctl filter watch ({n_db.name}): sampled drops")
    print(expect(ctl(n_db, "filter", "watch"), "demo-icmp", other.ip4))

    step("a catalog mitigation: SACK Panic (CVE-2019-11477)")
    print(ctl(n_db, "filter", "catalog", "CVE-2019-11477"))
    print(ctl(n_db, "filter", "enable", "CVE-2019-11477"))
    print(expect(ctl(n_db, "filter", "list"), "CVE-2019-11477", "demo-icmp"))

    step("lifting the filters")
    ctl(n_db, "filter", "del", "demo-icmp")
    ctl(n_db, "filter", "disable", "CVE-2019-11477")
    left = [r["name"] for r in ctl(n_db, "filter", "list", json_out=True)["filters"]]
    check(not left, f"filters left: {left}")
    check(other.ping(db.ip4, count=2), "still dropped after the delete")
    print(f"  {other.name} -> {db.name} ping ok; no filters left on {n_db.name}")


def xdpfilter_demo(k, nodes):
    """The cluster-wide way: one XdpFilter object, a rule on every node."""
    step("an XdpFilter object with kubectl: the same mitigation on every node")
    with open(os.path.join(ROOT, "deploy", "examples", "xdpfilter-memcached-flood.yaml")) as f:
        text = f.read()
    indent(text)
    k.kubectl("apply", "-f", "-", input=text)
    obj = next(l.split(":", 1)[1].strip() for l in text.splitlines()
               if l.strip().startswith("name:"))
    name = "crd:" + obj
    want_rule = next(l.split(":", 1)[1].strip().strip("'\"") for l in text.splitlines()
                     if l.strip().startswith("rule:"))

    def rule_on(n):
        return next((r for r in ctl(n, "filter", "list", json_out=True)["filters"]
                     if r["name"] == name), None)
    check(until(lambda: all(rule_on(n) for n in nodes)), f"{name} did not reach every node")
    for n in nodes:
        r = rule_on(n)
        expr = r.get("expr", r.get("rule", ""))
        print(f"  {n.name}: {r['name']}  {r.get('action')}  {expr}")
        check(expr == want_rule and r.get("action") == "count",
              f"{n.name}: {name} is not the object's rule: {r}")
    k.kubectl("delete", "xdpfilter", obj)
    check(until(lambda: not any(rule_on(n) for n in nodes)), f"{name} was not removed")
    print(f"  {name} removed from every node")


def metrics_demo(node):
    step(f"health and metrics ({node.name}, {HTTP})")
    for path in ("/healthz", "/readyz"):
        body = http(node, path).strip()
        print(f"  $ curl -s http://{HTTP}{path}\n    {body}")
        check(body == "ok", f"{path}: {body!r}")
    print(f"  $ curl -s http://{HTTP}/metrics | grep ...")
    lines = http(node, "/metrics").splitlines()
    want = ("xdpath_ready ", "xdpath_k8s_synced", "xdpath_k8s_watch_events_total",
            "xdpath_k8s_first_sync_seconds", 'xdpath_drops_total{reason="policy_denied"}')
    shown = [l for l in lines if l.startswith(want)]
    indent("\n".join(shown))

    def value(prefix):
        vals = [float(l.split()[-1]) for l in lines if l.startswith(prefix)]
        check(vals, f"/metrics has no {prefix}")
        return vals
    check(value("xdpath_ready ") == [1], "xdpath_ready is not 1")
    check(len(value("xdpath_k8s_synced{")) == 5 and set(value("xdpath_k8s_synced{")) == {1},
          "not every resource is synced")
    check(value('xdpath_drops_total{reason="policy_denied"}')[0] > 0, "no policy drops counted")
    check(value('xdpath_k8s_watch_events_total{resource="networkpolicies"}')[0] >= 2,
          "the NetworkPolicy apply/delete were not seen as watch events")


def start_cluster(c, srv):
    """The API server in the external host, the Node objects, the agents."""
    srv.start()
    kc = srv.kubeconfig(os.path.join(c.state_dir, "kubeconfig"))
    for n in c.nodes:
        srv.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name},
                             "spec": {"podCIDRs": n.pod_cidrs},
                             "status": {"addresses": [{"type": "InternalIP", "address": n.ip4},
                                                      {"type": "InternalIP", "address": n.ip6}]}})
    # Nothing node-specific in the agents' config: the Node objects have it.
    c.agent_extra = {"kubernetes": {"kubeconfig": kc}, "httpAddress": HTTP, "peers": None,
                     "nodeIP": None, "nodeIP6": None, "podCIDRs": None}
    t0 = time.monotonic()
    for n in c.nodes:
        c.start_agent(n)
    print(f"  API server {srv.url} (in {c.external.netns}); agent config: "
          f"{json.dumps({k: v for k, v in c.agent_extra.items() if v is not None})}")
    print(f"  agents ready (synced with the API) in {ms(time.monotonic() - t0)}")
    return Kube(c, srv, kc)


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
    out = k.kubectl("get", "nodes", "-o", "custom-columns=NAME:.metadata.name,"
                    "INTERNAL-IPS:.status.addresses[*].address,POD-CIDRS:.spec.podCIDRs")
    expect(out, n1.ip4, n2.pod_cidr4)
    out = k.kubectl("get", "pods", "-n", "shop", "-o", "custom-columns=NAME:.metadata.name,"
                    "NODE:.spec.nodeName,IPS:.status.podIPs[*].ip,APP:.metadata.labels.app")
    expect(out, *[p.ip4 for p in c.pods])
    check(until(lambda: all(ctl(n, "policy", "list", json_out=True)["stats"]["pods"] == 3
                            for n in c.nodes), timeout=10), "the agents did not see the pods")
    before = forwarded(n1)

    step("same-node and cross-node pings (IPv4 and IPv6)")
    for dst, where in ((same, "same node"), (cross, "other node")):
        for fam in (4, 6):
            ok = a.ping(dst.ip(fam), count=3)
            print(f"  {a.name} -> {dst.name} ({where}, IPv{fam} {dst.ip(fam)}): "
                  f"{'ok' if ok else 'FAILED'}")
            check(ok, f"{a.name} -> {dst.name} IPv{fam} ping failed")

    step("TCP across nodes (iperf3, 2 s)")
    cross.exec("iperf3", "-s", "-D", "-1", "-B", cross.ip4)
    time.sleep(0.3)
    res = json.loads(a.exec("iperf3", "-c", cross.ip4, "-t", "2", "-J").stdout)
    bps = res["end"]["sum_received"]["bits_per_second"]
    print(f"  {a.name} -> {cross.name}: {bps / 1e9:.1f} Gbit/s")
    check(bps > 0, "iperf3 moved nothing")

    step(f"datapath forwarding counters on {n1.name} (before -> after)")
    after = forwarded(n1)
    for key in after:
        print(f"  {key:15} {before.get(key, 0):8} -> {after[key]:8}")
    remote = "tunnel" if mode == "vxlan" else "redirect_neigh"
    check(after["redirect_peer"] > before["redirect_peer"] and after[remote] > before[remote],
          "the redirect counters did not rise")

    step(f"xdpathctl endpoint list ({n1.name})")
    print(expect(ctl(n1, "endpoint", "list"), "web", "other"))
    step(f"xdpathctl status ({n1.name})")
    st = ctl(n1, "status")
    print(st)
    check(st.split("\n", 1)[0].split() == ["ready:", "yes"], f"{n1.name} is not ready")
    kube = ctl(n1, "status", json_out=True)["kubernetes"]
    print(f"  kubernetes (xdpathctl status -o json): server {kube['server']}, "
          f"first sync {kube['firstSyncMs']} ms")
    print("  RESOURCE         OBJECTS  SYNCED  EVENTS  ERRORS")
    for r in kube["resources"]:
        print(f"  {r['resource']:16} {r['objects']:7}  {'yes' if r['synced'] else 'NO':6}"
              f"  {r['events']:6}  {r['errors']:6}")
    check(all(r["synced"] for r in kube["resources"]), f"{n1.name}: not every resource is synced")
    objs = {r["resource"]: r["objects"] for r in kube["resources"]}
    check(objs.get("pods") == 3 and objs.get("nodes") == 2,
          f"{n1.name} should have 3 pods and 2 nodes: {objs}")

    policy_demo(k, c.nodes, a, cross, same)
    filter_demo(a, cross, same, mode)
    xdpfilter_demo(k, c.nodes)
    metrics_demo(n2)


def _terminate(sig, _frame):
    # SIGTERM/SIGHUP: unwind like Ctrl-C, so that every finally and the
    # sandbox's context manager run (the default action would skip them).
    raise KeyboardInterrupt(signal.Signals(sig).name)


def main():
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _terminate)
    if not os.access(CTL, os.X_OK) or not KUBECTL:
        print(f"demo: {'kubectl' if not KUBECTL else CTL} is missing: run `make deps all`",
              file=sys.stderr)
        return 1
    mode = os.environ.get("DEMO_MODE", "native")
    t0 = time.monotonic()
    step(f"sandbox cluster: 2 nodes, a Kubernetes API server, 3 pods in namespace shop, "
         f"datapath mode {mode}")
    try:
        srv = None
        with sandbox.Cluster(nodes=2, pods=0, mode=mode, agent=False) as c:
            try:
                srv = ApiServer(host=sandbox.EXT4, netns=c.external.netns)
                demo(c, start_cluster(c, srv), mode)
            finally:
                step("tearing down")
                if srv:
                    srv.stop()
    except DemoFailed as e:
        print(f"\n\033[1;31mdemo FAILED: {e}\033[0m", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"\ndemo interrupted{f' ({e})' if str(e) else ''}; cleaned up", file=sys.stderr)
        return 130
    print(f"demo done in {time.monotonic() - t0:.0f} s; everything removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
