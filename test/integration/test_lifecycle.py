"""Idempotency and failure: DEL in every degraded situation, repeated ADD,
ADD failures that must roll back, pool exhaustion, and ADDs killed midway."""
import fcntl
import os
import random
import signal
import time

import pytest

from conftest import ip_of, ips_of


def test_del_twice(node):
    pod = node.pod("a")
    conf = node.dual_conf()
    node.add(conf, "c1", pod)
    for _ in range(2):
        r = node.cni("DEL", conf, "c1", pod)
        assert r.rc == 0 and r.stdout == "", r
    node.assert_clean()
    assert node.in_pod(pod, "ip", "-o", "link").stdout.count("\n") == 1  # lo only


def test_del_of_never_added(node):
    pod = node.pod("a")
    node.delete(node.conf(), "never", pod)
    node.assert_clean()


def test_del_without_netns(node):
    pod = node.pod("a")
    conf = node.dual_conf()
    node.add(conf, "c1", pod)
    node.delete(conf, "c1", None)
    node.assert_clean()
    assert "eth0" not in node.in_pod(pod, "ip", "link").stdout


def test_del_with_netns_path_that_no_longer_exists(node):
    pod = node.pod("a")
    conf = node.conf()
    node.add(conf, "c1", pod)
    node.delete(conf, "c1", f"/run/netns/{node.tag}gone")
    node.assert_clean()


def test_del_without_prev_result(node):
    pod = node.pod("a")
    conf = node.conf(version="1.0.0")
    node.add(conf, "c1", pod)
    assert "prevResult" not in conf
    node.delete(conf, "c1", pod)
    node.assert_clean()


def test_del_with_prev_result(node):
    pod = node.pod("a")
    conf = node.conf(version="1.0.0")
    res = node.add(conf, "c1", pod)
    node.delete(dict(conf, prevResult=res), "c1", pod)
    node.assert_clean()


def test_del_with_malformed_prev_result(node):
    pod = node.pod("a")
    conf = node.conf()
    node.add(conf, "c1", pod)
    r = node.cni("DEL", dict(conf, prevResult=5), "c1", pod)
    assert r.rc == 0, r
    assert "prevResult" in r.stderr  # logged, not fatal
    node.assert_clean()


def test_del_with_prev_result_of_wrong_shape(node):
    pod = node.pod("a")
    conf = node.conf()
    node.add(conf, "c1", pod)
    node.delete(dict(conf, prevResult={"ips": "nope", "interfaces": 3}), "c1", pod)
    node.assert_clean()


def test_del_after_netns_deleted(node):
    pod = node.pod("a")
    conf = node.dual_conf()
    res = node.add(conf, "c1", pod)
    host = res["interfaces"][0]["name"]
    node.del_pod(pod)  # the kernel destroys the pair with the netns
    deadline = time.monotonic() + 5
    while host in node.links() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert host not in node.links()
    assert node.reservations() and node.endpoint_records()  # still held until DEL
    node.delete(conf, "c1", pod)
    node.assert_clean()


def test_repeated_add_returns_same_addresses(node):
    pod = node.pod("a")
    conf = node.dual_conf()
    r1 = node.add(conf, "c1", pod)
    r2 = node.add(conf, "c1", pod)
    assert r1 == r2
    assert node.host_veths() == [r1["interfaces"][0]["name"]]
    assert node.reservations() == sorted(ips_of(r1))
    assert node.ping("169.254.1.1", pod)
    node.delete(conf, "c1", pod)
    node.assert_clean()


def test_repeated_add_repairs_the_attachment(node):
    pod = node.pod("a")
    conf = node.conf()
    res = node.add(conf, "c1", pod)
    node.in_pod(pod, "ip", "addr", "flush", "dev", "eth0")
    node.in_pod(pod, "ip", "link", "set", "eth0", "down")
    assert node.add(conf, "c1", pod) == res
    assert node.ping("169.254.1.1", pod)
    assert node.cni("CHECK", dict(conf, prevResult=res), "c1", pod).rc == 0


