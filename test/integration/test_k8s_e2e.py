"""Kubernetes end to end: xdpathd as a Kubernetes controller on the sandbox
cluster, driven through the test API server (test/k8s/apiserver.py) with the
real kubectl.

The API server listens inside the cluster's external-host namespace (the
"control plane" is another host on the underlay); agents reach it over the
underlay with a kubeconfig (TLS with the generated CA, bearer token), and
kubectl runs there too. Agents get nothing from their config but the
kubeconfig: their node IPs and pod CIDRs come from their own Node objects,
their peers from the other Node objects; pods are wired by the real CNI
plugin and registered as Pod objects with the IPs it assigned.

Covered: readiness after the first sync (/readyz, the CNI conflist written
from the Node's podCIDRs); `kubectl apply` of a NetworkPolicy denies within
1 s and `kubectl delete` allows again; a namespace label change re-evaluates
a namespaceSelector; an invalid NetworkPolicy gets a Warning Event and does
not stop a valid one; XdpFilter objects become filters; the API server
restarted with its history gone (watches broken, 410 Gone) -> the agents
relist, with no moment where the denied flow got through, and pick up what
changed meanwhile; a Node joining and leaving adds and removes routes;
/metrics; in-cluster config (service-account token re-read after rotation);
a fresh node stays not ready (CNI ADD refused) until it has synced; and in
vxlan mode, tunnel routes from Node objects, a NetworkPolicy on a cross-node
flow, and an XdpFilter dropping tunnelled pod traffic on the receiving node.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "test", "k8s"))
import sandbox  # noqa: E402
from apiserver import ApiServer  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
KUBECTL = shutil.which("kubectl")
HTTP = "127.0.0.1:9890"
DENY_S = 1.0      # kubectl apply -> the flow is denied within this

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def node_obj(n, cidrs=None, ip4=None):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name if hasattr(n, "name") else n},
            "spec": {"podCIDRs": cidrs or n.pod_cidrs},
            "status": {"addresses": [{"type": "InternalIP", "address": ip4 or n.ip4},
                                     {"type": "Hostname", "address": "ignored"}]
                       + ([{"type": "InternalIP", "address": n.ip6}] if hasattr(n, "ip6") else [])}}


def pod_obj(p):
    ips = [ip for ip in (p.ip4, p.ip6) if ip]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": dict(p.labels)},
            "spec": {"nodeName": p.node.name, "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running", "podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}}


class Env:
    def __init__(self, cluster, srv, kubeconfig):
        self.c, self.srv, self.kubeconfig = cluster, srv, kubeconfig
        self.n1, self.n2, self.n3 = cluster.nodes

    def kubectl(self, *args, input=None, check=True):
        r = subprocess.run(["ip", "netns", "exec", self.c.external.netns, KUBECTL,
                            "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, timeout=30)
        if check and r.returncode:
            pytest.fail(f"kubectl {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r

    def apply(self, obj):
        return self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def add_pod(self, node, name, ns, labels):
        if not self.srv_has("namespaces", ns):
            self.srv.create("namespaces", {"metadata": {"name": ns}})
        p = self.c.add_pod(node, name, namespace=ns, labels=labels)
        self.srv.create("pods", pod_obj(p), namespace=ns)
        return p

    def srv_has(self, plural, name, ns=None):
        try:
            self.srv.get(plural, name, namespace=ns)
            return True
        except Exception:
            return False

    def http(self, node, path):
        r = node.exec("curl", "-s", "-o", "-", "-w", "\n%{http_code}", f"http://{HTTP}{path}",
                      check=False)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def ctl(self, node, *args):
        r = sandbox.run([CTL, "--socket", node.socket, *args, "-o", "json"])
        return json.loads(r.stdout)

    def agent_log(self, node):
        return self.c.agent_log_tail(node, 60)


def reach(src, dst, wait=0.3):
    r = subprocess.run(["ip", "netns", "exec", src.netns, "ping", "-n", "-c1", f"-W{wait}", dst.ip4],
                       capture_output=True)
    return r.returncode == 0


def until(cond, timeout, what, step=0.02):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(step)
    return True


def time_to(cond, timeout=5.0, step=0.0):
    """Seconds until cond() first holds (cond is itself a probe that takes
    time); fails after timeout."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"not within {timeout} s")
        if step:
            time.sleep(step)
    return time.monotonic() - t0


