"""Uplink filters in vxlan mode: pod traffic from another node arrives on the
uplink VXLAN-encapsulated, so the uplink's XDP sees only the outer
node-to-node headers. The agent runs the same filter program on `xdpvx0`
(generic XDP, the decapsulated inner frame) while uplink rules exist, so a
rule on pod addresses pushed on the receiving node alone drops the traffic.

A sandbox cluster (vxlan mode, 2 nodes, agents): flt/a on n1, flt/c on n2.
UDP flows a -> c are counted at c (helpers shared with test_filter_live).
Every test leaves n2 with no rules and XDP detached from both devices.
"""
import json
import os
import signal
import sys

import pytest

from test_filter_live import FRAME, ctl, eventually, flow, listing, rules, add

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

NS = "flt"
VXLAN_PORT = 8472       # the agent's default vxlanPort


def xdp_on(node, dev):
    """The XDP program attached to dev in the node: (mode, name), or None."""
    link = json.loads(node.exec("ip", "-d", "-j", "link", "show", "dev", dev).stdout)[0]
    x = link.get("xdp")
    return (x["mode"], x["prog"]["name"]) if x else None


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


@pytest.fixture(autouse=True)
def clean(env):
    c, _ = env
    yield
    n2 = c.nodes[1]
    for name in rules(n2):
        ctl(n2, "filter", "del", name, check=False)
    assert listing(n2)["filters"] == []
    eventually(lambda: xdp_on(n2, "xdpvx0") is None, 2, "XDP detached from xdpvx0")


def test_uplink_rule_on_pod_addresses_matches_tunnelled_traffic(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    assert xdp_on(n2, "xdpvx0") is None   # no uplink rule: nothing on the tunnel
    assert flow(a, cc, 5300, 40300, 20, rate=200) == (20, 20)

    add(n2, "drop-a-c", f"udp and ip.src == {a.ip4} and ip.dst == {cc.ip4} and udp.dport == 5300",
        "--scope", "uplink")
    assert xdp_on(n2, "xdpvx0") == (2, "xdp_uplink"), "generic XDP (mode 2) on xdpvx0"
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
    eventually(lambda: xdp_on(n2, "xdpvx0") is None, 2, "XDP detached from xdpvx0")
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
    """A restarted agent re-reads its rules before attaching: the tunnel's
    XDP stays, and the rule keeps dropping."""
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    add(n2, "drop-a-c", f"udp and ip.src == {a.ip4} and udp.dport == 5303", "--scope", "uplink")
    prog = xdp_on(n2, "xdpvx0")
    assert prog == (2, "xdp_uplink")
    c.kill_agent(n2, signal.SIGKILL)
    assert xdp_on(n2, "xdpvx0") == prog          # the datapath stays while it is down
    assert flow(a, cc, 5303, 40303, 20, rate=200) == (20, 0)
    c.start_agent(n2)
    assert xdp_on(n2, "xdpvx0") == prog
    assert flow(a, cc, 5303, 40303, 20, rate=200) == (20, 0)
    assert rules(n2)["drop-a-c"]["drops"] == 40
