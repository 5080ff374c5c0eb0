"""What ADD wires in the pod and on the node, and that packets flow: pod to
pod (v4, v6, TCP), pod to gateway, node to pod, and after the pod forgets its
neighbours."""
import json
import subprocess
import time

import pytest

from conftest import GW4, GW6, PY, ip_of


@pytest.fixture
def pair(node):
    """Two dual-stack pods on one node."""
    conf = node.dual_conf()
    a, b = node.pod("a"), node.pod("b")
    ra, rb = node.add(conf, "ctr-a", a), node.add(conf, "ctr-b", b)
    return a, ra, b, rb


def test_pod_addresses(pair, node):
    a, ra, _, _ = pair
    addrs = json.loads(node.in_pod(a, "ip", "-j", "addr", "show", "dev", "eth0").stdout)[0]
    have = {(x["local"], x["prefixlen"]) for x in addrs["addr_info"] if x["scope"] == "global"}
    assert have == {(ip_of(ra, 4), 32), (ip_of(ra, 6), 128)}


def test_pod_routes(pair, node):
    a, _, _, _ = pair
    v4 = node.in_pod(a, "ip", "-4", "route").stdout
    assert "default via 169.254.1.1 dev eth0" in v4
    assert "169.254.1.1 dev eth0 scope link" in v4
    v6 = node.in_pod(a, "ip", "-6", "route", "show", "default").stdout
    assert "default via fe80::1 dev eth0" in v6


def test_pod_gateway_neighbours_are_permanent(pair, node):
    a, ra, _, _ = pair
    host_mac = ra["interfaces"][0]["mac"]
    neigh = node.in_pod(a, "ip", "neigh", "show", "dev", "eth0").stdout
    assert f"169.254.1.1 lladdr {host_mac} PERMANENT" in neigh, neigh
    assert f"fe80::1 lladdr {host_mac} PERMANENT" in neigh, neigh


def test_node_routes_to_pod(pair, node):
    a, ra, _, _ = pair
    host = ra["interfaces"][0]["name"]
    assert f"{ip_of(ra, 4)} dev {host} scope link" in node.run("ip", "-4", "route").stdout
    assert f"{ip_of(ra, 6)} dev {host}" in node.run("ip", "-6", "route").stdout


def test_node_pod_neighbours_are_permanent(pair, node):
    a, ra, _, _ = pair
    host, cont = ra["interfaces"]
    neigh = node.run("ip", "neigh", "show", "dev", host["name"]).stdout
    assert f"{ip_of(ra, 4)} lladdr {cont['mac']} PERMANENT" in neigh, neigh
    assert f"{ip_of(ra, 6)} lladdr {cont['mac']} PERMANENT" in neigh, neigh


def test_host_veth_owns_the_gateway_addresses(pair, node):
    _, ra, _, _ = pair
    host = ra["interfaces"][0]["name"]
    addrs = node.run("ip", "addr", "show", "dev", host).stdout
    assert "inet 169.254.1.1/32 scope link" in addrs, addrs
    assert "inet6 fe80::1/64 scope link" in addrs, addrs


@pytest.mark.parametrize("key,value", [
    ("net/ipv4/conf/{}/forwarding", "1"),
    ("net/ipv4/conf/{}/rp_filter", "1"),
    ("net/ipv4/conf/{}/proxy_arp", "0"),
    ("net/ipv6/conf/{}/force_forwarding", "1"),
    ("net/ipv6/conf/{}/accept_ra", "0"),
    ("net/ipv6/conf/{}/accept_dad", "0"),
    ("net/ipv6/conf/{}/proxy_ndp", "0"),
])
def test_host_veth_sysctls(pair, node, key, value):
    _, ra, _, _ = pair
    assert node.sysctl(key.format(ra["interfaces"][0]["name"])) == value


def test_node_wide_sysctls_untouched(node):
    """Per-device forwarding only (force_forwarding, Linux >= 6.17): the
    node's global switches stay as they were."""
    keys = ["net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding",
            "net/ipv6/conf/all/forwarding", "net/ipv4/conf/all/rp_filter",
            "net/ipv6/conf/default/accept_ra"]
    before = [node.sysctl(k) for k in keys]
    node.add(node.dual_conf(), "c1", node.pod("a"))
    assert [node.sysctl(k) for k in keys] == before


def test_pod_ipv6_not_tentative_right_after_add(node):
    pod = node.pod("a")
    node.add(node.dual_conf(), "c1", pod)
    out = node.in_pod(pod, "ip", "-6", "addr", "show", "dev", "eth0").stdout
    assert "fd00:91::" in out
    assert "tentative" not in out, out
    assert node.in_pod(pod, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad").stdout.strip() == "0"


def test_ping_pod_to_pod_v4(pair, node):
    a, _, _, rb = pair
    assert node.ping(ip_of(rb, 4), a)


def test_ping_pod_to_pod_v6(pair, node):
    a, _, _, rb = pair
    assert node.ping(ip_of(rb, 6), a)


def test_ping_both_directions(pair, node):
    a, ra, b, rb = pair
    assert node.ping(ip_of(rb, 4), a) and node.ping(ip_of(ra, 4), b)
    assert node.ping(ip_of(rb, 6), a) and node.ping(ip_of(ra, 6), b)


def test_ping_pod_to_gateway(pair, node):
    a, _, _, _ = pair
    assert node.ping(GW4, a)
    assert node.ping(GW6 + "%eth0", a)


def test_ping_node_to_pod(pair, node):
    _, _, _, rb = pair
    assert node.ping(ip_of(rb, 4))
    assert node.ping(ip_of(rb, 6))


def test_unknown_address_unreachable(pair, node):
    """A negative control for the pings: nothing answers for a free address."""
    a, _, _, _ = pair
    assert not node.ping("10.91.0.250", a, wait=1)


SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080))
s.listen(1)
print('ready', flush=True)
c, peer = s.accept()
c.sendall(b'hello ' + peer[0].encode() + b' ' + c.recv(100))
c.close()
"""
CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=5)
c.sendall(b'from-client')
print(c.recv(200).decode())
"""