def isolate(name, ns, labels, ingress=None):
    spec = {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"]}
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def cluster_env(mode):
    """A 3-node sandbox cluster in `mode` with the test API server in its
    external host; agents on n1 and n2 configured with a kubeconfig only."""
    if not KUBECTL:
        pytest.fail("kubectl is missing: run scripts/install-deps.sh")
    c = sandbox.Cluster(nodes=3, pods=0, mode=mode, agent=False)
    srv = None
    try:
        srv = ApiServer(host=sandbox.EXT4, netns=c.external.netns, bookmark_interval=2.0).start()
        kc = srv.kubeconfig(os.path.join(c.state_dir, "kubeconfig"))
        for n in c.nodes[:2]:
            srv.create("nodes", node_obj(n))
        c.agent_extra = {"kubernetes": {"kubeconfig": kc}, "httpAddress": HTTP, "peers": None,
                         "nodeIP": None, "nodeIP6": None, "podCIDRs": None,
                         "cniConf": {"path": "/tmp/will-be-set"}}
        for n in c.nodes[:2]:
            c.agent_extra["cniConf"] = {"path": os.path.join(n.state_dir, "net.d", "05-xdpath.conflist"),
                                        "ipamDir": os.path.join(n.state_dir, "ipam")}
            c.start_agent(n)
        yield Env(c, srv, kc)
    finally:
        c.close()
        if srv:
            srv.stop()


@pytest.fixture(scope="module")
def env():
    yield from cluster_env("native")


@pytest.fixture(scope="module")
def pods(env):
    e = env
    return {
        "client": e.add_pod("n1", "client", "front", {"app": "client"}),
        "server": e.add_pod("n2", "server", "back", {"app": "server"}),
        "other": e.add_pod("n2", "other", "back", {"app": "other"}),
    }


def test_ready_after_first_sync_with_node_from_api(env):
    for n in (env.n1, env.n2):
        assert env.http(n, "/readyz") == (200, "ok\n")
        assert env.http(n, "/healthz")[0] == 200
        assert env.http(n, "/nope")[0] == 404
        st = env.ctl(n, "status")
        assert st["ready"] is True, st
        # The conflist, written once ready, carries the Node's podCIDRs.
        with open(os.path.join(n.state_dir, "net.d", "05-xdpath.conflist")) as f:
            conf = json.load(f)
        plug = conf["plugins"][0]
        assert plug["type"] == "xdpath"
        assert [r[0]["subnet"] for r in plug["ipam"]["ranges"]] == n.pod_cidrs
        assert plug["endpointDir"] == n.endpoint_dir
        assert not [f for f in os.listdir(os.path.join(n.state_dir, "net.d")) if f.endswith(".tmp")]
    # Removed behind the agent's back: restored at the next resync (10 s).
    path = os.path.join(env.n1.state_dir, "net.d", "05-xdpath.conflist")
    os.unlink(path)
    until(lambda: os.path.exists(path), 12, "the conflist restored", step=0.2)


def test_cross_node_routes_from_node_objects(env, pods):
    # No peers in the config: n1 reaches n2's pods through the route the
    # agent made from n2's Node object.
    r = env.n1.exec("ip", "route", "show", env.n2.pod_cidr4).stdout
    assert f"via {env.n2.ip4}" in r and "proto 217" in r, r
    assert reach(pods["client"], pods["server"], wait=1)


def test_kubectl_apply_denies_within_1s_and_delete_allows(env, pods):
    cl, sv = pods["client"], pods["server"]
    assert reach(cl, sv, wait=1)
    pol = isolate("deny-server", "back", {"app": "server"})
    t0 = time.monotonic()
    env.apply(pol)
    applied = time.monotonic() - t0
    until(lambda: not reach(cl, sv, wait=0.2), DENY_S, "kubectl apply -> denied")
    denied_after = time.monotonic() - t0
    print(f"kubectl apply {applied * 1000:.0f} ms, denied {denied_after * 1000:.0f} ms after it started")
    assert reach(cl, pods["other"], wait=1), "only the selected pod is isolated"
    out = env.kubectl("get", "networkpolicy", "-n", "back", "-o", "name").stdout
    assert "networkpolicy.networking.k8s.io/deny-server" in out
    t0 = time.monotonic()
    env.kubectl("delete", "networkpolicy", "deny-server", "-n", "back")
    until(lambda: reach(cl, sv, wait=0.2), DENY_S, "kubectl delete -> allowed")
    pl = env.ctl(env.n2, "policy", "list")
    assert not pl["policies"], pl


def test_namespace_label_change_reevaluates(env, pods):
    cl, sv = pods["client"], pods["server"]
    env.apply(isolate("from-blue", "back", {"app": "server"},
                      [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]))
    until(lambda: not reach(cl, sv, wait=0.2), DENY_S, "front is not blue: denied")
    env.kubectl("label", "namespace", "front", "team=blue")
    until(lambda: reach(cl, sv, wait=0.2), DENY_S, "front labelled blue: allowed")
    env.kubectl("label", "namespace", "front", "team-")
    until(lambda: not reach(cl, sv, wait=0.2), DENY_S, "label removed: denied again")
    env.kubectl("delete", "networkpolicy", "from-blue", "-n", "back")
    until(lambda: reach(cl, sv, wait=0.2), DENY_S, "policy deleted: allowed")


def test_invalid_policy_gets_an_event_and_others_stay_enforced(env, pods):
    cl, sv = pods["client"], pods["server"]
    bad = isolate("bad-ports", "back", {"app": "server"},
                  [{"ports": [{"protocol": "TCP", "port": 90, "endPort": 80}]}])
    env.apply(bad)
    env.apply(isolate("deny-server", "back", {"app": "server"}))
    until(lambda: not reach(cl, sv, wait=0.2), DENY_S, "the valid policy is enforced")

    def event():
        for ev in env.srv.list("events", namespace="back"):
            io = ev.get("involvedObject", {})
            if io.get("kind") == "NetworkPolicy" and io.get("name") == "bad-ports":
                return ev
        return None
    until(lambda: event() is not None, 5, "a Warning Event on the invalid NetworkPolicy")
    ev = event()
    assert ev["type"] == "Warning" and ev["reason"] == "PolicyNotEnforced", ev
    assert "endPort" in ev["message"], ev
    assert ev["source"]["component"] == "xdpathd"
    described = env.kubectl("get", "events", "-n", "back", "-o", "json").stdout
    assert "bad-ports" in described
    errs = env.ctl(env.n2, "policy", "list")["errors"]
    assert any(e["name"] == "bad-ports" for e in errs), errs
    env.kubectl("delete", "networkpolicy", "bad-ports", "deny-server", "-n", "back")
    until(lambda: reach(cl, sv, wait=0.2), DENY_S, "both deleted: allowed")


def test_api_restart_relists_with_no_enforcement_gap(env, pods):
    cl, sv, other = pods["client"], pods["server"], pods["other"]
    env.apply(isolate("deny-server", "back", {"app": "server"}))
    until(lambda: not reach(cl, sv, wait=0.2), DENY_S, "denied before the restart")
    before = {n.name: env.ctl(n, "status") for n in (env.n1, env.n2)}
    leaked, probes, stop = [], [0], threading.Event()

    def probe():
        while not stop.is_set():
            probes[0] += 1
            if reach(cl, sv, wait=0.1):
                leaked.append(time.monotonic())
    t = threading.Thread(target=probe)
    t.start()
    try:
        time.sleep(0.5)
        # Down, with a change the watches never see (history gone: 410 on resume).
        env.srv.stop(cleanup=False)
        env.srv.create("networkpolicies", isolate("deny-other", "back", {"app": "other"}),
                       namespace="back")
        env.srv.compact()
        time.sleep(2.0)
        env.srv.start()
        until(lambda: not reach(cl, other, wait=0.2), 15, "the change made while down is applied")
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    assert probes[0] > 10
    assert not leaked, f"{len(leaked)} of {probes[0]} probes got through during the restart"

    def metric(node, prefix):
        return sum(float(l.split()[-1]) for l in env.http(node, "/metrics")[1].splitlines()
                   if l.startswith(prefix))
    for n in (env.n1, env.n2):   # both relisted (n1 may still be backing off)
        until(lambda: metric(n, 'xdpath_k8s_relists_total{resource="networkpolicies"}') >= 2, 15,
              f"{n.name} relisted networkpolicies", step=0.2)
        assert metric(n, "xdpath_k8s_watch_expired_total") >= 1
    assert before and env.http(env.n1, "/readyz")[0] == 200
    env.kubectl("delete", "networkpolicy", "deny-server", "deny-other", "-n", "back")
    until(lambda: reach(cl, sv, wait=0.2) and reach(cl, other, wait=0.2), 2, "allowed again")


def test_node_join_and_leave_routes(env):
    n3 = env.n3
    env.srv.create("nodes", node_obj(n3))

    def route(node):
        return node.exec("ip", "route", "show", n3.pod_cidr4).stdout
    for n in (env.n1, env.n2):
        until(lambda: f"via {n3.ip4}" in route(n), 2, f"route to n3's pods on {n.name}")
    env.kubectl("delete", "node", n3.name)
    for n in (env.n1, env.n2):
        until(lambda: route(n).strip() == "", 2, f"route to n3's pods gone on {n.name}")


def test_xdpfilter_objects_become_filters(env, pods):
    cl, sv = pods["client"], pods["server"]
    # The test server serves xdpfilters as a built-in resource (it has no
    # apiextensions): the CRD itself is checked in test_deploy_manifests.
    obj = {"apiVersion": "xdpath.io/v1alpha1", "kind": "XdpFilter",
           "metadata": {"name": "no-icmp-to-server"},
           "spec": {"rule": f"icmp && ip.dst == {sv.ip4}", "action": "drop", "scope": "pods"}}
    env.apply(obj)

    def rules(node):
        return {r["name"] for r in env.ctl(node, "filter", "list")["filters"]}
    for n in (env.n1, env.n2):
        until(lambda: "crd:no-icmp-to-server" in rules(n), 3, f"filter on {n.name}")
    assert not reach(cl, sv, wait=0.5)
    hits = [l for l in env.http(env.n1, "/metrics")[1].splitlines()
            if l.startswith('xdpath_filter_hits_total{rule="crd:no-icmp-to-server",action="drop"}')]
    assert hits and float(hits[0].split()[-1]) >= 1, hits
    env.kubectl("delete", "xdpfilter", "no-icmp-to-server")
    for n in (env.n1, env.n2):
        until(lambda: "crd:no-icmp-to-server" not in rules(n), 3, f"filter gone on {n.name}")
    until(lambda: reach(cl, sv, wait=0.2), 2, "allowed again")


def test_metrics(env, pods):
    code, body = env.http(env.n2, "/metrics")
    assert code == 200
    lines = body.splitlines()
    assert any(l.startswith('xdpath_drops_total{reason="policy_denied"}') for l in lines)
    assert any(l.startswith("xdpath_map_capacity{") for l in lines)
    ev = [l for l in lines if l.startswith('xdpath_k8s_watch_events_total{resource="pods"}')]
    assert ev and float(ev[0].split()[-1]) >= 0
    assert "xdpath_ready 1" in lines
    assert any(l.startswith('xdpath_k8s_watch_lag_seconds{resource="pods"}') for l in lines)
    assert any(l.startswith("xdpath_k8s_first_sync_seconds ") for l in lines)
    types = [l for l in lines if l.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "one # TYPE per family"


def test_policy_map_full_gets_an_event_on_the_pod(env):
    """600 identities x 100 ports admitted to 5 pods on n2: more entries than
    xdp_policy holds (the scenario of test_policy_mapfull). The pods whose
    entries do not fit are denied (fail closed) and get a Warning Event."""
    env.srv.create("namespaces", {"metadata": {"name": "big"}})
    for i in range(5):
        env.add_pod("n2", f"t{i}", "big", {"role": "target"})
    for i in range(600):
        ip = f"10.252.{i // 250}.{i % 250 + 1}"
        env.srv.create("pods", {"metadata": {"name": f"r{i}", "namespace": "big",
                                             "labels": {"idx": str(i)}},
                                "spec": {"nodeName": "elsewhere"},
                                "status": {"podIP": ip, "podIPs": [{"ip": ip}]}}, namespace="big")
    wide = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "wide", "namespace": "big"},
            "spec": {"podSelector": {"matchLabels": {"role": "target"}},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                         {"key": "idx", "operator": "Exists"}]}}],
                         "ports": [{"protocol": "UDP", "port": 1000 + 2 * k} for k in range(100)]}]}}
    env.apply(wide)

    def events():
        return [ev for ev in env.srv.list("events", namespace="big")
                if ev.get("reason") == "PolicyMapFull"]
    until(lambda: events(), 60, "a PolicyMapFull Event", step=0.2)
    ev = events()[0]
    assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["name"].startswith("t"), ev
    assert ev["type"] == "Warning" and "denied" in ev["message"], ev
    st = env.ctl(env.n2, "policy", "list")["stats"]
    assert st["mapFullEndpoints"] >= 1, st
    env.kubectl("delete", "networkpolicy", "wide", "-n", "big")
    until(lambda: env.ctl(env.n2, "policy", "list")["stats"]["mapFullEndpoints"] == 0, 30,
          "the map fits again", step=0.2)


