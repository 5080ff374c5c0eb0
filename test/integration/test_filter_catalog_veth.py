"""The patch catalog on real veths: every entry of `xdpathctl filter
catalog`, enabled through the agent, must drop its malicious frame and
only that frame in the datapath, not only in `filter test` (the offline
test, test_filter_catalog_offline.py).

One 2-node sandbox cluster (native mode, agents), for every entry:

 (a) uplink, native XDP (xdp_uplink on n2's eth0): the entry is enabled on
     n2 with --scope uplink --action drop; its malicious frame and its
     well-formed twin (filter_frames.py), addressed from n1's uplink
     MAC/IP to n2's, are written by a raw AF_PACKET socket in n1's netns
     out of n1's eth0 and cross the underlay bridge. On n2 the rule's
     drops must go up by exactly one for the malicious frame and not move
     for the twin, and an AF_PACKET tap on n2's eth0 (taps run after XDP)
     must see the twin and never the malicious frame.
 (b) from a pod (TC pod_entry on the host veth): the entry is enabled on n1
     with --scope pods --action drop; the frames leave pod n1p1's eth0 with
     the pod's own MAC and addresses, to the gateway MAC (the host veth's)
     and a pod on n2. The rule's drops and the node's `metrics` drop
     reason "filter" must go up by exactly one for the malicious frame (and
     the spoofing reasons not at all: the drop is the filter's), by zero
     for the twin. The twin has been through pod_entry once a marker frame
     sent after it is counted by a count rule (the barrier).

Catalog actions of "count" are overridden with --action drop, so every
entry asserts a drop. No entry is skipped: an entry without frames, or
whose frames cannot be sent, fails. POD_EXEMPT lists the entries whose
frames cannot leave a pod's veth, with the reason (checked: few, real ids).

Frames are sent and captured through sockets the test process opens inside
the sandbox's namespaces (setns on this thread, then back), so every frame
stays inside the cluster. The cluster is torn down by the fixture, pass or
fail.
"""
import ctypes
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from filter_frames import frames

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
WAIT_S = 3.0          # a frame's counters / capture must show within this
POLL_S = 0.01
MARKER = "fcv-marker"  # the count rule that is the pods' barrier
MARKER_PORT = 9

# Entries whose malicious frame legitimately cannot be sent from a pod's
# eth0 (id: reason). Every one of them is still asserted on the uplink.
POD_EXEMPT = {}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def load_catalog():
    """The catalog as the binary lists it ([] if it cannot: then
    test_catalog_has_frames fails and says why)."""
    try:
        r = subprocess.run([CTL, "-o", "json", "filter", "catalog"], capture_output=True,
                           text=True, timeout=30)
        return json.loads(r.stdout) if r.returncode == 0 else []
    except (OSError, ValueError):
        return []


CATALOG = load_catalog()
IDS = [e["id"] for e in CATALOG]


# --------------------------------------------------------------------------
# sockets inside the sandbox's namespaces

def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def packet_socket(netns, ifname, sniff=False):
    """An AF_PACKET socket on `ifname` of the named netns, created there by
    this thread (which then returns to its own netns; the socket stays in
    the netns it was made in). sniff: every frame (ETH_P_ALL), non-blocking;
    else a send-only socket (protocol 0) that bypasses the qdisc."""
    me = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(sandbox.NETNS_DIR, netns), os.O_RDONLY)
        try:
            _setns(target)
            try:
                if sniff:
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                    s.bind((ifname, ETH_P_ALL))
                    s.setblocking(False)
                else:
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                    s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
                    s.bind((ifname, 0))
            finally:
                _setns(me)  # must not fail; if it does the process is unusable anyway
        finally:
            os.close(target)
    finally:
        os.close(me)
    return s


class Sniffer:
    """The frames arriving on an interface (not the ones it sends)."""

    def __init__(self, sock):
        self.sock = sock
        self.seen = []

    def _read(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] != PACKET_OUTGOING:
                self.seen.append(data)

    def drain(self):
        self._read()
        self.seen = []

    def has(self, frame):
        self._read()
        return frame in self.seen

    def wait_for(self, frame, timeout=WAIT_S):
        end = time.monotonic() + timeout
        while not self.has(frame):
            if time.monotonic() > end:
                return False
            time.sleep(POLL_S)
        return True


