"""The eBPF datapath end to end on the sandbox cluster: real xdpathd on
every node, pods wired by the real CNI plugin, real packets.

Per mode (native routing, VXLAN): same-node and cross-node ICMP, TCP and UDP
over IPv4 and IPv6; proof that pod-to-pod traffic bypasses the node's IP
stack; anti-spoofing; masquerade to an external host; ICMP errors (TTL
exceeded, fragmentation needed) reaching the sender; and kill -9 of the agent
in the middle of a TCP transfer."""
import json
import os
import signal
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")

UDP_ECHO = """
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(10)
for _ in range(int(sys.argv[2])):
    data, peer = s.recvfrom(2048)
    s.sendto(b"echo:" + data, peer)
"""

UDP_ASK = """
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(20):
    s.sendto(b"hello", (sys.argv[1], 9999))
    try:
        print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
"""

TCP_PEER = """
import socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[2] else socket.AF_INET
if sys.argv[1] == "serve":
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3]))); s.listen(1); s.settimeout(10)
    c, peer = s.accept()
    n = 0
    while True:
        b = c.recv(65536)
        if not b: break
        n += len(b)
    c.sendall(f"{peer[0]} {n}".encode()); c.close()
else:
    c = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
    c.sendall(b"x" * 1000000); c.shutdown(socket.SHUT_WR)
    print(c.recv(100).decode())
"""


def ctl(node, *args):
    r = sandbox.run([CTL, "--socket", node.socket, *args, "-o", "json"])
    return json.loads(r.stdout)


def fwd_count(node, how):
    return ctl(node, "metrics")["forward"][how]["packets"]


def drop_count(node, reason):
    return ctl(node, "metrics")["drops"][reason]["packets"]


def py(pod, script, *args, **kw):
    return pod.exec("/usr/bin/python3", "-c", script, *args, **kw)


def py_bg(pod, script, *args):
    return pod.popen("/usr/bin/python3", "-c", script, *args, stdout=sandbox.subprocess.PIPE,
                     stderr=sandbox.subprocess.PIPE, text=True)


@pytest.fixture(scope="module", params=["native", "vxlan"])
def cluster(request):
    assert os.access(sandbox.AGENT, os.X_OK), "build/bin/xdpathd is missing: run make"
    with sandbox.Cluster(nodes=2, pods=2, mode=request.param, agent=True) as c:
        yield c


def pods(cluster):
    """(client, same-node server, cross-node server)"""
    return cluster.pod("n1p1"), cluster.pod("n1p2"), cluster.pod("n2p1")


@pytest.mark.parametrize("fam", [4, 6])
@pytest.mark.parametrize("where", ["same", "cross"])
def test_ping(cluster, fam, where):
    a, same, cross = pods(cluster)
    dst = same if where == "same" else cross
    assert a.ping(dst.ip(fam), count=2), (where, fam)
    assert dst.ping(a.ip(fam)), (where, fam)


@pytest.mark.parametrize("fam", [4, 6])
@pytest.mark.parametrize("where", ["same", "cross"])
def test_tcp_sees_pod_source(cluster, fam, where):
    a, same, cross = pods(cluster)
    dst = same if where == "same" else cross
    srv = py_bg(dst, TCP_PEER, "serve", dst.ip(fam), "8080")
    time.sleep(0.3)
    out = py(a, TCP_PEER, "connect", dst.ip(fam), "8080").stdout.split()
    srv.wait(timeout=10)
    assert out == [a.ip(fam), "1000000"]  # no NAT inside the cluster, every byte


@pytest.mark.parametrize("fam", [4, 6])
@pytest.mark.parametrize("where", ["same", "cross"])
def test_udp(cluster, fam, where):
    a, same, cross = pods(cluster)
    dst = same if where == "same" else cross
    srv = py_bg(dst, UDP_ECHO, dst.ip(fam), "1")
    time.sleep(0.3)
    assert py(a, UDP_ASK, dst.ip(fam)).stdout.strip() == "echo:hello"
    srv.wait(timeout=10)


