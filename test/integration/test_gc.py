"""GC (spec 1.1.0): everything of this network that the runtime does not list
as valid is released; listed attachments keep working."""
import json
import os

import pytest

from conftest import ip_of


@pytest.fixture
def three(node):
    conf = node.dual_conf()
    pods = [node.pod(x) for x in "abc"]
    res = [node.add(conf, f"ctr-{i}", p) for i, p in enumerate(pods)]
    return conf, pods, res


def gc(node, conf, valid, key="cni.dev/valid-attachments"):
    c = dict(conf)
    if valid is not None:
        c[key] = [{"containerID": cid, "ifname": ifn} for cid, ifn in valid]
    # Runtime-style: CNI_COMMAND and CNI_PATH only.
    return node.cni("GC", c, ifname=None)


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_releases_unlisted(node, three, key):
    conf, pods, res = three
    r = gc(node, conf, [("ctr-0", "eth0"), ("ctr-1", "eth0")], key)
    assert r.rc == 0 and r.stdout == "", r
    gone = res[2]
    assert gone["interfaces"][0]["name"] not in node.host_veths()
    assert sorted(node.host_veths()) == sorted(x["interfaces"][0]["name"] for x in res[:2])
    assert not set(node.reservations()) & {ip_of(gone, 4), ip_of(gone, 6)}
    assert len(node.reservations()) == 4
    assert node.attachment_records() == ["ctr-0:eth0", "ctr-1:eth0"]
    assert node.endpoint_records() == ["ctr-0:eth0.json", "ctr-1:eth0.json"]
    assert "eth0" not in node.in_pod(pods[2], "ip", "link").stdout
    # The listed pods still talk to each other.
    assert node.ping(ip_of(res[1], 4), pods[0])
    assert node.ping(ip_of(res[0], 6), pods[1])


def test_gc_with_everything_listed_changes_nothing(node, three):
    conf, _, _ = three
    before = node.leftovers()
    r = gc(node, conf, [(f"ctr-{i}", "eth0") for i in range(3)])
    assert r.rc == 0, r
    assert node.leftovers() == before


def test_gc_with_empty_list_releases_all(node, three):
    conf, _, _ = three
    r = gc(node, conf, [])
    assert r.rc == 0, r
    node.assert_clean()


def test_gc_without_list_releases_all(node, three):
    conf, _, _ = three
    r = gc(node, conf, None)
    assert r.rc == 0, r
    node.assert_clean()


def test_gc_matches_ifname_too(node, three):
    conf, _, _ = three
    r = gc(node, conf, [("ctr-0", "eth0"), ("ctr-1", "eth1"), ("ctr-2", "eth0")])
    assert r.rc == 0, r
    assert node.attachment_records() == ["ctr-0:eth0", "ctr-2:eth0"]


def test_gc_then_del_of_collected_is_fine(node, three):
    conf, pods, _ = three
    assert gc(node, conf, [("ctr-0", "eth0")]).rc == 0
    node.delete(conf, "ctr-2", pods[2])
    node.delete(conf, "ctr-1", None)
    assert node.attachment_records() == ["ctr-0:eth0"]


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
@pytest.mark.parametrize("bad", [{"containerID": "x"}, "ctr-0", 5])
def test_gc_malformed_list(node, three, key, bad):
    conf, _, _ = three
    before = node.leftovers()
    r = node.cni("GC", dict(conf, **{key: bad}), ifname=None)
    assert r.rc == 1 and r.code == 7, r
    assert key in r.text, r
    assert node.leftovers() == before


def test_gc_malformed_entry(node, three):
    conf, _, _ = three
    before = node.leftovers()
    r = node.cni("GC", dict(conf, **{"cni.dev/valid-attachments": [{"containerID": "ctr-0"}]}),
                 ifname=None)
    assert r.rc == 1 and r.code == 7, r
    assert "ifname" in r.text
    assert node.leftovers() == before


def test_gc_sweeps_orphan_endpoint_records_of_this_network_only(node, three):
    conf, _, _ = three
    rec = node.endpoint_record("ctr-0")
    orphan = dict(rec, containerId="orphan")
    foreign = dict(rec, containerId="foreign", network="othernet")
    for r in (orphan, foreign):
        with open(os.path.join(node.ep_dir, f"{r['containerId']}:eth0.json"), "w") as f:
            json.dump(r, f)
    assert gc(node, conf, [(f"ctr-{i}", "eth0") for i in range(3)]).rc == 0
    assert "orphan:eth0.json" not in node.endpoint_records()
    assert "foreign:eth0.json" in node.endpoint_records()
    assert len(node.host_veths()) == 3


def test_gc_leaves_other_networks_alone(node, three):
    conf, _, _ = three
    other = node.conf(name="othernet", ranges=[[{"subnet": "10.92.5.0/24"}]])
    pod = node.pod("o")
    node.add(other, "o1", pod)
    assert gc(node, conf, []).rc == 0
    assert node.reservations() == []
    assert node.reservations("othernet") == ["10.92.5.2"]
    assert node.endpoint_records() == ["o1:eth0.json"]
    assert node.ping("169.254.1.1", pod)


def test_gc_null_new_key_falls_back_to_legacy_list(node, three):
    conf, _, _ = three
    c = dict(conf, **{"cni.dev/valid-attachments": None,
                      "cni.dev/attachments": [{"containerID": "ctr-1", "ifname": "eth0"}]})
    r = node.cni("GC", c, ifname=None)
    assert r.rc == 0, r
    assert node.attachment_records() == ["ctr-1:eth0"]
