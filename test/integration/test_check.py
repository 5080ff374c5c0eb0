"""CHECK: passes right after ADD, and names whatever drifted afterwards."""
import copy
import os

import pytest

from conftest import ip_of, with_prev


@pytest.fixture
def attached(node):
    pod = node.pod("a")
    conf = node.dual_conf()
    res = node.add(conf, "c1", pod)
    return pod, conf, res


def check(node, conf, res, pod, cid="c1", ifname="eth0"):
    return node.cni("CHECK", with_prev(conf, res), cid, pod, ifname)


def assert_drift(r, *words):
    assert r.rc == 1 and r.code == 999, r
    for w in words:
        assert w in r.text, (w, r)


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_check_after_add(node, version):
    pod = node.pod("a")
    conf = node.dual_conf(version=version)
    res = node.add(conf, "c1", pod)
    r = check(node, conf, res, pod)
    assert r.rc == 0 and r.stdout == "", r


def test_check_is_read_only(attached, node):
    pod, conf, res = attached
    before = (node.leftovers(), node.in_pod(pod, "ip", "addr").stdout)
    assert check(node, conf, res, pod).rc == 0
    assert (node.leftovers(), node.in_pod(pod, "ip", "addr").stdout) == before


def test_missing_prev_result(attached, node):
    pod, conf, _ = attached
    r = node.cni("CHECK", conf, "c1", pod)
    assert r.rc == 1 and r.code == 7, r
    assert "prevResult" in r.text


def test_prev_result_not_an_object(attached, node):
    pod, conf, _ = attached
    r = node.cni("CHECK", dict(conf, prevResult="x"), "c1", pod)
    assert r.rc == 1 and r.code == 7 and "prevResult" in r.text, r


def test_pod_address_deleted(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "addr", "del", f"{ip_of(res, 4)}/32", "dev", "eth0")
    assert_drift(check(node, conf, res, pod), f"{ip_of(res, 4)}/32", "missing")


def test_pod_v6_address_deleted(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "-6", "addr", "del", f"{ip_of(res, 6)}/128", "dev", "eth0")
    assert_drift(check(node, conf, res, pod), f"{ip_of(res, 6)}/128")


def test_pod_default_route_deleted(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "route", "del", "default")
    assert_drift(check(node, conf, res, pod), "0.0.0.0/0")


def test_pod_source_table_route_deleted(attached, node):
    """The attachment's own table (source routing) is part of what ADD set up."""
    pod, conf, res = attached
    table = [l.split()[-1] for l in node.in_pod(pod, "ip", "rule").stdout.splitlines()
             if "lookup" in l and "from 10." in l][0]
    node.in_pod(pod, "ip", "route", "flush", "table", table)
    assert_drift(check(node, conf, res, pod), "table")


def test_pod_v6_default_route_deleted(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "-6", "route", "del", "default")
    assert_drift(check(node, conf, res, pod), "::/0")


def test_pod_interface_down(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "link", "set", "eth0", "down")
    assert_drift(check(node, conf, res, pod), "eth0", "down")


def test_host_veth_down(attached, node):
    pod, conf, res = attached
    host = res["interfaces"][0]["name"]
    node.run("ip", "link", "set", host, "down")
    assert_drift(check(node, conf, res, pod), host, "down")


def test_node_route_deleted(attached, node):
    pod, conf, res = attached
    node.run("ip", "route", "del", f"{ip_of(res, 4)}/32")
    assert_drift(check(node, conf, res, pod), ip_of(res, 4), res["interfaces"][0]["name"])


def test_pod_interface_renamed(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "link", "set", "eth0", "down")
    node.in_pod(pod, "ip", "link", "set", "eth0", "name", "eth9")
    assert_drift(check(node, conf, res, pod), "eth0", "missing")


def test_endpoint_record_removed(attached, node):
    pod, conf, res = attached
    os.unlink(os.path.join(node.ep_dir, "c1:eth0.json"))
    assert_drift(check(node, conf, res, pod), "endpoint")


def test_reservation_lost(attached, node):
    pod, conf, res = attached
    os.unlink(os.path.join(node.store_dir(), ip_of(res, 4)))
    assert_drift(check(node, conf, res, pod), "reservation")


def test_after_del(attached, node):
    pod, conf, res = attached
    node.delete(conf, "c1", pod)
    r = check(node, conf, res, pod)
    assert r.rc == 1 and r.code == 999, r
    assert "reservation" in r.text, r


def test_prev_result_with_other_mac(attached, node):
    pod, conf, res = attached
    prev = copy.deepcopy(res)
    prev["interfaces"][1]["mac"] = "02:00:00:00:00:01"
    assert_drift(check(node, conf, prev, pod), "MAC", "02:00:00:00:00:01",
                 res["interfaces"][1]["mac"])


def test_prev_result_with_other_address(attached, node):
    pod, conf, res = attached
    prev = copy.deepcopy(res)
    prev["ips"][0]["address"] = "10.91.0.200/32"
    assert_drift(check(node, conf, prev, pod), "10.91.0.200")


def test_prev_result_with_other_sandbox(attached, node):
    pod, conf, res = attached
    prev = copy.deepcopy(res)
    prev["interfaces"][1]["sandbox"] = "/run/netns/elsewhere"
    assert_drift(check(node, conf, prev, pod), "sandbox", "/run/netns/elsewhere")


def test_prev_result_without_our_interface(attached, node):
    pod, conf, res = attached
    prev = copy.deepcopy(res)
    prev["interfaces"][1]["name"] = "net1"
    assert_drift(check(node, conf, prev, pod), "eth0")


def test_prev_result_malformed_address(attached, node):
    pod, conf, res = attached
    prev = copy.deepcopy(res)
    prev["ips"][0]["address"] = "not-a-cidr"
    r = check(node, conf, prev, pod)
    assert r.rc == 1 and r.code == 7 and "prevResult" in r.text, r


def test_later_plugin_additions_are_tolerated(attached, node):
    """A chained plugin may add interfaces and routes to the result."""
    pod, conf, res = attached
    prev = copy.deepcopy(res)
    prev["interfaces"].append({"name": "bwp0000", "mac": "02:11:22:33:44:55"})
    node.in_pod(pod, "ip", "route", "add", "10.98.0.0/16", "via", "169.254.1.1", "dev", "eth0")
    prev["routes"].append({"dst": "10.98.0.0/16", "gw": "169.254.1.1"})
    assert check(node, conf, prev, pod).rc == 0


def test_check_wrong_ifname(attached, node):
    pod, conf, res = attached
    r = check(node, conf, res, pod, ifname="eth1")
    assert r.rc == 1 and r.code == 999, r


def test_check_after_repair_by_add(attached, node):
    pod, conf, res = attached
    node.in_pod(pod, "ip", "route", "del", "default")
    assert check(node, conf, res, pod).rc == 1
    assert node.add(conf, "c1", pod) == res
    assert check(node, conf, res, pod).rc == 0
