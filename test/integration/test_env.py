"""The CNI_* environment: every invalid variable is code 4 naming it, and
nothing is created when the environment is rejected."""
import os
import subprocess
import time

import pytest

from conftest import with_prev


def assert_env_error(node, r, *words):
    assert r.rc == 1, r
    assert r.code == 4, r
    for w in words:
        assert w in r.text, (w, r)
    node.assert_clean()


def test_add_without_any_variable_lists_them(node):
    r = node.cni("ADD", node.conf(), cid=None, netns=None, ifname=None)
    assert_env_error(node, r, "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")


VARS = {"CNI_CONTAINERID": "cid", "CNI_NETNS": "netns", "CNI_IFNAME": "ifname"}


@pytest.mark.parametrize("missing", list(VARS))
def test_add_without_one_variable_names_it(node, missing):
    kw = {"cid": "c1", "netns": node.pod("a"), "ifname": "eth0", VARS[missing]: None}
    r = node.cni("ADD", node.conf(), **kw)
    assert_env_error(node, r, missing)
    assert not any(v in r.text for v in VARS if v != missing), r


def test_empty_variable_counts_as_missing(node):
    pod = node.pod("a")
    r = node.cni("ADD", node.conf(), cid="", netns=pod)
    assert_env_error(node, r, "CNI_CONTAINERID")


def test_unknown_command(node):
    pod = node.pod("a")
    r = node.cni("FOO", node.conf(), "c1", pod)
    assert_env_error(node, r, "CNI_COMMAND", "FOO")


def test_no_command_prints_about_and_exits_0(node):
    pod = node.pod("a")
    r = node.cni(None, node.conf(), "c1", pod)
    assert r.rc == 0, r
    assert r.stdout == ""
    assert "xdpath" in r.stderr and "1.1.0" in r.stderr, r
    node.assert_clean()


@pytest.mark.parametrize("cid", ["a/b", "-ab", "a b", "ab:c", "a*b"])
def test_bad_container_id(node, cid):
    pod = node.pod("a")
    r = node.cni("ADD", node.conf(), cid, pod)
    assert_env_error(node, r, "CNI_CONTAINERID", cid)


@pytest.mark.parametrize("ifname", ["abcdefghijklmnop", "a/b", ".", "..", "a:b", "a b"])
def test_bad_ifname(node, ifname):
    pod = node.pod("a")
    r = node.cni("ADD", node.conf(), "c1", pod, ifname)
    assert_env_error(node, r, "CNI_IFNAME")
    assert node.in_pod(pod, "ip", "-o", "link").stdout.count("\n") == 1  # only lo


def test_ifname_of_15_bytes_is_accepted(node):
    pod = node.pod("a")
    res = node.add(node.conf(), "c1", pod, "abcdefghijklmno")
    assert res["interfaces"][1]["name"] == "abcdefghijklmno"
    node.link("abcdefghijklmno", pod)
    node.delete(node.conf(), "c1", pod, "abcdefghijklmno")
    node.assert_clean()


def test_netns_missing_path(node):
    path = f"/run/netns/{node.tag}nosuch"
    r = node.cni("ADD", node.conf(), "c1", path)
    assert_env_error(node, r, "CNI_NETNS", path, "No such file")


def test_netns_not_a_namespace(node):
    r = node.cni("ADD", node.conf(), "c1", "/etc/hostname")
    assert_env_error(node, r, "CNI_NETNS", "/etc/hostname", "not a network namespace")


def test_netns_is_a_mount_namespace(node):
    r = node.cni("ADD", node.conf(), "c1", "/proc/self/ns/mnt")
    assert_env_error(node, r, "CNI_NETNS", "not a network namespace")


def test_netns_is_the_plugins_own(node):
    # The plugin runs via `ip netns exec NODE`, so its /proc/self/ns/net is the
    # node netns: wiring "the pod" there would configure the node itself.
    links_before = node.links()
    r = node.cni("ADD", node.conf(), "c1", "/proc/self/ns/net")
    assert_env_error(node, r, "CNI_NETNS", "own network namespace")
    assert node.links() == links_before


def test_netns_is_the_node_by_name(node):
    r = node.cni("ADD", node.conf(), "c1", f"/run/netns/{node.ns}")
    assert_env_error(node, r, "CNI_NETNS", "own network namespace")


def test_unknown_cni_args_key_rejected(node):
    pod = node.pod("a")
    r = node.cni("ADD", node.conf(), "c1", pod, args="K8S_POD_NAME=web;FOO=bar")
    assert_env_error(node, r, "CNI_ARGS", "FOO")


@pytest.mark.parametrize("flag", ["IgnoreUnknown=1", "IgnoreUnknown=true"])
def test_unknown_cni_args_key_accepted_with_ignore_unknown(node, flag):
    pod = node.pod("a")
    args = f"{flag};FOO=bar;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_UID=u-1;" \
           "K8S_POD_INFRA_CONTAINER_ID=c1"
    node.add(node.conf(), "c1", pod, args=args)
    rec = node.endpoint_record("c1")
    assert (rec["podNamespace"], rec["podName"], rec["podUid"]) == ("prod", "web-0", "u-1")
    node.delete(node.conf(), "c1", pod, args=args)
    node.assert_clean()


def test_ignore_unknown_false_still_rejects(node):
    pod = node.pod("a")
    r = node.cni("ADD", node.conf(), "c1", pod, args="IgnoreUnknown=0;FOO=bar")
    assert_env_error(node, r, "FOO")


def test_cni_args_pair_without_equals(node):
    pod = node.pod("a")
    r = node.cni("ADD", node.conf(), "c1", pod, args="IgnoreUnknown=1;junk")
    assert_env_error(node, r, "CNI_ARGS", "junk")


def test_del_does_not_need_netns(node):
    r = node.cni("DEL", node.conf(), "c1", None)
    assert r.rc == 0, r


@pytest.mark.parametrize("missing", ["cid", "ifname"])
def test_del_needs_container_id_and_ifname(node, missing):
    kw = {"cid": "c1", "netns": None, "ifname": "eth0"}
    kw[missing] = None
    r = node.cni("DEL", node.conf(), **kw)
    assert_env_error(node, r, "CNI_CONTAINERID" if missing == "cid" else "CNI_IFNAME")


def test_netns_as_proc_pid_path(node):
    """Some runtimes pass /proc/<pid>/ns/net of the sandbox process."""
    pod = node.pod("a")
    holder = subprocess.Popen(["ip", "netns", "exec", os.path.basename(pod), "sleep", "60"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 5  # until `ip netns exec` has entered the netns
        while os.stat(path).st_ino != os.stat(pod).st_ino:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        res = node.add(node.conf(), "c1", path)
        assert res["interfaces"][1]["sandbox"] == path
        assert "eth0" in node.in_pod(pod, "ip", "link").stdout
        assert node.cni("CHECK", with_prev(node.conf(), res), "c1", path).rc == 0
        node.delete(node.conf(), "c1", path)
        node.assert_clean()
    finally:
        holder.kill()
        holder.wait()