def send(sock, frame, what):
    try:
        n = sock.send(frame)
    except OSError as e:
        pytest.fail(f"{what}: the frame could not be sent ({e}): {frame.hex()}")
    assert n == len(frame), f"{what}: sent {n} of {len(frame)} bytes"


# --------------------------------------------------------------------------
# the agent

def ctl(node, *args, check=True):
    r = subprocess.run([CTL, "--socket", node.socket, *args], capture_output=True, text=True,
                       timeout=10)
    if check and r.returncode != 0:
        pytest.fail(f"xdpathctl {' '.join(args)} on {node.name}: exit {r.returncode}: "
                    f"{r.stderr.strip()}")
    return r


def filter_list(node):
    return json.loads(ctl(node, "-o", "json", "filter", "list").stdout)


def rule(node, name):
    for f in filter_list(node)["filters"]:
        if f["name"] == name:
            return f
    pytest.fail(f"{name} is not in `filter list` on {node.name}")


def drops(node):
    """{reason: packets} of the node's datapath drops."""
    d = json.loads(ctl(node, "-o", "json", "metrics").stdout)["drops"]
    return {k: v["packets"] for k, v in d.items()}


def wait_until(get, want, timeout=WAIT_S):
    """Poll get() until it returns want (or the timeout); the last value."""
    end = time.monotonic() + timeout
    while True:
        v = get()
        if v == want or time.monotonic() > end:
            return v
        time.sleep(POLL_S)


def link_addr(ns, ifname):
    return json.loads(ns.exec("ip", "-j", "link", "show", "dev", ifname).stdout)[0]["address"]


def link_local(ns, ifname):
    out = json.loads(ns.exec("ip", "-j", "-6", "addr", "show", "dev", ifname, "scope",
                             "link").stdout)
    addrs = [a["local"] for i in out for a in i.get("addr_info", []) if a.get("local")]
    assert addrs, f"no IPv6 link-local address on {ifname} in {ns.netns}"
    return addrs[0]


def describe(entry, bad, twin):
    return (f"{entry['id']} ({entry['rule']})\n  malicious: {bad.hex()}\n"
            f"  twin:      {twin.hex()}")


# --------------------------------------------------------------------------
# the cluster

@pytest.fixture(scope="module")
def env():
    c = sandbox.Cluster(nodes=2, pods=0, mode="native", agent=True)
    socks = []
    try:
        n1, n2 = c.nodes
        # The sandbox keeps bridge netfilter off in its underlay (it would
        # drop malformed IP headers on their way from n1 to n2): check it.
        for k in ("iptables", "ip6tables", "arptables"):
            r = c.underlay.exec("sh", "-c", f"cat /proc/sys/net/bridge/bridge-nf-call-{k} "
                                "2>/dev/null || echo 0")
            assert r.stdout.strip() == "0", (k, r.stdout)
        pod = c.add_pod(n1, name="fcv-src")
        peer = c.add_pod(n2, name="fcv-dst")
        assert pod.ip4 and pod.ip6 and peer.ip4 and peer.ip6, (pod.describe(), peer.describe())
        e = {"cluster": c, "n1": n1, "n2": n2, "pod": pod, "peer": peer}
        e["n1_mac"] = link_addr(n1, sandbox.UPLINK)
        e["n2_mac"] = link_addr(n2, sandbox.UPLINK)
        e["n1_ll"] = link_local(n1, sandbox.UPLINK)
        e["pod_mac"] = link_addr(pod, "eth0")
        e["pod_ll"] = link_local(pod, "eth0")
        # The pod's gateway MAC is its host veth's: the CNI's permanent
        # neighbour entries in the pod say the same.
        e["gw_mac"] = link_addr(n1, pod.host_veth)
        neigh = json.loads(pod.exec("ip", "-j", "neigh", "show", "dev", "eth0").stdout)
        assert any(n.get("lladdr") == e["gw_mac"] for n in neigh), (e["gw_mac"], neigh)
        e["n1_tx"] = packet_socket(n1.netns, sandbox.UPLINK)
        socks.append(e["n1_tx"])
        e["pod_tx"] = packet_socket(pod.netns, "eth0")
        socks.append(e["pod_tx"])
        rx = packet_socket(n2.netns, sandbox.UPLINK, sniff=True)
        socks.append(rx)
        e["n2_rx"] = Sniffer(rx)
        yield e
    finally:
        for s in socks:  # an open socket would keep its netns alive
            s.close()
        c.close()