def test_large_lists_are_paginated(env, pods):
    """1 200 more pods (remote: on nodes that do not exist here): n1's agent
    restarted lists them in pages of 500 and has every one."""
    env.srv.create("namespaces", {"metadata": {"name": "bulk"}})
    for i in range(1200):
        env.srv.create("pods", {"metadata": {"name": f"r{i}", "namespace": "bulk",
                                             "labels": {"app": f"a{i % 5}"}},
                                "spec": {"nodeName": "elsewhere"},
                                "status": {"podIP": f"10.251.{i // 250}.{i % 250 + 1}",
                                           "podIPs": [{"ip": f"10.251.{i // 250}.{i % 250 + 1}"}]}},
                       namespace="bulk")
    total = len(env.srv.list("pods"))
    env.c.kill_agent(env.n1, signal.SIGTERM)
    env.c.start_agent(env.n1)
    until(lambda: env.ctl(env.n1, "policy", "list")["stats"]["pods"] == total, 10,
          f"n1 has all {total} pods")
    st = env.ctl(env.n1, "status")
    assert st["synced"] is True
    pods_res = next(r for r in st["kubernetes"]["resources"] if r["resource"] == "pods")
    assert pods_res["objects"] == total and pods_res["synced"], pods_res
    table = sandbox.run([CTL, "--socket", env.n1.socket, "status"]).stdout
    assert "kubernetes: https://" in table and ", synced" in table, table
    row = next(l for l in table.splitlines() if l.startswith("pods "))
    assert row.split()[1:3] == ["yes", str(total)], row
    cl, sv = pods["client"], pods["server"]
    assert reach(cl, sv, wait=1)


