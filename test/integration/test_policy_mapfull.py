"""The policy map full: the endpoint whose entries do not fit is denied
(fail closed), reported with its pod and counted; every other endpoint keeps
its policy; once the entries fit again (here: the policy is deleted) the
endpoint recovers.

One node, five target pods and a client. 600 Pod objects with distinct
labels (600 identities) plus the client; one policy admits all of them to
the five targets on 100 ports: 601 x 100 = 60 100 entries per target (each
within its quarter share), 300 500 in all, more than xdp_policy's 262 144."""
import json
import os
import shutil
import sys
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
PORT = 1000
NPODS = 600
NPORTS = 100

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(64); s.sendto(d, a)
"""

PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
try:
    s.sendto(b"x", (sys.argv[1], int(sys.argv[2]))); s.recv(8); print("ok")
except OSError:
    print("no"); sys.exit(1)
"""


def write(d, name, obj):
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, os.path.join(d, name))


def pod_obj(name, labels, node, ips):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "big", "labels": labels},
            "spec": {"nodeName": node},
            "status": {"podIPs": [{"ip": ip} for ip in ips]}}


def ctl(node, *args):
    return json.loads(sandbox.run([CTL, "--socket", node.socket, *args, "-o", "json"]).stdout)


def reachable(client, target):
    return client.exec("python3", "-c", PROBE, target.ip4, str(PORT), check=False).returncode == 0


def eventually(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def test_map_full_fails_closed_per_endpoint():
    d = tempfile.mkdtemp(prefix="xdpath-mapfull-")
    os.chmod(d, 0o755)
    c = sandbox.Cluster(nodes=1, pods=0, mode="native", agent=True, agent_extra={"policyDir": d})
    servers = []
    try:
        node = c.nodes[0]
        write(d, "ns.json", {"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "big",
                                          "labels": {"kubernetes.io/metadata.name": "big"}}})
        pods = {}
        for name, labels in [("client", {"idx": "client"})] + \
                [(f"t{i}", {"role": "target"}) for i in range(5)]:
            write(d, f"pod-{name}.json", pod_obj(name, labels, node.name, []))
            p = c.add_pod(node, name=name, namespace="big", labels=labels)
            write(d, f"pod-{name}.json", pod_obj(name, labels, node.name, [p.ip4]))
            pods[name] = p
        client, targets = pods["client"], [pods[f"t{i}"] for i in range(5)]
        for t in targets:
            servers.append(t.popen("python3", "-c", ECHO, str(PORT)))
        write(d, "many.json", {"apiVersion": "v1", "kind": "List", "items": [
            pod_obj(f"r{i}", {"idx": str(i)}, "elsewhere", [f"10.250.{i // 250}.{i % 250 + 1}"])
            for i in range(NPODS)]})
        time.sleep(0.3)
        assert all(reachable(client, t) for t in targets)
        write(d, "policy.json", {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "wide", "namespace": "big"},
            "spec": {"podSelector": {"matchLabels": {"role": "target"}},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                         {"key": "idx", "operator": "Exists"}]}}],
                         "ports": [{"protocol": "UDP", "port": PORT + 2 * k}
                                   for k in range(NPORTS)]}]}})

        def full():
            st = ctl(node, "policy", "list")
            return st["stats"]["mapFullEndpoints"] >= 1 and st
        try:
            eventually(full, 60, "the map-full state reported")
        except BaseException:
            print(open(node.agent_log).read()[-3000:])
            print(json.dumps(ctl(node, "policy", "list")["stats"]))
            raise
        st = ctl(node, "policy", "list")
        assert st["stats"]["mapFullEndpoints"] == 1
        assert st["stats"]["mapFullEntriesTotal"] > 0
        errs = [e for e in st["errors"] if "policy map full" in e["reason"]]
        assert len(errs) == 1 and errs[0]["namespace"] == "big", errs
        failed = pods[errs[0]["name"]]
        assert failed in targets
        # the failed endpoint is denied although the policy admits the client,
        # every other target is enforced as compiled
        for t in targets:
            assert reachable(client, t) == (t is not failed), t.name
        log = open(node.agent_log).read()
        assert "policy map full" in log
        # the entries fit again once the policy is gone: everything recovers
        os.unlink(os.path.join(d, "policy.json"))
        eventually(lambda: ctl(node, "policy", "list")["stats"]["mapFullEndpoints"] == 0, 60,
                   "the map-full state cleared")
        eventually(lambda: all(reachable(client, t) for t in targets), 10,
                   "every target reachable again")
    finally:
        for s in servers:
            s.kill()
            s.wait()
        c.close()
        shutil.rmtree(d, ignore_errors=True)
