"""NetworkPolicy end to end on the sandbox cluster (native mode, 2 nodes x 2
pods): every agent reads the same policyDir (Namespace, Pod and
NetworkPolicy manifests, written here), compiles it and writes the policy
maps; the datapath enforces once the agent set XDP_CFG_F_POLICY.

Without any policy every pod reaches every other; a deny-all-ingress policy
isolates one pod (same-node and cross-node pings to it fail, counted as
policy_denied, while its own pings out still get their replies through
conntrack); an allow rule from one pod on TCP 8080 lets exactly that pod
connect there; deleting the policies opens everything again. The node can
always ping its own pods (ipcache: nodeIP -> XDP_ID_HOST).

"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
PORT = 8080
ENFORCE_S = 2.0   # a policy change must show in the datapath within this

TCP_SERVE = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); s.settimeout(1)
end = time.time() + 30
while time.time() < end:
    try:
        c, peer = s.accept()
    except socket.timeout:
        continue
    c.sendall(b"hello " + peer[0].encode()); c.close()
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


# -- manifests --------------------------------------------------------------

def _write(d, name, obj):
    """Atomically (rename: one inotify event, never a half file)."""
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, os.path.join(d, name))


def pod_labels(pod):
    return dict(pod.labels) or {"app": pod.id}


def write_pod_manifests(d, pods):
    """Namespace and Pod objects for the sandbox pods, as the CNI named them
    (K8S_POD_NAMESPACE / K8S_POD_NAME), with their IPs as status.podIPs."""
    for ns in sorted({p.namespace for p in pods}):
        _write(d, f"ns-{ns}.json", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}})
    for p in pods:
        ips = [ip for ip in (p.ip4, p.ip6) if ip]
        _write(d, f"pod-{p.namespace}-{p.name}.json", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": pod_labels(p)},
            "spec": {"nodeName": p.node.name},
            "status": {"podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}})


def netpol(name, pod, ingress=None):
    spec = {"podSelector": {"matchLabels": pod_labels(pod)}, "policyTypes": ["Ingress"]}
    if ingress:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": pod.namespace}, "spec": spec}


# -- helpers ----------------------------------------------------------------

def ctl(node, *args):
    r = sandbox.run([CTL, "--socket", node.socket, *args, "-o", "json"])
    return json.loads(r.stdout)


def denied(cluster):
    return sum(ctl(n, "metrics")["drops"]["policy_denied"]["packets"] for n in cluster.nodes)


def eventually(cond, timeout=ENFORCE_S, what="condition"):
    end = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def pings(src, dst, wait=1):
    return src.ping(dst.ip4, count=1, wait=wait)


def all_pairs_ok(cluster, skip_src=()):
    bad = [(a.id, b.id) for a in cluster.pods for b in cluster.pods
           if a is not b and a not in skip_src and not pings(a, b)]
    return bad


def connect(src, dst):
    r = src.exec("python3", "-c", TCP_CONNECT, dst.ip4, str(PORT), check=False, timeout=5)
    return r.returncode == 0 and r.stdout.startswith("hello")


# -- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="xdpath-policy-")
    os.chmod(d, 0o755)
    c = sandbox.Cluster(nodes=2, pods=2, mode="native", agent=True,
                        agent_extra={"policyDir": d})
    try:
        write_pod_manifests(d, c.pods)
        yield c, d
    finally:
        c.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def roles(env):
    c, _ = env
    n1, n2 = c.nodes
    return {"target": n1.pods[0], "same": n1.pods[1], "allowed": n2.pods[0],
            "other": n2.pods[1]}


def node_pings_own_pods(c):
    return all(n.ping(p.ip4, count=1, wait=1) for n in c.nodes for p in n.pods)


# -- tests ------------------------------------------------------------------

def test_enforcing_without_policy_nothing_isolated(env, roles):
    c, _ = env
    for n in c.nodes:
        eventually(lambda: ctl(n, "policy", "list")["stats"]["pods"] == len(c.pods),
                   what=f"{n.name} loaded the Pod manifests")
        assert ctl(n, "policy", "list")["stats"]["policies"] == 0
        log = open(n.agent_log).read()
        assert "NetworkPolicy enforced" in log and "policy maps updated" in log
    assert all_pairs_ok(c) == []
    assert node_pings_own_pods(c)


def test_deny_all_ingress(env, roles):
    c, d = env
    t = roles["target"]
    before = denied(c)
    _write(d, "np-deny.json", netpol("deny-target", t))
    # same node and cross node: denied within ENFORCE_S
    for src in (roles["same"], roles["other"]):
        eventually(lambda: not pings(src, t, wait=1), what=f"{src.id} -> {t.id} denied")
    assert not pings(roles["allowed"], t)
    assert denied(c) > before
    # attributed to the target's ingress, on the target's node only
    eps = {(e["podNamespace"], e["podName"]): e for e in ctl(t.node, "metrics")["endpoints"]}
    mine = eps[(t.namespace, t.name)]
    assert mine["policy_denied_ingress"] >= 3 and mine["policy_denied_egress"] == 0, mine
    for src in (roles["same"], roles["other"], roles["allowed"]):
        e = {(x["podNamespace"], x["podName"]): x
             for x in ctl(src.node, "metrics")["endpoints"]}[(src.namespace, src.name)]
        assert e["policy_denied_ingress"] == 0 and e["policy_denied_egress"] == 0, e
    # and each drop is an event: pod, direction, why, protocol, addresses
    evs = ctl(t.node, "policy", "drops")["events"]
    seen = {(e["src"], e["dst"]) for e in evs
            if e["podName"] == t.name and e["podNamespace"] == t.namespace and
            e["direction"] == "ingress" and e["why"] == "no-rule" and e["protocol"] == "ICMP"}
    for src in (roles["same"], roles["other"], roles["allowed"]):
        assert (src.ip4, t.ip4) in seen, (src.id, evs[-5:])
    assert all(e["seq"] > 0 for e in evs)
    last = evs[-1]["seq"]
    assert not pings(roles["same"], t)
    newer = sandbox.run([CTL, "--socket", t.node.socket, "policy", "drops", "-o", "json"])
    assert json.loads(newer.stdout)["last"] > last
    # --follow streams new drops (JSON: one per line)
    f = subprocess.Popen([CTL, "--socket", t.node.socket, "policy", "drops", "--follow",
                          "-o", "json"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.4)
        assert not pings(roles["other"], t)
        ev = json.loads(f.stdout.readline())
        assert ev["podName"] == t.name and ev["src"] == roles["other"].ip4, ev
        assert ev["seq"] > json.loads(newer.stdout)["last"]
    finally:
        f.kill()
        f.wait()
    # its own pings out work: the replies are tracked
    for dst in (roles["same"], roles["other"], roles["allowed"]):
        assert pings(t, dst), f"{t.id} -> {dst.id}"
    # other pods are not affected
    assert pings(roles["same"], roles["other"])
    assert node_pings_own_pods(c)


def test_allow_tcp_port_from_one_pod(env, roles):
    c, d = env
    t = roles["target"]
    server = t.popen("python3", "-c", TCP_SERVE, t.ip4, str(PORT))
    try:
        time.sleep(0.3)
        assert not connect(roles["allowed"], t)     # deny-all still in force
        _write(d, "np-allow.json", netpol("allow-8080", t, ingress=[{
            "from": [{"podSelector": {"matchLabels": pod_labels(roles["allowed"])}}],
            "ports": [{"protocol": "TCP", "port": PORT}]}]))
        eventually(lambda: connect(roles["allowed"], t), timeout=ENFORCE_S + 3,
                   what="allowed pod connects to 8080")
        assert not connect(roles["other"], t)
        assert not connect(roles["same"], t)
        assert not pings(roles["allowed"], t)       # ICMP is not in the rule
        assert node_pings_own_pods(c)
    finally:
        server.kill()
        server.wait()


def test_delete_policies_opens_again(env, roles):
    c, d = env
    for name in ("np-allow.json", "np-deny.json"):
        os.unlink(os.path.join(d, name))
    t = roles["target"]
    eventually(lambda: pings(roles["other"], t, wait=1), what="target reachable again")
    assert all_pairs_ok(c) == []
    assert node_pings_own_pods(c)


def test_new_pod_gets_policy_state_promptly(env):
    """A pod added while enforcing has no xdp_ep_policy entry until the agent
    recompiles: the endpoint record triggers that at once."""
    c, d = env
    p = c.add_pod(c.nodes[0])
    try:
        write_pod_manifests(d, [p])
        peer = c.nodes[1].pods[0]
        eventually(lambda: pings(p, peer, wait=1) and pings(peer, p, wait=1),
                   what="new pod reachable")
    finally:
        os.unlink(os.path.join(d, f"pod-{p.namespace}-{p.name}.json"))
        c.delete_pod(p)


def ep_policy_flags(node, host_veth):
    """The xdp_ep_policy flags of the endpoint on host_veth, None if absent."""
    ifindex = int(node.exec("cat", f"/sys/class/net/{host_veth}/ifindex").stdout)
    key = [str(b) for b in ifindex.to_bytes(4, "little")]
    r = sandbox.run(["bpftool", "-j", "map", "lookup", "pinned",
                     os.path.join(node.pin_root, "xdp_ep_policy"), "key", *key], check=False)
    if r.returncode:
        return None
    val = json.loads(r.stdout)["value"]
    return int.from_bytes(bytes(int(b, 16) for b in val[:4]), "little")


EP_POL_INGRESS_ISOLATED = 1 << 0
EP_POL_READY = 1 << 2


def test_new_pod_isolated_from_its_first_packet(env):
    """No first-packet window: a pod created after a policy that isolates it
    has its policy in place when ADD returns (the plugin waits for it,
    bounded by datapath.policyWaitMs; before that the endpoint is denied)."""
    c, d = env
    node = c.nodes[0]
    _write(d, "np-late.json", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny-late", "namespace": "late"},
        "spec": {"podSelector": {"matchLabels": {"app": "late"}}, "policyTypes": ["Ingress"]}})
    _write(d, "ns-late.json", {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "late"}})
    # the Pod object exists before its sandbox (as in Kubernetes), no IPs yet
    _write(d, "pod-late-p.json", {"apiVersion": "v1", "kind": "Pod",
                                  "metadata": {"name": "p", "namespace": "late",
                                               "labels": {"app": "late"}},
                                  "spec": {"nodeName": node.name}})
    for n in c.nodes:
        eventually(lambda: ctl(n, "policy", "list")["stats"]["policies"] >= 1,
                   what=f"{n.name} loaded deny-late")
    p = c.add_pod(node, name="p", namespace="late", labels={"app": "late"})
    try:
        flags = ep_policy_flags(node, p.host_veth)
        assert flags is not None and flags & EP_POL_READY, flags
        assert flags & EP_POL_INGRESS_ISOLATED, flags
        assert not pings(c.nodes[1].pods[0], p)
        assert not pings(node.pods[0], p)
        assert pings(p, c.nodes[1].pods[0])         # its egress is not isolated
    finally:
        for f in ("np-late.json", "ns-late.json", "pod-late-p.json"):
            os.unlink(os.path.join(d, f))
        c.delete_pod(p)


def test_new_pod_denied_until_its_policy_is_written(env):
    """With the agent stalled, ADD waits its bound (policyWaitMs, 2 s by
    default), warns, and the pod is denied in both directions (fail closed)
    until the agent catches up; then its unisolated traffic flows."""
    c, d = env
    node, peer = c.nodes[0], c.nodes[1].pods[0]
    _write(d, "pod-default-stalled.json", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stalled", "namespace": "default", "labels": {"app": "stalled"}},
        "spec": {"nodeName": node.name}})
    eventually(lambda: ctl(node, "policy", "list")["stats"]["pods"] == len(c.pods) + 1,
               what="the agent read the Pod object")
    os.kill(node.agent.pid, signal.SIGSTOP)
    p = None
    try:
        t0 = time.monotonic()
        p = c.add_pod(node, name="stalled", namespace="default", labels={"app": "stalled"})
        took = time.monotonic() - t0
        assert took >= 2.0, took
        assert ep_policy_flags(node, p.host_veth) is None
        assert not pings(p, peer)
        assert not pings(peer, p)
    finally:
        os.kill(node.agent.pid, signal.SIGCONT)
    try:
        eventually(lambda: ep_policy_flags(node, p.host_veth) is not None,
                   what="policy state written after the agent resumed")
        eventually(lambda: pings(p, peer, wait=1) and pings(peer, p, wait=1),
                   what="stalled pod reachable once its policy is in place")
    finally:
        os.unlink(os.path.join(d, "pod-default-stalled.json"))
        c.delete_pod(p)


def ct_entry(node, saddr, daddr, sport, dport, last_seen_ns, update=True):
    """Write (or look up) one xdp_ct entry of an IPv4 UDP tuple with bpftool."""
    import ipaddress
    key = (ipaddress.ip_address(saddr).packed + bytes(12) + ipaddress.ip_address(daddr).packed +
           bytes(12) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big") +
           bytes([17, 1, 0, 0]))
    pin = os.path.join(node.pin_root, "xdp_ct")
    kargs = ["key", *[str(b) for b in key]]
    if update:
        val = last_seen_ns.to_bytes(8, "little") + (2).to_bytes(4, "little") + bytes(4)
        sandbox.run(["bpftool", "map", "update", "pinned", pin, *kargs,
                     "value", *[str(b) for b in val]])
        return True
    return sandbox.run(["bpftool", "map", "lookup", "pinned", pin, *kargs],
                       check=False).returncode == 0


def test_conntrack_sweep(env):
    """Expired conntrack entries are removed at the resync (here: SIGHUP);
    live ones stay."""
    c, _ = env
    node = c.nodes[0]
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    old = now - 3600 * 10**9                       # UDP lives 60 s
    ct_entry(node, "10.99.0.1", "10.99.0.2", 1000, 53, old)
    ct_entry(node, "10.99.0.1", "10.99.0.2", 1001, 53, now)
    before = ctl(node, "metrics")["conntrack"]["expiredRemoved"]
    os.kill(node.agent.pid, signal.SIGHUP)
    eventually(lambda: not ct_entry(node, "10.99.0.1", "10.99.0.2", 1000, 53, 0, update=False),
               timeout=5, what="the expired entry swept")
    assert ct_entry(node, "10.99.0.1", "10.99.0.2", 1001, 53, 0, update=False)
    assert ctl(node, "metrics")["conntrack"]["expiredRemoved"] > before
