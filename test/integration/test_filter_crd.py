"""XdpFilter objects: the CRD manifest (deploy/crds/xdpfilter.yaml) and the
agent turning objects of its filterDir into rules named crd:NAME on a real
2-node sandbox cluster: applied, changed, deleted, invalid ones reported
while the others keep working, and the CLI refusing to touch them."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
CRD = os.path.join(ROOT, "deploy", "crds", "xdpfilter.yaml")
EXAMPLES = os.path.join(ROOT, "deploy", "examples")
WAIT_S = 5.0

UDP_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"x" * 32, (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.002)
"""

UDP_COUNT = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
n = 0
try:
    while True:
        s.recv(64)
        n += 1
except socket.timeout:
    pass
print(n)
"""


def ctl(node, *args, check=True):
    r = subprocess.run([CTL, "--socket", node.socket, *args], capture_output=True, text=True,
                       timeout=30)
    if check and r.returncode != 0:
        pytest.fail(f"xdpathctl {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


def listing(node):
    return json.loads(ctl(node, "filter", "list", "-o", "json").stdout)


def rules(node):
    return {f["name"]: f for f in listing(node)["filters"]}


def eventually(cond, what, timeout=WAIT_S):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def write(d, name, text):
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(d, name))


def received(src, dst, port, count=50):
    """UDP datagrams from src that reach dst:port (of count sent)."""
    rx = dst.popen("python3", "-c", UDP_COUNT, dst.ip4, str(port), "1.0",
                   stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    src.exec("python3", "-c", UDP_SEND, dst.ip4, str(port), str(count))
    out, _ = rx.communicate(timeout=15)
    return int(out.strip() or 0)


# ---- the manifest -----------------------------------------------------------------------------

def test_crd_manifest_matches_the_agent():
    with open(CRD) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert len(docs) == 1
    crd = docs[0]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert (spec["group"], spec["scope"], spec["names"]["kind"]) == \
        ("xdpath.io", "Cluster", "XdpFilter")
    (ver,) = spec["versions"]
    assert ver["name"] == "v1alpha1" and ver["served"] and ver["storage"]
    props = ver["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    # exactly the keys agent/filtersrc.c reads, with its enums
    assert set(props) == {"rule", "catalog", "action", "rate", "per", "scope", "expires"}
    assert props["action"]["enum"] == ["drop", "pass", "count", "rate-limit"]
    assert props["per"]["enum"] == ["rule", "src", "dst"]
    assert props["rate"]["minimum"] == 1 and props["rate"]["maximum"] == 10000000
    assert props["expires"]["format"] == "date-time"


def test_examples_are_xdpfilters():
    names = sorted(n for n in os.listdir(EXAMPLES) if n.startswith("xdpfilter-"))
    assert names, "no XdpFilter examples"
    for n in names:
        with open(os.path.join(EXAMPLES, n)) as f:
            (obj,) = [d for d in yaml.safe_load_all(f) if d]
        assert (obj["apiVersion"], obj["kind"]) == ("xdpath.io/v1alpha1", "XdpFilter"), n
        rule = obj["spec"].get("rule")
        if rule:  # the agent compiles it; so does the CLI, offline
            r = subprocess.run([CTL, "filter", "check", rule], capture_output=True, text=True)
            assert r.returncode == 0, (n, r.stderr)


# ---- the agent ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="xdpath-xdpfilter-")
    os.chmod(d, 0o755)
    c = sandbox.Cluster(nodes=2, pods=0, mode="native", agent=True,
                        agent_extra={"filterDir": d})
    try:
        a = c.add_pod(c.nodes[0], name="a", namespace="xf")
        b = c.add_pod(c.nodes[1], name="b", namespace="xf")
        yield c, d, a, b
    finally:
        c.close()
        shutil.rmtree(d, ignore_errors=True)


def test_objects_become_rules(env):
    c, d, a, b = env
    for n in os.listdir(EXAMPLES):
        if n.startswith("xdpfilter-"):
            shutil.copy(os.path.join(EXAMPLES, n), os.path.join(d, n))
    for node in c.nodes:
        eventually(lambda: {"crd:sack-panic", "crd:memcached-flood"} <= set(rules(node)),
                   f"{node.name} applied the examples")
        r = rules(node)
        assert r["crd:sack-panic"]["origin"] == "xdpfilter"
        assert r["crd:sack-panic"]["expr"] == "tcp.flags.syn and tcp.opt.mss in 1..500"
        assert r["crd:sack-panic"]["active"] and r["crd:memcached-flood"]["active"]
        assert r["crd:memcached-flood"]["action"] == "count"
        assert r["crd:memcached-flood"]["scope"] == "uplink"
    for n in os.listdir(d):
        os.unlink(os.path.join(d, n))
    for node in c.nodes:
        eventually(lambda: not any(k.startswith("crd:") for k in rules(node)),
                   f"{node.name} removed the rules of deleted objects")


def test_change_delete_and_invalid(env):
    c, d, a, b = env
    n2 = c.nodes[1]
    base = ("apiVersion: xdpath.io/v1alpha1\nkind: XdpFilter\nmetadata: {name: udp-9000}\n"
            "spec:\n  rule: 'udp.dport == 9000'\n  action: %s\n  scope: uplink\n")
    write(d, "udp.yaml", base % "count")
    eventually(lambda: rules(n2).get("crd:udp-9000", {}).get("action") == "count", "applied")
    assert received(a, b, 9000) == 50, "count-only dropped traffic"
    assert rules(n2)["crd:udp-9000"]["hits"] >= 50

    # an invalid object next to it: reported, the valid one keeps working
    write(d, "bad.yaml", "apiVersion: xdpath.io/v1alpha1\nkind: XdpFilter\n"
          "metadata: {name: broken}\nspec: {rule: 'udp.dprt == 1'}\n---\n"
          "apiVersion: xdpath.io/v1alpha1\nkind: XdpFilter\nmetadata: {name: both}\n"
          "spec: {rule: 'udp', catalog: CVE-2019-11477}\n")
    eventually(lambda: len(listing(n2)["invalid"]) == 2, "invalid objects reported")
    bad = {p["at"].split()[-1]: p["error"] for p in listing(n2)["invalid"]}
    assert "column 1: unknown field 'udp.dprt'" in bad["broken"], bad
    assert "exactly one of rule and catalog" in bad["both"], bad
    assert "crd:broken" not in rules(n2) and "crd:both" not in rules(n2)
    table = ctl(n2, "filter", "list").stdout
    assert "invalid XdpFilter objects (skipped)" in table and "udp.dprt" in table

    # changed: count -> drop, same name, replaced
    write(d, "udp.yaml", base % "drop")
    eventually(lambda: rules(n2).get("crd:udp-9000", {}).get("action") == "drop", "changed")
    assert received(a, b, 9000) == 0, "the changed object did not drop"
    assert rules(n2)["crd:udp-9000"]["drops"] >= 50

    # the CLI does not touch them
    r = ctl(n2, "filter", "del", "crd:udp-9000", check=False)
    assert r.returncode == 1 and "delete that object instead" in r.stderr
    r = ctl(n2, "filter", "add", "crd:mine", "udp", check=False)
    assert r.returncode == 1 and "are the agent's" in r.stderr

    # deleted: the traffic flows again
    os.unlink(os.path.join(d, "udp.yaml"))
    os.unlink(os.path.join(d, "bad.yaml"))
    eventually(lambda: "crd:udp-9000" not in rules(n2) and not listing(n2)["invalid"],
               "deleted object removed")
    assert received(a, b, 9000) == 50


def test_expired_object_stays_listed_and_matches_nothing(env):
    c, d, a, b = env
    n2 = c.nodes[1]
    write(d, "old.yaml", "apiVersion: xdpath.io/v1alpha1\nkind: XdpFilter\n"
          "metadata: {name: old}\nspec:\n  rule: 'udp.dport == 9001'\n"
          "  expires: '2020-01-01T00:00:00Z'\n")
    eventually(lambda: "crd:old" in rules(n2), "expired object listed")
    r = rules(n2)["crd:old"]
    assert not r["active"] and r["status"] == "expired", r
    assert received(a, b, 9001) == 50
    os.unlink(os.path.join(d, "old.yaml"))
    eventually(lambda: "crd:old" not in rules(n2), "removed")
