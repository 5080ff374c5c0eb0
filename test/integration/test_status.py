"""STATUS (spec 1.1.0): 0 when ADD can be served, 50 when it cannot."""
import os

from conftest import ip_of


def status(node, conf):
    return node.cni("STATUS", conf, ifname=None)


def test_healthy_before_any_add(node):
    r = status(node, node.conf())
    assert r.rc == 0 and r.stdout == "", r


def test_healthy_with_pods(node):
    conf = node.dual_conf()
    node.add(conf, "c1", node.pod("a"))
    r = status(node, conf)
    assert r.rc == 0 and r.stdout == "", r


def small(node):
    return node.conf(name="small", ranges=[[{"subnet": "10.92.0.0/29", "rangeStart": "10.92.0.2",
                                              "rangeEnd": "10.92.0.3"}]])


def test_pool_exhausted(node):
    conf = small(node)
    node.add(conf, "a", node.pod("a"))
    assert status(node, conf).rc == 0  # one left
    b = node.pod("b")
    node.add(conf, "b", b)
    r = status(node, conf)
    assert r.rc == 1 and r.code == 50, r
    assert "no IP addresses available" in r.text and "10.92.0.2-10.92.0.3" in r.text, r
    node.delete(conf, "b", b)
    assert status(node, conf).rc == 0


def test_one_exhausted_set_of_two(node):
    conf = node.conf(name="half", ranges=[
        [{"subnet": "10.92.2.0/24"}],
        [{"subnet": "fd00:92:2::/64", "rangeStart": "fd00:92:2::7", "rangeEnd": "fd00:92:2::7"}]])
    res = node.add(conf, "a", node.pod("a"))
    assert ip_of(res, 6) == "fd00:92:2::7"
    r = status(node, conf)
    assert r.rc == 1 and r.code == 50 and "fd00:92:2::7" in r.text, r


def test_data_dir_under_a_regular_file(node):
    blocker = os.path.join(node.dir, "file")
    open(blocker, "w").close()
    conf = node.conf()
    conf["ipam"]["dataDir"] = os.path.join(blocker, "ipam")
    r = status(node, conf)
    assert r.rc == 1 and r.code == 50, r
    assert blocker in r.text, r
    # ADD agrees: it cannot allocate, and leaves nothing behind.
    pod = node.pod("a")
    r = node.cni("ADD", conf, "c1", pod)
    assert r.rc == 1 and r.code == 999, r
    node.assert_clean()


def test_status_needs_only_command_and_path(node):
    """STATUS takes no container ID, netns or ifname."""
    r = node.cni("STATUS", node.conf(), cid=None, netns=None, ifname=None)
    assert r.rc == 0, r


def test_lock_busy_is_try_again(node):
    """A store held by a stuck ADD is busy, not broken: 11, not 50."""
    import fcntl
    conf = node.conf(lockTimeoutMs=200)
    os.makedirs(node.store_dir())
    fd = os.open(os.path.join(node.store_dir(), "lock"), os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = status(node, conf)
        assert r.rc == 1 and r.code == 11, r
    finally:
        os.close(fd)
    assert status(node, conf).rc == 0
