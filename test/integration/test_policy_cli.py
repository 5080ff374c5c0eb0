"""xdpathctl policy get / explain / lint against a sandbox cluster (native
mode, 2 nodes, agents enforcing a policyDir written here).

Pods: n1 runs shop/web (serves TCP 8080, its container port "http", and
9050) and shop/client; n2 runs shop/other and ops/probe. Policies:
shop/web-in lets app=client in on the port named http and namespace
team=ops on 9000-9100; shop/client-out lets app=client out to app=web only
(and DNS). `policy get` must list exactly those allow entries with the
policy/rule behind each, on either node (the model does not depend on the
node); `policy explain` must give the verdict and the rule, or the reason,
agree with what a real TCP connect (and ping) does, and on the node that
runs the endpoint agree with the datapath model (policy_sim). `policy lint`
runs offline.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
LOAD_S = 5.0

TCP_SERVE = """
import socket, sys, time
ss = []
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(port))); s.listen(8); s.setblocking(False); ss.append(s)
end = time.time() + 60
while time.time() < end:
    for s in ss:
        try:
            c, peer = s.accept()
        except BlockingIOError:
            continue
        c.setblocking(True); c.sendall(b"hello"); c.close()
    time.sleep(0.01)
"""

TCP_CONNECT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
    print(c.recv(100).decode())
except OSError as e:
    print("fail", e); sys.exit(1)
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def _write(d, name, obj):
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, os.path.join(d, name))


def ns_obj(name, labels):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels, **{
                "kubernetes.io/metadata.name": name})}}


def pod_obj(p, ports=()):
    ips = [ip for ip in (p.ip4, p.ip6) if ip]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"nodeName": p.node.name,
                     "containers": [{"name": "c", "ports": [
                         {"name": n, "containerPort": port} for n, port in ports]}]},
            "status": {"podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}}


WEB_IN = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"namespace": "shop", "name": "web-in"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}},
             "ingress": [
                 {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                  "ports": [{"port": "http"}]},
                 {"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}],
                  "ports": [{"port": 9000, "endPort": 9100}]}]}}

CLIENT_OUT = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"namespace": "shop", "name": "client-out"},
    "spec": {"podSelector": {"matchLabels": {"app": "client"}},
             "policyTypes": ["Egress"],
             "egress": [
                 {"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]},
                 {"to": [{"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": "kube-system"}}}],
                  "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}]}}


def ctl(node, *args, check=True):
    r = subprocess.run([CTL, "--socket", node.socket, *args], capture_output=True, text=True,
                       timeout=10)
    if check and r.returncode != 0:
        pytest.fail(f"xdpathctl {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


def ctl_json(node, *args):
    return json.loads(ctl(node, *args, "-o", "json").stdout)


def explain(node, src, dst, port=None):
    args = ["policy", "explain", "--from", src, "--to", dst]
    if port:
        args += ["--port", port]
    return ctl_json(node, *args)


def eventually(cond, timeout=LOAD_S, what="condition"):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def connect(src, dst, port):
    r = src.exec("python3", "-c", TCP_CONNECT, dst.ip4, str(port), check=False, timeout=5)
    return r.returncode == 0 and r.stdout.startswith("hello")


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="xdpath-policy-cli-")
    os.chmod(d, 0o755)
    c = sandbox.Cluster(nodes=2, pods=0, mode="native", agent=True,
                        agent_extra={"policyDir": d})
    server = None
    try:
        n1, n2 = c.nodes
        pods = {
            "web": c.add_pod(n1, name="web", namespace="shop", labels={"app": "web"}),
            "client": c.add_pod(n1, name="client", namespace="shop", labels={"app": "client"}),
            "other": c.add_pod(n2, name="other", namespace="shop", labels={"app": "other"}),
            "probe": c.add_pod(n2, name="probe", namespace="ops", labels={"app": "probe"}),
        }
        _write(d, "ns-shop.json", ns_obj("shop", {"team": "shop"}))
        _write(d, "ns-ops.json", ns_obj("ops", {"team": "ops"}))
        for k, p in pods.items():
            _write(d, f"pod-{k}.json", pod_obj(p, [("http", 8080)] if k == "web" else []))
        _write(d, "np-web-in.json", WEB_IN)
        _write(d, "np-client-out.json", CLIENT_OUT)
        for n in c.nodes:
            eventually(lambda: ctl_json(n, "policy", "list")["stats"]["policies"] == 2 and
                       ctl_json(n, "policy", "list")["stats"]["pods"] == 4,
                       what=f"{n.name} loaded the manifests")
        web = pods["web"]
        server = web.popen("python3", "-c", TCP_SERVE, web.ip4, "8080", "9050", "80")
        time.sleep(0.3)
        yield c, d, pods
    finally:
        if server:
            server.kill()
            server.wait()
        c.close()
        shutil.rmtree(d, ignore_errors=True)


def by(side):
    return side["by"] and (side["by"]["policy"], side["by"]["rule"])


# -- policy get ---------------------------------------------------------------

def test_get_web_on_both_nodes(env):
    c, _, pods = env
    n1, n2 = c.nodes
    for node, local in ((n1, True), (n2, False)):
        r = ctl_json(node, "policy", "get", "shop/web")
        pod = r["pod"]
        assert (pod["namespace"], pod["name"], pod["node"]) == ("shop", "web", "n1"), pod
        assert pod["local"] is local, pod
        assert pod["ips"][0] == pods["web"].ip4, pod
        assert isinstance(pod["identity"], int) and pod["identity"] >= 256, pod
        assert ("datapath" in pod) is local, pod
        if local:
            assert pod["datapath"]["ingressIsolated"] is True, pod
            assert pod["datapath"]["egressIsolated"] is False, pod
        assert [(p["namespace"], p["name"], p["types"]) for p in r["policies"]] == \
            [("shop", "web-in", ["Ingress"])], r["policies"]
        assert r["egress"] == {"isolated": False, "policies": [], "allow": []}, r["egress"]
        ing = r["ingress"]
        assert ing["isolated"] is True and ing["policies"] == ["shop/web-in"], ing
        assert len(ing["allow"]) == 2, ing
        e0, e1 = ing["allow"]
        assert (e0["policy"], e0["rule"], e0["protocol"]) == ("shop/web-in", 0, "TCP"), e0
        assert e0["port"] is None and e0["portName"] == "http" and e0["resolved"] == [8080], e0
        peer = e0["peer"]
        assert peer["kind"] == "pods" and peer["podSelector"] == "app=client", peer
        assert peer["namespaceSelector"] is None and peer["namespace"] == "shop", peer
        assert [(i["namespace"], i["labels"], i["pods"]) for i in peer["identities"]] == \
            [("shop", {"app": "client"}, ["client"])], peer
        assert isinstance(peer["identities"][0]["identity"], int), peer
        assert (e1["policy"], e1["rule"], e1["port"], e1["endPort"]) == \
            ("shop/web-in", 1, 9000, 9100), e1
        assert e1["peer"]["namespaceSelector"] == "team=ops", e1
        assert [i["pods"] for i in e1["peer"]["identities"]] == [["probe"]], e1


def test_get_client_egress(env):
    c, _, _ = env
    r = ctl_json(c.nodes[0], "policy", "get", "shop/client")
    assert r["ingress"]["isolated"] is False, r
    eg = r["egress"]
    assert eg["isolated"] is True and eg["policies"] == ["shop/client-out"], eg
    kinds = [(e["rule"], e["protocol"], e["port"], e["peer"]["kind"]) for e in eg["allow"]]
    assert kinds == [(0, "any", None, "pods"), (1, "UDP", 53, "pods"), (1, "TCP", 53, "pods")], \
        kinds
    assert eg["allow"][1]["peer"]["namespaceSelector"] == \
        "kubernetes.io/metadata.name=kube-system", eg
    assert eg["allow"][1]["peer"]["identities"] == [], eg  # no kube-system pods here


def test_get_table(env):
    c, _, _ = env
    out = ctl(c.nodes[0], "policy", "get", "shop/web").stdout
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["pod:", "shop/web"], out
    assert "policies:" in out and "shop/web-in (Ingress)" in out, out
    assert "Ingress: isolated by shop/web-in" in out, out
    assert "Egress: not isolated" in out, out
    row = next(l for l in lines if l.startswith("shop/web-in") and "http" in l)
    assert row.split()[:4] == ["shop/web-in", "0", "TCP", "http"], row
    assert "(8080)" in row and "pods app=client in shop: shop/client" in row, row
    assert any(l.split()[:4] == ["shop/web-in", "1", "TCP", "9000-9100"] for l in lines), out


# -- policy explain ------------------------------------------------------------

def test_explain_allowed_both_sides(env):
    c, _, pods = env
    r = explain(c.nodes[0], "shop/client", "shop/web", "8080/TCP")
    assert r["allowed"] is True, r
    assert (r["protocol"], r["port"]) == ("TCP", 8080), r
    assert r["from"]["kind"] == "pod" and r["from"]["ip"] == pods["client"].ip4, r
    assert by(r["egress"]) == ("shop/client-out", 0), r["egress"]
    assert by(r["ingress"]) == ("shop/web-in", 0), r["ingress"]
    # both are endpoints of n1: the datapath model agrees, citing the same rules
    for side, rule in (("egress", ("shop/client-out", 0)), ("ingress", ("shop/web-in", 0))):
        dp = r[side]["datapath"]
        assert dp["allowed"] is True and dp["agrees"] is True, dp
        assert (dp["by"]["policy"], dp["by"]["rule"]) == rule, dp
    assert "note" not in r, r
    # the same from n2, where neither is local: the model alone
    r2 = explain(c.nodes[1], "shop/client", "shop/web", "http")
    assert r2["allowed"] is True and r2["portName"] == "http" and r2["port"] == 8080, r2
    assert "datapath" not in r2["ingress"] and "datapath" not in r2["egress"], r2


def test_explain_denied_reason(env):
    c, _, _ = env
    r = explain(c.nodes[1], "shop/other", "shop/web", "8080")
    assert r["allowed"] is False, r
    assert r["egress"]["why"] == "notIsolated" and r["egress"]["allowed"] is True, r
    ing = r["ingress"]
    assert ing["why"] == "noRule" and ing["isolatedBy"] == ["shop/web-in"], ing
    assert ing["reason"] == (
        "shop/web is isolated for ingress by [shop/web-in] and no rule matches: "
        "rule 0 of shop/web-in allows only from pods app=client in shop; "
        "rule 1 of shop/web-in allows only from every pod in namespaces team=ops "
        "on TCP 9000-9100"), ing["reason"]
    assert [(x["rule"], x["peerMatches"], x["portMatches"]) for x in ing["rules"]] == \
        [(0, False, True), (1, False, False)], ing
    assert r["egress"]["datapath"]["allowed"] is True, r   # other is an endpoint of n2
    assert r["reason"].startswith("denied: ingress of shop/web: "), r["reason"]
    # the right peer on the wrong port
    r = explain(c.nodes[0], "shop/client", "shop/web", "80")
    assert r["allowed"] is False, r
    assert "rule 0 of shop/web-in allows shop/client only on TCP port \"http\"" in \
        r["ingress"]["reason"], r
    assert r["ingress"]["datapath"] == {"epId": r["ingress"]["datapath"]["epId"],
                                        "allowed": False, "by": None, "agrees": True}, r
    # egress denies: client may only talk to app=web (and DNS)
    r = explain(c.nodes[0], "shop/client", "ops/probe", "9050")
    assert r["allowed"] is False and r["egress"]["why"] == "noRule", r
    assert r["ingress"]["why"] == "notIsolated", r


def test_explain_cross_node_range(env):
    c, _, _ = env
    r = explain(c.nodes[1], "ops/probe", "shop/web", "9050")
    assert r["allowed"] is True and by(r["ingress"]) == ("shop/web-in", 1), r
    assert r["from"]["local"] is True and r["to"]["local"] is False, r
    r = explain(c.nodes[1], "ops/probe", "shop/web", "9101")
    assert r["allowed"] is False, r


def test_explain_addresses_and_errors(env):
    c, _, pods = env
    n1 = c.nodes[0]
    # an address of a pod is that pod
    r = explain(n1, pods["client"].ip4, "shop/web", "8080")
    assert r["from"]["kind"] == "pod" and r["from"]["name"] == "client", r
    assert r["allowed"] is True, r
    # an address no pod has is the world
    r = explain(n1, "192.0.2.7", "shop/web", "8080")
    assert r["from"] == {"kind": "address", "ip": "192.0.2.7", "identity": "world"}, r
    assert r["egress"]["why"] == "notChecked" and r["allowed"] is False, r
    # this node's own address: ingress to its pods is always allowed
    r = explain(n1, n1.ip4, "shop/web", "22")
    assert r["from"]["identity"] == "host" and r["ingress"]["why"] == "host", r
    assert r["allowed"] is True, r
    for args, msg in ((("shop/nope", "shop/web", "80"), "from: no pod shop/nope"),
                      (("shop/client", "shop/web", "80/FOO"),
                       "protocol \"FOO\" is not TCP, UDP, SCTP or ICMP"),
                      (("shop/client", "shop/web", "99999"), "not a port number"),
                      (("shop/client", "shop/web", "grpc"),
                       "shop/web has no TCP container port named \"grpc\""),
                      (("shop/client", "not an address", "80"),
                       "neither NAMESPACE/NAME nor an IP address")):
        r = ctl(n1, "policy", "explain", "--from", args[0], "--to", args[1], "--port", args[2],
                check=False)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
    r = ctl(n1, "policy", "get", "shop/nope", check=False)
    assert r.returncode == 1 and "no pod shop/nope" in r.stderr, r.stderr
    r = ctl(n1, "policy", "explain", "--from", "shop/client", check=False)
    assert r.returncode == 2 and "needs --from and --to" in r.stderr, r.stderr
    r = ctl(n1, "policy", "list", "--port", "80", check=False)
    assert r.returncode == 2, r


def test_explain_matches_real_traffic(env):
    """explain's verdict is what a TCP connect (and a ping) does."""
    c, _, pods = env
    cases = [("client", "web", 8080), ("other", "web", 8080), ("probe", "web", 9050),
             ("client", "web", 80), ("probe", "web", 80)]
    verdicts = set()
    for src, dst, port in cases:
        s, d = pods[src], pods[dst]
        r = explain(s.node, f"{s.namespace}/{s.name}", f"{d.namespace}/{d.name}", str(port))
        got = connect(s, d, port)
        assert got == r["allowed"], (src, dst, port, got, r["reason"])
        verdicts.add(got)
    assert verdicts == {True, False}   # at least one allowed and one denied pair
    # ping: ICMP, which no rule with ports allows
    r = explain(c.nodes[0], "shop/client", "shop/web", "ICMP")
    assert r["allowed"] is False and r["protocol"] == "ICMP", r
    assert pods["client"].ping(pods["web"].ip4, wait=1) is False
    r = explain(c.nodes[0], "shop/web", "shop/client", "ICMP")
    assert r["allowed"] is True, r
    assert pods["web"].ping(pods["client"].ip4, wait=1) is True