@pytest.fixture(scope="module")
def marker(env):
    """The pods' barrier: a count rule on n1 for a UDP frame from the pod
    to MARKER_PORT (which no catalog rule matches), and that frame."""
    n1, pod, peer = env["n1"], env["pod"], env["peer"]
    ctl(n1, "filter", "add", MARKER,
        f"udp.dport == {MARKER_PORT} and ip.src == {pod.ip4} and ip.dst == {peer.ip4}",
        "--action", "count", "--scope", "pods")
    from scapy.all import IP, UDP, Ether, Raw
    frame = bytes(Ether(src=env["pod_mac"], dst=env["gw_mac"]) /
                  IP(src=pod.ip4, dst=peer.ip4) /
                  UDP(sport=40001, dport=MARKER_PORT) / Raw(b"marker!!"))
    yield frame
    ctl(n1, "filter", "del", MARKER, check=False)


@pytest.fixture(scope="module")
def uplink_frames(env):
    return frames(src_mac=env["n1_mac"], dst_mac=env["n2_mac"],
                  src4=env["n1"].ip4, dst4=env["n2"].ip4,
                  src6=env["n1"].ip6, dst6=env["n2"].ip6, ll6=env["n1_ll"])


@pytest.fixture(scope="module")
def pod_frames(env):
    pod, peer = env["pod"], env["peer"]
    return frames(src_mac=env["pod_mac"], dst_mac=env["gw_mac"],
                  src4=pod.ip4, dst4=peer.ip4, src6=pod.ip6, dst6=peer.ip6,
                  ll6=env["pod_ll"])


class Enabled:
    """A catalog entry enabled with a scope and --action drop; disabled on
    exit, whatever happened."""

    def __init__(self, node, entry_id, scope):
        self.node, self.id, self.scope = node, entry_id, scope

    def __enter__(self):
        ctl(self.node, "filter", "enable", self.id, "--scope", self.scope, "--action", "drop")
        f = rule(self.node, self.id)
        assert f["active"] and f["action"] == "drop" and f["scope"] == self.scope, f
        return self

    def __exit__(self, *exc):
        ctl(self.node, "filter", "disable", self.id, check=exc[0] is None)
        return False


# --------------------------------------------------------------------------
# tests

def test_catalog_has_frames():
    assert CATALOG, f"`{CTL} -o json filter catalog` gave no entries"
    have = set(frames())
    missing = [i for i in IDS if i not in have]
    assert not missing, f"catalog entries without frames in filter_frames.py: {missing}"


def test_pod_exemptions_are_few_and_real():
    assert len(POD_EXEMPT) <= 3, POD_EXEMPT
    unknown = set(POD_EXEMPT) - set(IDS)
    assert not unknown, f"POD_EXEMPT names no catalog entry: {unknown}"
    assert all(isinstance(r, str) and r for r in POD_EXEMPT.values()), POD_EXEMPT


