"""Many runtimes' worth of parallel invocations: 100 ADDs as separate
processes at once, then 100 DELs, all through the IPAM lock."""
import os
import re

import pytest

from conftest import ip_of

N = 100


@pytest.fixture
def hundred(node):
    return node.many_pods([f"p{i}" for i in range(N)])


def run_all(node, command, conf, pods):
    procs = [node.spawn(command, conf, f"ctr{i}", pod) for i, pod in enumerate(pods)]
    return [node.finish(p) for p in procs]


def test_parallel_add_then_parallel_del(node, hundred):
    conf = node.dual_conf()
    adds = run_all(node, "ADD", conf, hundred)
    failed = [r for r in adds if r.rc != 0]
    assert not failed, failed[:3]
    v4 = [ip_of(r.json, 4) for r in adds]
    v6 = [ip_of(r.json, 6) for r in adds]
    assert len(set(v4)) == N and len(set(v6)) == N
    assert len(node.host_veths()) == N
    assert len({r.json["interfaces"][0]["name"] for r in adds}) == N
    assert len(node.endpoint_records()) == N
    assert sorted(node.reservations()) == sorted(v4 + v6)
    assert len(node.attachment_records()) == N
    # Every pod got its own address on its own interface.
    for i in (0, N // 2, N - 1):
        out = node.in_pod(hundred[i], "ip", "-4", "addr", "show", "dev", "eth0").stdout
        assert f"inet {v4[i]}/32" in out

    dels = run_all(node, "DEL", conf, hundred)
    failed = [r for r in dels if r.rc != 0]
    assert not failed, failed[:3]
    node.assert_clean()
    store = os.listdir(node.store_dir())
    extra = [f for f in store if f not in ("lock", "attachments")
             and not re.fullmatch(r"last_reserved_ip\.\d+", f)]
    assert extra == [], extra


def test_parallel_adds_in_two_networks(node, hundred):
    """Two networks (two stores, two locks) in parallel do not interfere."""
    half = N // 2
    c1 = node.conf(name="net-a", ranges=[[{"subnet": "10.97.1.0/24"}]])
    c2 = node.conf(name="net-b", ranges=[[{"subnet": "10.97.2.0/24"}]])
    procs = [node.spawn("ADD", c1 if i < half else c2, f"ctr{i}", pod)
             for i, pod in enumerate(hundred)]
    res = [node.finish(p) for p in procs]
    assert all(r.rc == 0 for r in res), [r for r in res if r.rc][:3]
    a = {ip_of(r.json) for r in res[:half]}
    b = {ip_of(r.json) for r in res[half:]}
    assert len(a) == half and all(x.startswith("10.97.1.") for x in a)
    assert len(b) == half and all(x.startswith("10.97.2.") for x in b)
    procs = [node.spawn("DEL", c1 if i < half else c2, f"ctr{i}", pod)
             for i, pod in enumerate(hundred)]
    assert all(node.finish(p).rc == 0 for p in procs)
    node.assert_clean("net-a")
    node.assert_clean("net-b")


def test_parallel_add_into_small_pool(node):
    """More ADDs than addresses: exactly the pool's size succeed, the rest
    fail cleanly with the exhaustion error."""
    pods = node.many_pods([f"s{i}" for i in range(20)])
    conf = node.conf(name="tiny", ranges=[[{"subnet": "10.97.3.0/28"}]])  # .2-.14: 13
    res = run_all(node, "ADD", conf, pods)
    ok = [r for r in res if r.rc == 0]
    bad = [r for r in res if r.rc != 0]
    assert len(ok) == 13
    assert all(r.code == 999 and "no IP addresses available" in r.text for r in bad), bad[:2]
    assert len({ip_of(r.json) for r in ok}) == 13
    assert len(node.host_veths()) == 13 and len(node.endpoint_records()) == 13
    assert len(node.reservations("tiny")) == 13
