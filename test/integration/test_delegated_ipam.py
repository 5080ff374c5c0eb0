"""Delegated IPAM: any ipam.type other than "xdpath" is run from CNI_PATH
(tested with Debian's host-local 1.1.1, which speaks spec <= 1.0.0)."""
import os

import pytest

from conftest import ip_of, with_prev


def hl_conf(node, version="1.0.0", **extra):
    c = node.conf(version=version, **extra)
    c["ipam"] = {"type": "host-local", "dataDir": os.path.join(node.dir, "hl"),
                 "ranges": [[{"subnet": "10.93.0.0/24"}]]}
    return c


def hl_files(node, network="xdpnet"):
    d = os.path.join(node.dir, "hl", network)
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d) if f != "lock" and not f.startswith("last_reserved"))


def test_add_uses_host_local_address_as_host_route(node):
    pod = node.pod("a")
    res = node.add(hl_conf(node), "c1", pod)
    assert res["ips"][0]["address"] == "10.93.0.2/32"
    assert res["ips"][0]["gateway"] == "169.254.1.1"  # not host-local's 10.93.0.1
    assert res["ips"][0]["interface"] == 1
    assert hl_files(node) == ["10.93.0.2"]
    with open(os.path.join(node.dir, "hl", "xdpnet", "10.93.0.2")) as f:
        assert f.read().split() == ["c1", "eth0"]
    addrs = node.in_pod(pod, "ip", "-4", "addr", "show", "dev", "eth0").stdout
    assert "inet 10.93.0.2/32" in addrs, addrs
    assert "default via 169.254.1.1 dev eth0" in node.in_pod(pod, "ip", "route").stdout
    assert node.reservations() == []  # the built-in store is not used


def test_pods_on_host_local_ping(node):
    conf = hl_conf(node)
    a, b = node.pod("a"), node.pod("b")
    node.add(conf, "a", a)
    rb = node.add(conf, "b", b)
    assert ip_of(rb) == "10.93.0.3"
    assert node.ping("10.93.0.3", a)
    assert node.ping("10.93.0.2", b)


def test_del_releases_host_local_reservation(node):
    pod = node.pod("a")
    conf = hl_conf(node)
    node.add(conf, "c1", pod)
    node.delete(conf, "c1", pod)
    assert hl_files(node) == []
    node.assert_clean()
    node.delete(conf, "c1", pod)  # again: host-local treats unknown as success


def test_del_without_netns_releases_host_local_reservation(node):
    pod = node.pod("a")
    conf = hl_conf(node)
    node.add(conf, "c1", pod)
    node.del_pod(pod)
    node.delete(conf, "c1", None)
    assert hl_files(node) == []
    node.assert_clean()


def test_check_forwards_to_host_local(node):
    pod = node.pod("a")
    conf = hl_conf(node)
    res = node.add(conf, "c1", pod)
    r = node.cni("CHECK", with_prev(conf, res), "c1", pod)
    assert r.rc == 0, r
    # host-local's CHECK fails once its reservation is gone, and says so.
    os.unlink(os.path.join(node.dir, "hl", "xdpnet", "10.93.0.2"))
    r = node.cni("CHECK", with_prev(conf, res), "c1", pod)
    assert r.rc == 1 and r.code == 999, r
    assert "host-local" in r.text, r


def test_failed_add_releases_host_local_reservation(node):
    pod = node.pod("a")
    node.in_pod(pod, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other0")
    r = node.cni("ADD", hl_conf(node), "c1", pod)
    assert r.rc == 1 and r.code == 999, r
    assert hl_files(node) == []
    node.assert_clean()


def test_unknown_ipam_type(node):
    pod = node.pod("a")
    conf = node.conf()
    conf["ipam"] = {"type": f"nosuch{node.tag}"}
    r = node.cni("ADD", conf, "c1", pod)
    assert r.rc == 1 and r.code == 4, r
    assert "CNI_PATH" in r.text and f"nosuch{node.tag}" in r.text, r
    node.assert_clean()
    assert "eth0" not in node.in_pod(pod, "ip", "link").stdout


def test_delegation_needs_cni_path(node):
    pod = node.pod("a")
    r = node.cni("ADD", hl_conf(node), "c1", pod, env={"CNI_PATH": None})
    assert r.rc == 1 and r.code == 4 and "CNI_PATH" in r.text, r
    node.assert_clean()


def test_host_local_errors_are_forwarded_with_their_code(node):
    """host-local 1.1.1 supports spec <= 1.0.0: a 1.1.0 ADD comes back as its
    code 1, and the failed ADD leaves nothing behind."""
    pod = node.pod("a")
    r = node.cni("ADD", hl_conf(node, version="1.1.0"), "c1", pod)
    assert r.rc == 1 and r.code == 1, r
    assert "host-local" in r.text and "incompatible" in r.text, r
    node.assert_clean()
    assert hl_files(node) == []


def test_status_is_forwarded(node):
    # STATUS needs a 1.1.0 config, and Debian's host-local 1.1.1 predates
    # STATUS: its skel treats the unknown verb like ADD/DEL and first insists
    # on CNI_CONTAINERID (which STATUS does not carry), failing with code 3
    # "missing containerID" before it would reject the 1.1.0 version (code 1).
    # That host-local error coming back, code and all, is the forwarding.
    r = node.cni("STATUS", hl_conf(node, version="1.1.0"), ifname=None)
    assert r.rc == 1 and r.code == 3, r
    assert "host-local" in r.text and "containerID" in r.text, r


@pytest.mark.parametrize("command", ["STATUS", "GC"])
def test_forwarded_unknown_ipam_type(node, command):
    conf = node.conf()
    conf["ipam"] = {"type": f"nosuch{node.tag}"}
    r = node.cni(command, conf, ifname=None)
    assert r.rc == 1 and r.code == 4 and "CNI_PATH" in r.text, r


def test_gc_continues_past_delegate_error(node):
    """GC is forwarded (host-local 1.1.1 fails it like STATUS) and the
    plugin still collects its own state: unlisted host veths and records."""
    conf = hl_conf(node)
    a, b = node.pod("a"), node.pod("b")
    ra, rb = node.add(conf, "a", a), node.add(conf, "b", b)
    gc = dict(hl_conf(node, version="1.1.0"),
              **{"cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}]})
    r = node.cni("GC", gc, ifname=None)
    assert r.rc == 1 and r.code == 3 and "host-local" in r.text, r
    assert node.host_veths() == [ra["interfaces"][0]["name"]]
    assert node.endpoint_records() == ["a:eth0.json"]
    assert node.ping("169.254.1.1", a)
    assert rb["interfaces"][0]["name"] not in node.links()


def test_del_with_failing_delegate_still_removes_veth_and_record(node):
    """The IPAM error is reported (the runtime retries DEL), but the agent is
    not left with an endpoint whose veth is gone."""
    pod = node.pod("a")
    conf = hl_conf(node)
    node.add(conf, "c1", pod)
    blocker = os.path.join(node.dir, "file")
    open(blocker, "w").close()
    broken = dict(conf, ipam=dict(conf["ipam"], dataDir=os.path.join(blocker, "hl")))
    r = node.cni("DEL", broken, "c1", pod)
    assert r.rc == 1 and "host-local" in r.text, r
    assert node.host_veths() == [] and node.endpoint_records() == []
    node.delete(conf, "c1", pod)  # the retry with a working IPAM releases the address
    assert hl_files(node) == []