def test_same_container_other_ifname(node):
    pod = node.pod("a")
    conf = node.conf()
    r0 = node.add(conf, "c1", pod, "eth0")
    r1 = node.add(conf, "c1", pod, "eth1")
    assert ip_of(r0) != ip_of(r1)
    assert r1["interfaces"][1]["name"] == "eth1"
    assert r0["interfaces"][0]["name"] != r1["interfaces"][0]["name"]
    assert sorted(node.host_veths()) == sorted([r0["interfaces"][0]["name"],
                                                r1["interfaces"][0]["name"]])
    assert node.endpoint_records() == ["c1:eth0.json", "c1:eth1.json"]
    assert node.reservations() == sorted([ip_of(r0), ip_of(r1)])
    node.delete(conf, "c1", pod, "eth1")
    assert node.host_veths() == [r0["interfaces"][0]["name"]]
    assert node.reservations() == [ip_of(r0)]
    assert node.endpoint_records() == ["c1:eth0.json"]
    node.link("eth0", pod)
    node.delete(conf, "c1", pod, "eth0")
    node.assert_clean()


def test_second_interface_keeps_first_interfaces_routes(node):
    pod, other = node.pod("a"), node.pod("b")
    conf = node.conf()
    r0 = node.add(conf, "c1", pod, "eth0")
    node.add(conf, "o", other)
    node.add(conf, "c1", pod, "eth1")
    node.delete(conf, "c1", pod, "eth1")
    assert "default via 169.254.1.1 dev eth0" in node.in_pod(pod, "ip", "route").stdout
    assert node.ping(ip_of(r0), other)


def test_second_interface_uses_its_own_routes(node):
    """Each attachment routes its own source addresses through its own table:
    traffic from eth1's address leaves by eth1 (strict rp_filter on the host
    veths would drop it on eth0's), and DEL of eth1 removes its rule."""
    pod, other = node.pod("a"), node.pod("b")
    conf = node.dual_conf()
    node.add(conf, "c1", pod, "eth0")
    ro = node.add(conf, "o", other)
    r1 = node.add(conf, "c1", pod, "eth1")
    for fam in (4, 6):
        src = ip_of(r1, fam)
        ping = ["ping", "-c1", "-W2", "-I", src, ip_of(ro, fam)]
        if fam == 6:
            ping.insert(1, "-6")
        assert node.in_pod(pod, *ping, check=False).returncode == 0, (fam, src)
    rules = node.in_pod(pod, "ip", "rule").stdout + node.in_pod(pod, "ip", "-6", "rule").stdout
    assert ip_of(r1, 4) in rules and ip_of(r1, 6) in rules
    node.delete(conf, "c1", pod, "eth1")
    rules = node.in_pod(pod, "ip", "rule").stdout + node.in_pod(pod, "ip", "-6", "rule").stdout
    assert ip_of(r1, 4) not in rules and ip_of(r1, 6) not in rules
    node.delete(conf, "c1", pod, "eth0")
    node.delete(conf, "o", other)
    rules = node.in_pod(pod, "ip", "rule").stdout
    assert "lookup" in rules and "from 10." not in rules