def test_in_cluster_config_rereads_a_rotated_token(env, pods):
    """n2's agent restarted with in-cluster config; the token rotates (the
    server accepts only the new one): after a forced reconnect the agent
    keeps syncing, so it read the new token from the file."""
    n2 = env.n2
    sa = tempfile.mkdtemp(prefix="sa-", dir=n2.state_dir)
    shutil.copy(env.srv.ca_path, os.path.join(sa, "ca.crt"))
    with open(os.path.join(sa, "token"), "w") as f:
        f.write(env.srv.token + "\n")
    old_env = dict(os.environ)
    env.c.kill_agent(n2, signal.SIGTERM)
    try:
        os.environ["KUBERNETES_SERVICE_HOST"] = sandbox.EXT4
        os.environ["KUBERNETES_SERVICE_PORT"] = str(env.srv.port)
        env.c.agent_extra["kubernetes"] = {"inCluster": True, "serviceAccountDir": sa}
        env.c.agent_extra["cniConf"] = {"path": os.path.join(n2.state_dir, "net.d", "05-xdpath.conflist"),
                                        "ipamDir": os.path.join(n2.state_dir, "ipam")}
        env.c.start_agent(n2)
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        env.c.agent_extra["kubernetes"] = {"kubeconfig": env.kubeconfig}
    cl, sv = pods["client"], pods["server"]
    until(lambda: env.http(n2, "/readyz")[0] == 200, 5, "in-cluster agent ready")
    # Rotate: new token in the file, the server takes only the new one.
    with open(os.path.join(sa, "token.new"), "w") as f:
        f.write("rotated-token\n")
    os.replace(os.path.join(sa, "token.new"), os.path.join(sa, "token"))
    env.srv.token = "rotated-token"
    env.srv.stop(cleanup=False)
    env.srv.start()
    with open(env.kubeconfig) as f:
        kc = json.load(f)
    kc["users"][0]["user"]["token"] = "rotated-token"   # kubectl and n1 too
    with open(env.kubeconfig, "w") as f:
        json.dump(kc, f)
    env.apply(isolate("deny-server", "back", {"app": "server"}))
    until(lambda: not reach(cl, sv, wait=0.2), 10, "enforced by the agent with the rotated token")
    env.kubectl("delete", "networkpolicy", "deny-server", "-n", "back")
    until(lambda: reach(cl, sv, wait=0.2), 10, "allowed again")


