"""The network config on stdin: decode errors (6), versions (1) and invalid
configs (7, naming the offending key and value). Nothing is created when a
config is rejected."""
import pytest


def run_add(node, conf=None, raw=None):
    pod = node.pod("a")
    return node.cni("ADD", conf, "c1", pod, raw=raw)


def assert_error(node, r, code, *words):
    assert r.rc == 1, r
    assert r.code == code, r
    for w in words:
        assert w in r.text, (w, r)
    node.assert_clean()


@pytest.mark.parametrize("raw", ["{", "not json", '{"cniVersion": "1.0.0"} trailing', "[1, 2]",
                                 ""])
def test_undecodable_config(node, raw):
    r = run_add(node, raw=raw)
    assert_error(node, r, 6)


def test_truncated_json_message_says_so(node):
    r = run_add(node, raw='{"cniVersion": "1.1.0", "name": "x"')
    assert_error(node, r, 6, "JSON")
    assert "end" in r.json["details"], r


@pytest.mark.parametrize("version", [1, 1.1, ["1.1.0"], {"v": 1}, True])
def test_version_not_a_string(node, version):
    r = run_add(node, node.conf(version=version))
    assert_error(node, r, 6, "cniVersion")


@pytest.mark.parametrize("version", ["abc", "1.1", "1.1.0.0", "v1.1.0", "1.1.0-rc1", ""])
def test_version_not_a_version_string(node, version):
    r = run_add(node, node.conf(version=version))
    assert_error(node, r, 6, "cniVersion")


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "9.9.9", "1.2.0"])
def test_unsupported_version(node, version):
    r = run_add(node, node.conf(version=version))
    assert_error(node, r, 1, version)


def test_missing_version(node):
    c = node.conf()
    del c["cniVersion"]
    r = run_add(node, c)
    assert_error(node, r, 7, "cniVersion")


def test_check_below_040(node):
    pod = node.pod("a")
    r = node.cni("CHECK", node.conf(version="0.3.1"), "c1", pod)
    assert_error(node, r, 1, "CHECK", "0.3.1")


@pytest.mark.parametrize("command", ["GC", "STATUS"])
@pytest.mark.parametrize("version", ["1.0.0", "0.4.0"])
def test_gc_status_below_110(node, command, version):
    r = node.cni(command, node.conf(version=version), ifname=None)
    assert_error(node, r, 1, command, version)


def test_error_echoes_supported_config_version(node):
    r = run_add(node, node.conf(version="0.4.0", mtu=1))
    assert r.code == 7, r
    assert r.json["cniVersion"] == "0.4.0"


def test_missing_name(node):
    c = node.conf()
    del c["name"]
    assert_error(node, run_add(node, c), 7, "name")


@pytest.mark.parametrize("name", ["bad/name", "-net", "a b"])
def test_invalid_name(node, name):
    assert_error(node, run_add(node, node.conf(name=name)), 7, "name", name)


def test_missing_ipam(node):
    c = node.conf()
    del c["ipam"]
    assert_error(node, run_add(node, c), 7, "ipam")


def test_ipam_not_an_object(node):
    assert_error(node, run_add(node, node.conf(ipam="xdpath")), 7, "ipam")


def test_missing_ipam_type(node):
    c = node.conf()
    del c["ipam"]["type"]
    assert_error(node, run_add(node, c), 7, "ipam.type")


def test_ipam_type_is_a_path(node):
    c = node.conf()
    c["ipam"]["type"] = "../../bin/sh"
    assert_error(node, run_add(node, c), 7, "ipam.type", "../../bin/sh")


@pytest.mark.parametrize("subnet,words", [
    ("10.0.0.0/33", ["subnet", "10.0.0.0/33"]),
    ("garbage", ["subnet", "garbage"]),
    ("10.0.0.1/24", ["subnet", "10.0.0.1/24", "host bits"]),
    ("10.0.0.0/31", ["subnet", "10.0.0.0/31", "too small"]),
    ("10.0.0.0/32", ["subnet", "10.0.0.0/32", "too small"]),
    ("fd00:91::/127", ["subnet", "fd00:91::/127", "too small"]),
    ("fd00:91::1/64", ["subnet", "fd00:91::1/64", "host bits"]),
])
def test_bad_subnet(node, subnet, words):
    r = run_add(node, node.conf(ranges=[[{"subnet": subnet}]]))
    assert_error(node, r, 7, *words)


def test_subnet_missing(node):
    r = run_add(node, node.conf(ranges=[[{"rangeStart": "10.0.0.5"}]]))
    assert_error(node, r, 7, "subnet")


@pytest.mark.parametrize("key", ["rangeStart", "rangeEnd", "gateway"])
def test_range_address_outside_subnet(node, key):
    r = run_add(node, node.conf(ranges=[[{"subnet": "10.94.0.0/24", key: "10.94.1.5"}]]))
    assert_error(node, r, 7, key, "10.94.1.5", "not in subnet")