@pytest.mark.parametrize("family", [4, 6])
def test_tcp_pod_to_pod(pair, node, family):
    a, ra, b, rb = pair
    srv = subprocess.Popen(["ip", "netns", "exec", b.split("/")[-1], PY, "-c", SERVER,
                            ip_of(rb, family)], stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        out = node.in_pod(a, PY, "-c", CLIENT, ip_of(rb, family), timeout=20).stdout
        assert out.strip() == f"hello {ip_of(ra, family)} from-client"
        srv.wait(timeout=10)
    finally:
        srv.kill()
        srv.wait()


def test_bulk_tcp_with_iperf3(pair, node):
    """A second's worth of bulk TCP: large segments through both veth pairs."""
    a, _, b, rb = pair
    srv = subprocess.Popen(["ip", "netns", "exec", b.split("/")[-1], "iperf3", "-s", "-1",
                            "-B", ip_of(rb, 4)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # the server needs a moment to listen
            r = node.in_pod(a, "iperf3", "-c", ip_of(rb, 4), "-t", "1", "-J", check=False,
                            timeout=30)
            out = json.loads(r.stdout) if r.stdout.strip() else {}
            if r.returncode == 0 and "error" not in out:  # -J reports errors in JSON
                break
            time.sleep(0.1)
        assert "end" in out, r
        assert out["end"]["sum_received"]["bytes"] > 1_000_000
    finally:
        srv.kill()
        srv.wait()


def test_neighbour_flush_in_pod_is_harmless(pair, node):
    a, ra, _, rb = pair
    node.in_pod(a, "ip", "neigh", "flush", "all")
    # `flush all` keeps PERMANENT entries; remove those too, so the pod has
    # to resolve the gateway with ARP/NDP, which the host veth answers.
    node.in_pod(a, "ip", "neigh", "flush", "dev", "eth0", "nud", "all")
    node.in_pod(a, "ip", "-6", "neigh", "flush", "dev", "eth0", "nud", "all")
    assert "PERMANENT" not in node.in_pod(a, "ip", "neigh", "show", "dev", "eth0").stdout
    assert node.ping(ip_of(rb, 4), a)
    assert node.ping(ip_of(rb, 6), a)
    host_mac = ra["interfaces"][0]["mac"]
    neigh = node.in_pod(a, "ip", "neigh", "show", "dev", "eth0").stdout
    assert f"169.254.1.1 lladdr {host_mac}" in neigh, neigh
    assert f"fe80::1 lladdr {host_mac}" in neigh, neigh


def test_neighbour_flush_on_node_is_harmless(pair, node):
    a, _, _, rb = pair
    host_b = rb["interfaces"][0]["name"]
    node.run("ip", "neigh", "flush", "dev", host_b, "nud", "all")
    node.run("ip", "-6", "neigh", "flush", "dev", host_b, "nud", "all")
    assert node.ping(ip_of(rb, 4), a)
    assert node.ping(ip_of(rb, 6), a)


def test_dual_stack_from_one_range_each(node):
    """Two range sets, one range each: exactly one v4 and one v6 address."""
    conf = node.conf(ranges=[[{"subnet": "10.96.3.0/24", "rangeStart": "10.96.3.10",
                               "rangeEnd": "10.96.3.20"}],
                             [{"subnet": "fd00:96:3::/64", "rangeStart": "fd00:96:3::100",
                               "rangeEnd": "fd00:96:3::1ff"}]])
    a, b = node.pod("a"), node.pod("b")
    ra, rb = node.add(conf, "a", a), node.add(conf, "b", b)
    assert [ip["address"] for ip in ra["ips"]] == ["10.96.3.10/32", "fd00:96:3::100/128"]
    assert [ip["address"] for ip in rb["ips"]] == ["10.96.3.11/32", "fd00:96:3::101/128"]
    assert node.ping("10.96.3.11", a) and node.ping("fd00:96:3::101", a)
    assert node.ping("10.96.3.10", b) and node.ping("fd00:96:3::100", b)


def test_pods_do_not_see_each_others_traffic_on_the_wire(pair, node):
    """Routed model: pod a's packets to b leave a with the host veth's MAC
    as destination (the gateway), not b's MAC."""
    a, ra, _, rb = pair
    node.in_pod(a, "ip", "neigh", "flush", "all")
    assert node.ping(ip_of(rb, 4), a)
    neigh = node.in_pod(a, "ip", "neigh", "show", "dev", "eth0").stdout
    assert ip_of(rb, 4) not in neigh
    assert rb["interfaces"][1]["mac"] not in neigh
