"""Uplink filters in vxlan mode: pod traffic from another node arrives on the
uplink VXLAN-encapsulated, so the uplink's XDP sees only the outer
node-to-node headers. `xdpvx0` runs pod_entry at TC ingress, which applies
the uplink-scope filters to the decapsulated frame before to_pod, so a rule
on pod addresses pushed on the receiving node alone drops the traffic.

A sandbox cluster (vxlan mode, 2 nodes, agents): flt/a on n1, flt/c on n2.
UDP flows a -> c are counted at c (helpers shared with test_filter_live).
Every test leaves both nodes with no rules and their agents running.
"""
import json
import os
import signal
import sys

import pytest

# clean: test_filter_live's autouse fixture (agents running, no rules left),
# applied to this module's cluster.
from test_filter_live import FRAME, add, clean, ctl, flow, rules  # noqa: F401

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

NS = "flt"
VXLAN_PORT = 8472       # the agent's default vxlanPort


def tc_ingress(node, dev):
    """(name, id) of the BPF program at TC ingress of dev in the node, or None."""
    out = node.exec("tc", "-j", "filter", "show", "dev", dev, "ingress").stdout
    for f in json.loads(out or "[]"):
        prog = f.get("options", {}).get("prog")
        if prog:
            return prog["name"], prog["id"]
    return None


@pytest.fixture(scope="module")
def env():
    c = sandbox.Cluster(nodes=2, pods=0, mode="vxlan", agent=True)
    try:
        n1, n2 = c.nodes
        pods = {"a": c.add_pod(n1, name="a", namespace=NS),
                "c": c.add_pod(n2, name="c", namespace=NS)}
        assert pods["a"].ping(pods["c"].ip4) and pods["c"].ping(pods["a"].ip4)
        yield c, pods
    finally:
        c.close()


def test_uplink_rule_on_pod_addresses_matches_tunnelled_traffic(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    assert tc_ingress(n2, "xdpvx0")[0] == "pod_entry"
    assert flow(a, cc, 5300, 40300, 20, rate=200) == (20, 20)

    add(n2, "drop-a-c", f"udp and ip.src == {a.ip4} and ip.dst == {cc.ip4} and udp.dport == 5300",
        "--scope", "uplink")
    assert flow(a, cc, 5300, 40300, 50, rate=500) == (50, 0)
    # Another port of the same pair is untouched.
    assert flow(a, cc, 5301, 40301, 20, rate=200) == (20, 20)
    r = rules(n2)["drop-a-c"]
    # The inner frame: what the pod sent, not the encapsulation.
    assert (r["hits"], r["drops"], r["bytes"]) == (50, 50, 50 * FRAME), r
    evs = [json.loads(l) for l in ctl(n2, "-o", "json", "filter", "watch").stdout.splitlines()]
    e = [e for e in evs if e["rule"] == "drop-a-c"][-1]
    assert (e["at"], e["interface"], e["src"], e["dst"], e["dstPort"], e["len"]) == \
        ("uplink", "xdpvx0", a.ip4, cc.ip4, 5300, FRAME), e

    ctl(n2, "filter", "del", "drop-a-c")
    assert flow(a, cc, 5300, 40300, 20, rate=200) == (20, 20)


def test_rules_on_the_outer_headers_still_match_at_the_uplink(env):
    """The uplink's own XDP keeps seeing the encapsulation: a rule on the
    tunnel's UDP port drops the node-to-node traffic there, before
    decapsulation (so the inner-frame rules never see it)."""
    c, p = env
    n1, n2 = c.nodes
    a, cc = p["a"], p["c"]
    add(n2, "no-tunnel-from-n1", f"udp and ip.src == {n1.ip4} and udp.dport == {VXLAN_PORT}",
        "--scope", "uplink")
    add(n2, "inner", f"udp and ip.src == {a.ip4}", "--scope", "uplink", "--action", "count")
    assert flow(a, cc, 5302, 40302, 30, rate=300) == (30, 0)
    r = rules(n2)
    assert r["no-tunnel-from-n1"]["drops"] >= 30, r
    assert r["inner"]["hits"] == 0, r


def test_restart_keeps_the_tunnel_filtered(env):
    """The tunnel's filtering is pinned datapath: it holds while the agent
    is down and after it restarts (the program replaced in place)."""
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    add(n2, "drop-a-c", f"udp and ip.src == {a.ip4} and udp.dport == 5303", "--scope", "uplink")
    c.kill_agent(n2, signal.SIGKILL)
    assert tc_ingress(n2, "xdpvx0")[0] == "pod_entry"   # the datapath stays while it is down
    assert flow(a, cc, 5303, 40303, 20, rate=200) == (20, 0)
    c.start_agent(n2)
    assert tc_ingress(n2, "xdpvx0")[0] == "pod_entry"
    assert flow(a, cc, 5303, 40303, 20, rate=200) == (20, 0)
    assert rules(n2)["drop-a-c"]["drops"] == 40


def test_pod_scope_rules_stay_off_the_tunnel(env):
    """Scope `pods` is what this node's pods send: tunnelled traffic from
    another node's pods is not theirs, and passes."""
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    add(n2, "pods-only", f"udp and ip.src == {a.ip4} and udp.dport == 5304", "--scope", "pods")
    assert flow(a, cc, 5304, 40304, 20, rate=200) == (20, 20)
    assert rules(n2)["pods-only"]["hits"] == 0