def test_explain_table(env):
    c, _, _ = env
    out = ctl(c.nodes[1], "policy", "explain", "--from", "shop/other", "--to", "shop/web",
              "--port", "8080").stdout
    rows = {l.split(":", 1)[0]: l.split(":", 1)[1].strip() for l in out.splitlines()}
    assert rows["verdict"] == "denied", out
    assert rows["from"].startswith("shop/other ") and "on this node" in rows["from"], out
    assert rows["port"] == "TCP 8080", out
    assert rows["ingress"].startswith("denied: shop/web is isolated for ingress"), out
    assert rows["egress"].startswith("allowed: shop/other is not isolated for egress"), out


# -- policy lint (offline) ---------------------------------------------------------

def test_lint_cluster_files_and_warnings(env, tmp_path):
    _, d, _ = env
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".json"))
    r = subprocess.run([CTL, "--socket", "/nonexistent", "policy", "lint", *files, "-o", "json"],
                       capture_output=True, text=True, timeout=10)
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["diagnostics"] == [], out
    assert out["podsChecked"] is True and out["errors"] == out["warnings"] == 0, out
    # a deny-all egress without DNS, a selector of nobody, a bad except
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {namespace: shop, name: lockdown}\n"
        "spec: {podSelector: {matchLabels: {app: ghost}}, policyTypes: [Egress]}\n")
    r = subprocess.run([CTL, "policy", "lint", *files, str(bad), "-o", "json"],
                       capture_output=True, text=True, timeout=10)
    out = json.loads(r.stdout)
    checks = sorted((x["check"], x["file"], x["name"]) for x in out["diagnostics"])
    assert checks == [("dns-blocked", str(bad), "lockdown"),
                      ("selector-no-pods", str(bad), "lockdown")], out
    assert r.returncode == 1, r
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {namespace: shop, name: exc}\n"
        "spec:\n  podSelector: {}\n  ingress:\n"
        "  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.0/16]}}]\n")
    r = subprocess.run([CTL, "policy", "lint", str(bad)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2, r
    assert "ipblock-except" in r.stdout and "not strictly inside cidr 10.0.0.0/24" in r.stdout, \
        r.stdout
    assert r.stdout.rstrip().endswith("1 error, 0 warnings in 1 file"), r.stdout