def test_add_with_foreign_interface_in_pod(node):
    # No `dummy` module on this kernel: a veth pair inside the pod is just as
    # foreign (not peered with our host veth).
    pod = node.pod("a")
    node.in_pod(pod, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other0")
    r = node.cni("ADD", node.conf(), "c1", pod)
    assert r.rc == 1 and r.code == 999, r
    assert "eth0" in r.text and "exists" in r.text, r
    node.assert_clean()
    assert node.link("eth0", pod)["link"] == "other0"  # untouched
    node.delete(node.conf(), "c1", pod)
    assert node.link("eth0", pod)["link"] == "other0"  # not ours to delete


def test_add_with_foreign_ifb_in_pod(node):
    pod = node.pod("a")
    node.in_pod(pod, "ip", "link", "add", "eth0", "type", "ifb")
    r = node.cni("ADD", node.dual_conf(), "c1", pod)
    assert r.rc == 1 and r.code == 999, r
    node.assert_clean()


def test_add_replaces_stale_host_veth(node):
    """A host veth left from an earlier netns of the same attachment."""
    old, new = node.pod("old"), node.pod("new")
    conf = node.conf()
    r1 = node.add(conf, "c1", old)
    host = r1["interfaces"][0]["name"]
    node.in_pod(old, "ip", "link", "set", "eth0", "name", "renamed")
    r2 = node.add(conf, "c1", new)
    assert r2["interfaces"][0]["name"] == host
    assert r2["ips"] == r1["ips"]
    assert "renamed" not in node.in_pod(old, "ip", "link").stdout
    assert node.ping("169.254.1.1", new)
    node.delete(conf, "c1", new)
    node.assert_clean()


def small_conf(node):
    return node.conf(name="small", ranges=[[{"subnet": "10.92.0.0/29", "rangeStart": "10.92.0.2",
                                              "rangeEnd": "10.92.0.3"}]])


def test_exhausted_pool(node):
    conf = small_conf(node)
    a, b, c = node.pod("a"), node.pod("b"), node.pod("c")
    ra, rb = node.add(conf, "a", a), node.add(conf, "b", b)
    assert {ip_of(ra), ip_of(rb)} == {"10.92.0.2", "10.92.0.3"}
    veths, records = node.host_veths(), node.endpoint_records()
    r = node.cni("ADD", conf, "c", c)
    assert r.rc == 1 and r.code == 999, r
    assert "no IP addresses available" in r.text, r
    assert "10.92.0.2-10.92.0.3" in r.text, r
    # The failed ADD left nothing: neither in the node nor in the pod.
    assert node.host_veths() == veths and node.endpoint_records() == records
    assert node.reservations("small") == ["10.92.0.2", "10.92.0.3"]
    assert node.attachment_records("small") == ["a:eth0", "b:eth0"]
    assert "eth0" not in node.in_pod(c, "ip", "link").stdout
    # ... and its DEL is harmless to the others.
    node.delete(conf, "c", c)
    assert node.reservations("small") == ["10.92.0.2", "10.92.0.3"]
    # Freeing one address makes room again.
    node.delete(conf, "a", a)
    assert ip_of(node.add(conf, "c", c)) == "10.92.0.2"


def test_exhausted_second_range_set_releases_the_first(node):
    conf = node.conf(name="small6", ranges=[
        [{"subnet": "10.92.1.0/24"}],
        [{"subnet": "fd00:92:1::/64", "rangeStart": "fd00:92:1::5", "rangeEnd": "fd00:92:1::5"}]])
    a, b = node.pod("a"), node.pod("b")
    node.add(conf, "a", a)
    r = node.cni("ADD", conf, "b", b)
    assert r.rc == 1 and r.code == 999 and "no IP addresses available" in r.text, r
    assert len(node.reservations("small6")) == 2  # only a's v4 + v6
    assert node.attachment_records("small6") == ["a:eth0"]


def test_add_killed_midway_then_del_leaves_nothing(node):
    """SIGKILL the plugin at many points of ADD (as a runtime timeout does),
    then DEL: no veth, no reservation, no record, no pod interface."""
    pod = node.pod("a")
    conf = node.dual_conf()
    # How long a whole ADD takes here, `ip netns exec` start-up included
    # (about 6 ms, of which the plugin's own work is about 2 ms).
    t = time.monotonic()
    node.add(conf, "probe", pod)
    whole = time.monotonic() - t
    node.delete(conf, "probe", pod)
    lo, hi = 0.0005, max(0.010, 1.2 * whole)
    rng = random.Random(1234)
    midway = attempts = 0
    # Sweep the kill delay over lo..hi; keep going until several kills
    # landed inside ADD (state present when it died), bounded.
    while attempts < 20 or (midway < 3 and attempts < 150):
        delay = lo + (attempts % 20) / 19 * (hi - lo) + rng.uniform(-0.0003, 0.0003)
        cid = f"k{attempts}"
        p = node.spawn("ADD", conf, cid, pod)
        time.sleep(max(delay, 0))
        p.send_signal(signal.SIGKILL)
        r = node.finish(p)
        if r.rc == -signal.SIGKILL and any(node.leftovers().values()):
            midway += 1
        node.delete(conf, cid, pod)
        assert not any(node.leftovers().values()), (attempts, delay, r, node.leftovers())
        assert "eth0" not in node.in_pod(pod, "ip", "link").stdout, (attempts, delay)
        attempts += 1
    assert midway >= 1, f"no kill landed inside ADD in {attempts} attempts"
    # The pool is intact: the next ADD works and pings its gateway.
    node.add(conf, "final", pod)
    assert node.ping("169.254.1.1", pod)


def test_failure_after_wiring_rolls_back(node):
    """ADD fails at its last step (endpoint record): the veth it created and
    the addresses it reserved are undone."""
    pod = node.pod("a")
    blocker = os.path.join(node.dir, "file")
    open(blocker, "w").close()
    conf = node.dual_conf(endpointDir=os.path.join(blocker, "endpoints"))
    r = node.cni("ADD", conf, "c1", pod)
    assert r.rc == 1 and r.code == 999, r
    assert "endpoint" in r.text and "Not a directory" in r.text, r
    node.assert_clean()
    assert "eth0" not in node.in_pod(pod, "ip", "link").stdout


def test_ipam_lock_timeout_is_code_11(node):
    pod = node.pod("a")
    conf = node.conf(lockTimeoutMs=200)
    os.makedirs(node.store_dir())
    fd = os.open(os.path.join(node.store_dir(), "lock"), os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another plugin instance, stuck
        t = time.monotonic()
        r = node.cni("ADD", conf, "c1", pod)
        assert r.rc == 1 and r.code == 11, r
        assert time.monotonic() - t < 5
        node.assert_clean()
        r = node.cni("DEL", conf, "c1", pod)
        assert r.rc == 1 and r.code == 11, r
    finally:
        os.close(fd)
    node.add(conf, "c1", pod)  # lock free again
    node.delete(conf, "c1", pod)
    node.assert_clean()


def test_container_id_too_long_for_state_files(node):
    """No length limit in the spec; past what state file names can hold ADD
    is refused up front (4), and DEL of such an ID (nothing stored) succeeds."""
    pod = node.pod("a")
    longest = "b" * 200
    node.add(node.conf(), longest, pod)
    node.delete(node.conf(), longest, pod)
    cid = "a" * 201
    r = node.cni("ADD", node.conf(), cid, pod)
    assert r.rc == 1 and r.code == 4, r
    assert "CNI_CONTAINERID" in r.text and "200" in r.text, r
    node.assert_clean()
    node.delete(node.conf(), cid, pod)


def test_kubernetes_sized_container_id(node):
    pod = node.pod("a")
    cid = "0123456789abcdef" * 4
    conf = node.dual_conf()
    res = node.add(conf, cid, pod)
    assert node.endpoint_records() == [f"{cid}:eth0.json"]
    assert node.cni("CHECK", dict(conf, prevResult=res), cid, pod).rc == 0
    node.delete(conf, cid, pod)
    node.assert_clean()


def test_datapath_not_loaded_is_try_again(node):
    """A node configured for the datapath whose agent has not loaded it:
    code 11 and nothing left behind (the runtime retries)."""
    pod = node.pod("a")
    conf = node.conf(datapath={"pinRoot": os.path.join(node.dir, "no-bpffs-here")})
    r = node.cni("ADD", conf, "c1", pod)
    assert r.rc == 1 and r.code == 11, r
    assert "xdpathd" in r.text, r
    node.assert_clean()
    assert "eth0" not in node.in_pod(pod, "ip", "link").stdout
    node.delete(conf, "c1", pod)


def test_datapath_pin_root_must_be_absolute(node):
    r = node.cni("ADD", node.conf(datapath={"pinRoot": "rel/path"}), "c1", node.pod("a"))
    assert r.rc == 1 and r.code == 7 and "datapath.pinRoot" in r.text, r