def test_fresh_node_not_ready_until_synced(env):
    """Fail closed: a node whose agent has never synced takes no pods."""
    n3 = env.n3
    env.srv.stop(cleanup=False)
    try:
        env.c.agent_extra["cniConf"] = {"path": os.path.join(n3.state_dir, "net.d", "05-xdpath.conflist"),
                                        "ipamDir": os.path.join(n3.state_dir, "ipam")}
        # n3's config has its own addresses here (its Node object is gone).
        env.c.agent_extra.update({"nodeIP": n3.ip4, "podCIDRs": n3.pod_cidrs})
        env.c._launch_agent(n3)
        until(lambda: env.http(n3, "/healthz")[0] == 200, 10, "n3 agent up")
        time.sleep(1.0)
        assert env.http(n3, "/readyz")[0] == 503
        st = env.ctl(n3, "status")
        assert st["ready"] is False, st
        assert not os.path.exists(os.path.join(n3.state_dir, "net.d", "05-xdpath.conflist"))
        with pytest.raises(sandbox.SandboxError, match="exit 1"):
            env.c.add_pod(n3, "early", namespace="default", labels={"app": "early"})
    finally:
        env.srv.start()
    until(lambda: env.http(n3, "/readyz")[0] == 200, 15, "n3 ready once the API is back")
    assert os.path.exists(os.path.join(n3.state_dir, "net.d", "05-xdpath.conflist"))
    p = env.c.add_pod(n3, "late", namespace="default", labels={"app": "late"})
    assert p.ip4