def test_range_start_after_end(node):
    r = run_add(node, node.conf(ranges=[[{"subnet": "10.94.0.0/24", "rangeStart": "10.94.0.50",
                                          "rangeEnd": "10.94.0.10"}]]))
    assert_error(node, r, 7, "rangeStart", "10.94.0.50")


def test_range_start_not_an_address(node):
    r = run_add(node, node.conf(ranges=[[{"subnet": "10.94.0.0/24", "rangeStart": "nope"}]]))
    assert_error(node, r, 7, "rangeStart", "nope")


def test_overlapping_range_sets(node):
    r = run_add(node, node.conf(ranges=[[{"subnet": "10.94.0.0/24"}],
                                        [{"subnet": "10.94.0.0/25"}]]))
    assert_error(node, r, 7, "overlaps", "ranges[1][0]", "ranges[0][0]")


def test_overlapping_ranges_in_one_set(node):
    r = run_add(node, node.conf(ranges=[[{"subnet": "10.94.0.0/24"},
                                         {"subnet": "10.94.0.128/25"}]]))
    assert_error(node, r, 7, "overlaps")


def test_mixed_families_in_one_set(node):
    r = run_add(node, node.conf(ranges=[[{"subnet": "10.94.0.0/24"},
                                         {"subnet": "fd00:94::/64"}]]))
    assert_error(node, r, 7, "ranges[0]")


def test_ranges_not_an_array(node):
    c = node.conf()
    c["ipam"]["ranges"] = "10.94.0.0/24"
    assert_error(node, run_add(node, c), 7, "ranges")


def test_no_ranges_at_all(node):
    c = node.conf()
    del c["ipam"]["ranges"]
    assert_error(node, run_add(node, c), 7)


@pytest.mark.parametrize("mtu", [0, 67, 65536, 70000, -1])
def test_mtu_out_of_range(node, mtu):
    assert_error(node, run_add(node, node.conf(mtu=mtu)), 7, "mtu", str(mtu))


@pytest.mark.parametrize("mtu", ["1500", 1500.5, [1500]])
def test_mtu_not_an_integer(node, mtu):
    assert_error(node, run_add(node, node.conf(mtu=mtu)), 7, "mtu")


@pytest.mark.parametrize("prefix", ["abcde", "", "a/b"])
def test_host_veth_prefix_invalid(node, prefix):
    r = run_add(node, node.conf(hostVethPrefix=prefix))
    assert_error(node, r, 7, "hostVethPrefix")


def test_host_veth_prefix_not_a_string(node):
    assert_error(node, run_add(node, node.conf(hostVethPrefix=5)), 7, "hostVethPrefix")


def test_endpoint_dir_relative(node):
    assert_error(node, run_add(node, node.conf(endpointDir="rel/dir")), 7, "endpointDir")


@pytest.mark.parametrize("value", [0, 600001, "10"])
def test_lock_timeout_invalid(node, value):
    assert_error(node, run_add(node, node.conf(lockTimeoutMs=value)), 7, "lockTimeoutMs")


def test_dns_not_an_object(node):
    assert_error(node, run_add(node, node.conf(dns=["10.96.0.10"])), 7, "dns")


def test_prev_result_not_an_object_on_add(node):
    assert_error(node, run_add(node, node.conf(prevResult=5)), 7, "prevResult")


def test_host_veth_prefix_of_4_is_used(node):
    pod = node.pod("a")
    c = node.conf(hostVethPrefix="abcd")
    res = node.add(c, "c1", pod)
    host = res["interfaces"][0]["name"]
    assert host.startswith("abcd") and len(host) == 15, host
    assert host in node.links()
    node.delete(c, "c1", pod)
    assert host not in node.links()
    node.assert_clean()


def test_legacy_top_level_subnet(node):
    pod = node.pod("a")
    c = node.conf()
    c["ipam"] = {"type": "xdpath", "dataDir": node.data_dir, "subnet": "10.95.0.0/24",
                 "rangeStart": "10.95.0.100", "rangeEnd": "10.95.0.110"}
    res = node.add(c, "c1", pod)
    assert res["ips"][0]["address"] == "10.95.0.100/32"
    node.delete(c, "c1", pod)
    node.assert_clean()


def test_unknown_keys_are_tolerated(node):
    """Runtimes pass keys through unchanged (runtimeConfig, args, cni.dev/*)."""
    pod = node.pod("a")
    c = node.conf(runtimeConfig={"portMappings": []}, args={"cni": {"labels": []}},
                  somethingElse=True)
    node.add(c, "c1", pod)
    node.delete(c, "c1", pod)
    node.assert_clean()



def test_mtu_below_ipv6_minimum_with_ipv6_range(node):
    r = run_add(node, node.dual_conf(mtu=1000))
    assert_error(node, r, 7, "mtu", "1000", "1280")


def test_small_mtu_for_ipv4_only(node):
    pod = node.pod("a")
    conf = node.conf(mtu=576)
    res = node.add(conf, "c1", pod)
    assert node.link("eth0", pod)["mtu"] == 576
    assert node.link(res["interfaces"][0]["name"])["mtu"] == 576
    assert node.ping("169.254.1.1", pod)