def test_bypasses_the_node_ip_stack(cluster):
    """An nftables counter in each node's forward hook sees no pod-to-pod
    packet while traffic flows, and the datapath's own counters rise."""
    a, same, cross = pods(cluster)
    n1, n2 = cluster.nodes
    remote = "tunnel" if cluster.mode == "vxlan" else "redirect_neigh"
    rules = ("table inet xdpt_fwd {\n chain count {\n"
             "  type filter hook forward priority -500;\n"
             "  ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 counter\n"
             "  ip6 saddr fd00:10:244::/48 ip6 daddr fd00:10:244::/48 counter\n }\n}\n")
    for n in (n1, n2):
        n.exec("nft", "-f", "-", input=rules, text=True)
    try:
        peer0, remote0 = fwd_count(n1, "redirect_peer"), fwd_count(n1, remote)
        for fam in (4, 6):
            assert a.ping(same.ip(fam), count=5)
            assert a.ping(cross.ip(fam), count=5)
        for n in (n1, n2):
            listing = n.exec("nft", "list", "table", "inet", "xdpt_fwd").stdout
            assert "counter packets 0 bytes 0" in listing, listing
            assert listing.count("counter packets 0 bytes 0") == 2, listing
        assert fwd_count(n1, "redirect_peer") >= peer0 + 10  # 5 requests + 5 replies, x2 families
        assert fwd_count(n1, remote) >= remote0 + 10
    finally:
        for n in (n1, n2):
            n.exec("nft", "delete", "table", "inet", "xdpt_fwd", check=False)


def test_spoofed_source_dropped(cluster):
    a, same, _ = pods(cluster)
    n1 = cluster.nodes[0]
    before = drop_count(n1, "spoofed_ip")
    fake = a.ip(4).rsplit(".", 1)[0] + ".250"
    a.exec("ip", "addr", "add", f"{fake}/32", "dev", "eth0")
    try:
        assert not a.exec("ping", "-c2", "-W1", "-I", fake, same.ip(4), check=False).returncode == 0
    finally:
        a.exec("ip", "addr", "del", f"{fake}/32", "dev", "eth0")
    assert drop_count(n1, "spoofed_ip") >= before + 2
    assert a.ping(same.ip(4))  # the pod's own address still works


@pytest.mark.parametrize("fam", [4, 6])
def test_masquerade_to_external_host(cluster, fam):
    a, _, _ = pods(cluster)
    ext = cluster.external
    target = ext.internet4 if fam == 4 else ext.internet6
    srv = py_bg(ext, TCP_PEER, "serve", target, "8081")
    time.sleep(0.3)
    out = py(a, TCP_PEER, "connect", target, "8081").stdout.split()
    srv.wait(timeout=10)
    node = cluster.nodes[0]
    assert out == [node.ip4 if fam == 4 else node.ip6, "1000000"]


@pytest.mark.parametrize("fam", [4, 6])
def test_node_reaches_remote_pods(cluster, fam):
    """The node's own stack (kubelet probes, hostNetwork pods) routes to
    every pod CIDR: local ones by the CNI's host routes, remote ones by the
    agent's routes (via the peer natively, through the tunnel in VXLAN)."""
    a, _, cross = pods(cluster)
    n1 = cluster.nodes[0]
    assert n1.ping(a.ip(fam)) and n1.ping(cross.ip(fam))


@pytest.mark.parametrize("fam", [4, 6])
def test_ttl_exceeded_reaches_sender(cluster, fam):
    a, _, cross = pods(cluster)
    r = a.exec("ping", f"-{fam}", "-c1", "-W2", "-t1", cross.ip(fam), check=False)
    assert ("Time to live exceeded" if fam == 4 else "Time exceeded: Hop limit") in r.stdout, \
        r.stdout


def test_gateway_resolves_after_neighbour_flush(cluster):
    """ARP and ND for the gateway are answered whatever the datapath does."""
    a, same, cross = pods(cluster)
    for fam in (4, 6):
        a.exec("ip", f"-{fam}", "neigh", "flush", "dev", "eth0", "nud", "permanent")
    assert "PERMANENT" not in a.exec("ip", "neigh").stdout
    for fam in (4, 6):
        assert a.ping(same.ip(fam)) and a.ping(cross.ip(fam)), fam
    assert "169.254.1.1" in a.exec("ip", "-4", "neigh").stdout
    assert "fe80::1" in a.exec("ip", "-6", "neigh").stdout