def test_vxlan_mode_tunnels_policy_and_filters_from_the_api():
    """The same controller in vxlan mode: the tunnel routes come from Node
    objects, `kubectl apply` denies a cross-node flow, and an XdpFilter on
    pod addresses drops tunnelled traffic on the receiving node."""
    gen = cluster_env("vxlan")
    e = next(gen)
    try:
        cl = e.add_pod("n1", "client", "front", {"app": "client"})
        sv = e.add_pod("n2", "server", "back", {"app": "server"})
        r = e.n1.exec("ip", "route", "show", e.n2.pod_cidr4).stdout
        assert "dev xdpvx0" in r and "proto 217" in r, r
        assert reach(cl, sv, wait=1) and reach(sv, cl, wait=1)
        e.apply(isolate("deny-server", "back", {"app": "server"}))
        until(lambda: not reach(cl, sv, wait=0.2), DENY_S, "kubectl apply -> denied")
        e.kubectl("delete", "networkpolicy", "deny-server", "-n", "back")
        until(lambda: reach(cl, sv, wait=0.2), DENY_S, "kubectl delete -> allowed")
        e.apply({"apiVersion": "xdpath.io/v1alpha1", "kind": "XdpFilter",
                 "metadata": {"name": "no-icmp-from-client"},
                 "spec": {"rule": f"icmp and ip.src == {cl.ip4}", "action": "drop",
                          "scope": "uplink"}})
        until(lambda: not reach(cl, sv, wait=0.2), 2, "XdpFilter -> dropped on n2's tunnel")
        rules = {f["name"]: f for f in e.ctl(e.n2, "filter", "list")["filters"]}
        assert rules["crd:no-icmp-from-client"]["drops"] >= 1, rules
        e.kubectl("delete", "xdpfilter", "no-icmp-from-client")
        until(lambda: reach(cl, sv, wait=0.2), 2, "XdpFilter deleted -> allowed")
    finally:
        gen.close()
