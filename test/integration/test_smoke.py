"""The demo's path as a test: two dual-stack pods through the real plugin,
traffic between them, then DEL leaves the node as it was."""
from conftest import with_prev

DUAL = [[{"subnet": "10.91.0.0/24"}], [{"subnet": "fd00:91::/64"}]]


def addrs(result):
    return [ip["address"].split("/")[0] for ip in result["ips"]]


def test_two_pods_talk_and_leave_nothing(node):
    conf = node.conf(ranges=DUAL)
    a, b = node.pod("a"), node.pod("b")
    ra = node.add(conf, "ctr-a", a)
    rb = node.add(conf, "ctr-b", b)
    a4, a6 = addrs(ra)
    b4, b6 = addrs(rb)
    assert a4 != b4 and a6 != b6
    node.in_pod(a, "ping", "-c1", "-W2", b4)
    node.in_pod(b, "ping", "-6", "-c1", "-W2", a6)
    for cid, ns, res in (("ctr-a", a, ra), ("ctr-b", b, rb)):
        assert node.cni("CHECK", with_prev(conf, res), cid, ns).rc == 0
        assert node.cni("DEL", with_prev(conf, res), cid, ns).rc == 0
    assert node.host_veths() == []
    assert node.reservations() == []
    assert node.endpoint_records() == []