@pytest.mark.parametrize("entry", CATALOG, ids=IDS)
def test_uplink_xdp_drops_exactly_the_malicious_frame(env, uplink_frames, entry):
    n2, rx = env["n2"], env["n2_rx"]
    assert entry["id"] in uplink_frames, f"{entry['id']} has no frames in filter_frames.py"
    bad, twin = uplink_frames[entry["id"]]
    what = describe(entry, bad, twin)
    with Enabled(n2, entry["id"], "uplink"):
        assert filter_list(n2)["uplinkXdp"] is True, f"{entry['id']}: no XDP on n2's uplink"
        rx.drain()
        d0 = rule(n2, entry["id"])["drops"]
        f0 = drops(n2)["filter"]
        send(env["n1_tx"], bad, what)
        d = wait_until(lambda: rule(n2, entry["id"])["drops"], d0 + 1)
        assert d == d0 + 1, (
            f"uplink XDP: the rule's drops went {d0} -> {d} for the malicious frame "
            f"(want +1; the frame {'DID' if rx.has(bad) else 'did not'} reach n2's "
            f"eth0)\n{what}")
        send(env["n1_tx"], twin, what)
        arrived = rx.wait_for(twin)
        d1 = rule(n2, entry["id"])["drops"]
        assert arrived, (f"uplink XDP: the twin did not reach n2's eth0 (rule drops "
                         f"{d0} -> {d1})\n{what}")
        assert d1 == d0 + 1, f"uplink XDP: the twin was dropped by the rule ({d0} -> {d1})\n{what}"
        assert not rx.has(bad), f"uplink XDP: the malicious frame reached n2's eth0\n{what}"
        assert drops(n2)["filter"] == f0 + 1, f"uplink: drop reason filter not +1\n{what}"


@pytest.mark.parametrize("entry", CATALOG, ids=IDS)
def test_pod_entry_drops_exactly_the_malicious_frame(env, pod_frames, marker, entry):
    if entry["id"] in POD_EXEMPT:
        return  # asserted on the uplink; the reason is in POD_EXEMPT
    n1, tx = env["n1"], env["pod_tx"]
    assert entry["id"] in pod_frames, f"{entry['id']} has no frames in filter_frames.py"
    bad, twin = pod_frames[entry["id"]]
    what = describe(entry, bad, twin)

    def marker_hits():
        return rule(n1, MARKER)["hits"]

    with Enabled(n1, entry["id"], "pods"):
        d0 = rule(n1, entry["id"])["drops"]
        m0 = drops(n1)
        h0 = marker_hits()
        send(tx, bad, what)
        d = wait_until(lambda: rule(n1, entry["id"])["drops"], d0 + 1)
        m1 = wait_until(lambda: drops(n1)["filter"], m0["filter"] + 1)
        assert d == d0 + 1, (f"pod_entry: the rule's drops went {d0} -> {d} for the "
                             f"malicious frame (want +1)\n{what}")
        assert m1 == m0["filter"] + 1, (f"pod_entry: drop reason filter went "
                                        f"{m0['filter']} -> {m1} (want +1)\n{what}")
        mid = drops(n1)
        for why in ("spoofed_mac", "spoofed_ip"):
            assert mid[why] == m0[why], f"pod_entry: the malicious frame counted as {why}\n{what}"
        send(tx, twin, what)
        send(tx, marker, "the marker frame")
        h = wait_until(marker_hits, h0 + 1)
        assert h == h0 + 1, f"the marker frame was not counted ({h0} -> {h})"
        d1 = rule(n1, entry["id"])["drops"]
        m2 = drops(n1)["filter"]
        assert d1 == d0 + 1, f"pod_entry: the twin was dropped by the rule ({d0} -> {d1})\n{what}"
        assert m2 == m1, f"pod_entry: drop reason filter went {m1} -> {m2} for the twin\n{what}"


def test_nothing_left_enabled(env, marker):
    """Run last (file order): every entry was disabled again; without rules
    of scope uplink the agent takes XDP off n2's uplink."""
    ctl(env["n1"], "filter", "del", MARKER)
    for n in (env["n1"], env["n2"]):
        lst = filter_list(n)
        assert lst["filters"] == [], f"rules left on {n.name}: {lst['filters']}"
        assert lst["uplinkXdp"] is False, f"uplinkXdp still true on {n.name}"
    link = json.loads(env["n2"].exec("ip", "-j", "-d", "link", "show", "dev",
                                     sandbox.UPLINK).stdout)[0]
    assert "xdp" not in link, f"an XDP program is still attached to n2's uplink: {link['xdp']}"