@pytest.mark.parametrize("fam", [4, 6])
def test_frag_needed_reaches_sender(cluster, fam):
    """A smaller MTU on the way: the sender learns it (PMTU discovery:
    Fragmentation Needed for IPv4, Packet Too Big for IPv6)."""
    a, _, cross = pods(cluster)
    n1 = cluster.nodes[0]
    dev = "xdpvx0" if cluster.mode == "vxlan" else "eth0"
    mtu = int(json.loads(n1.exec("ip", "-j", "link", "show", dev).stdout)[0]["mtu"])
    small = mtu - 150  # IPv6 needs >= 1280 on the device (1450 - 150 in vxlan)
    hdr = 28 if fam == 4 else 48
    n1.exec("ip", "link", "set", dev, "mtu", str(small))
    try:
        r = a.exec("ping", f"-{fam}", "-c2", "-W2", "-M", "do", "-s", str(small - hdr + 50),
                   cross.ip(fam), check=False)
        out = r.stdout + r.stderr
        assert f"mtu = {small}" in out or f"mtu={small}" in out or \
            ("Frag needed" in out if fam == 4 else "Packet too big" in out), r
    finally:
        n1.exec("ip", "link", "set", dev, "mtu", str(mtu))
    assert a.ping(cross.ip(fam))


def test_kill_agent_during_transfer(cluster):
    """kill -9 of the agent and a restart while iperf3 runs across nodes:
    no reset, data flows in every interval, and the agent comes back ready."""
    a, _, cross = pods(cluster)
    node = cluster.nodes[0]
    cross.exec("iperf3", "-s", "-D", "-1", "-B", cross.ip(4))
    time.sleep(0.3)
    client = a.popen("iperf3", "-c", cross.ip(4), "-t", "4", "-i", "0.5", "-J",
                     stdout=sandbox.subprocess.PIPE, stderr=sandbox.subprocess.PIPE, text=True)
    time.sleep(1)
    cluster.kill_agent(node, signal.SIGKILL)
    assert a.ping(cross.ip(4))  # new connections too, while the agent is down
    time.sleep(0.5)
    cluster.start_agent(node)
    out, err = client.communicate(timeout=30)
    assert client.returncode == 0, err + out[-2000:]
    res = json.loads(out)
    assert "error" not in res, res.get("error")
    intervals = [i["sum"]["bytes"] for i in res["intervals"]]
    assert len(intervals) >= 7 and all(b > 0 for b in intervals), intervals
    assert ctl(node, "status")["ready"] is True


def endpoint_keys(node):
    out = sandbox.run(["bpftool", "-j", "map", "dump", "pinned",
                       os.path.join(node.pin_root, "xdp_endpoints")]).stdout
    return {bytes(int(b, 16) for b in e["key"]) for e in json.loads(out)}


def ep_key(ip):
    import ipaddress
    a = ipaddress.ip_address(ip)
    fam = 4 if a.version == 4 else 6
    return bytes([fam, 0, 0, 0]) + a.packed + bytes(16 - len(a.packed))


def test_cni_check_and_del_cover_the_datapath(cluster):
    """CHECK verifies the pod's map entries and program; DEL removes them."""
    n1 = cluster.nodes[0]
    p = cluster.add_pod(n1, name="chk")
    conf = dict(n1.cni_conf(), prevResult=p.result)
    assert n1.cni("CHECK", p.container_id, p.path, conf=conf).returncode == 0
    keys = endpoint_keys(n1)
    assert ep_key(p.ip4) in keys and ep_key(p.ip6) in keys
    key = " ".join(str(b) for b in ep_key(p.ip4))
    sandbox.run(["bpftool", "map", "delete", "pinned",
                 os.path.join(n1.pin_root, "xdp_endpoints"), "key", *key.split()])
    r = n1.cni("CHECK", p.container_id, p.path, conf=conf)
    assert r.returncode != 0 and "datapath has no endpoint entry" in r.stdout, r
    p.delete()
    keys = endpoint_keys(n1)
    assert ep_key(p.ip4) not in keys and ep_key(p.ip6) not in keys
