"""ADD's result in every supported spec version, checked against the links
the plugin really created."""
import ipaddress

import pytest

from conftest import GW4, GW6

VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
DNS = {"nameservers": ["10.96.0.10", "fd00:96::a"], "domain": "cluster.local",
       "search": ["default.svc.cluster.local", "svc.cluster.local"], "options": ["ndots:5"]}


@pytest.fixture(params=VERSIONS)
def added(request, node):
    """A dual-stack ADD with mtu and dns, in the parametrized version."""
    version = request.param
    pod = node.pod("a")
    conf = node.dual_conf(version=version, mtu=1400, dns=DNS)
    res = node.add(conf, "ctr-res", pod)
    return version, pod, res


def test_version_echoed(added):
    version, _, res = added
    assert res["cniVersion"] == version


def test_interfaces_host_then_pod(added, node):
    _, pod, res = added
    assert len(res["interfaces"]) == 2, res
    host, cont = res["interfaces"]
    assert host["name"].startswith("xdp") and len(host["name"]) == 14, host
    assert not host.get("sandbox"), host
    assert host["name"] in node.host_veths()
    assert cont["name"] == "eth0"
    assert cont["sandbox"] == pod


def test_ips_point_at_pod_interface(added):
    _, _, res = added
    assert len(res["ips"]) == 2, res
    for ip in res["ips"]:
        assert ip["interface"] == 1, ip


def test_ip_version_field_only_before_100(added):
    version, _, res = added
    for ip in res["ips"]:
        fam = str(ipaddress.ip_interface(ip["address"]).version)
        if version < "1.0.0":
            assert ip["version"] == fam, ip
        else:
            assert "version" not in ip, ip


def test_addresses_are_host_routes_with_link_local_gateways(added):
    _, _, res = added
    by_family = {ipaddress.ip_interface(ip["address"]).version: ip for ip in res["ips"]}
    v4, v6 = by_family[4], by_family[6]
    assert ipaddress.ip_interface(v4["address"]).ip in ipaddress.ip_network("10.91.0.0/24")
    assert v4["address"].endswith("/32") and v6["address"].endswith("/128"), res
    assert ipaddress.ip_interface(v6["address"]).ip in ipaddress.ip_network("fd00:91::/64")
    assert v4["gateway"] == GW4 and v6["gateway"] == GW6


def test_default_routes_via_gateway(added):
    _, _, res = added
    assert {(r["dst"], r.get("gw")) for r in res["routes"]} == \
        {("0.0.0.0/0", GW4), ("::/0", GW6)}


def test_dns_copied_from_config(added):
    _, _, res = added
    assert res["dns"] == DNS


def test_macs_match_real_links(added, node):
    _, pod, res = added
    host, cont = res["interfaces"]
    assert node.link(host["name"])["address"] == host["mac"]
    assert node.link("eth0", pod)["address"] == cont["mac"]
    assert host["mac"] != cont["mac"]


def test_mtu_applied_on_both_ends(added, node):
    _, pod, res = added
    assert node.link(res["interfaces"][0]["name"])["mtu"] == 1400
    assert node.link("eth0", pod)["mtu"] == 1400


def test_mtu_in_result_only_from_110(added):
    version, _, res = added
    for itf in res["interfaces"]:
        if version == "1.1.0":
            assert itf["mtu"] == 1400, itf
        else:
            assert "mtu" not in itf, itf


def test_pair_is_peered(added, node):
    _, pod, res = added
    host = node.link(res["interfaces"][0]["name"])
    cont = node.link("eth0", pod)
    assert host["linkinfo"]["info_kind"] == "veth" and cont["linkinfo"]["info_kind"] == "veth"
    assert host["link_index"] == cont["ifindex"] and cont["link_index"] == host["ifindex"]


def test_endpoint_record_matches_result(added, node):
    _, pod, res = added
    rec = node.endpoint_record("ctr-res")
    host, cont = res["interfaces"]
    assert rec["containerId"] == "ctr-res" and rec["ifname"] == "eth0"
    assert rec["network"] == "xdpnet" and rec["netns"] == pod
    assert rec["hostIfname"] == host["name"] and rec["hostMac"] == host["mac"]
    assert rec["podMac"] == cont["mac"] and rec["mtu"] == 1400
    assert rec["hostIfindex"] == node.link(host["name"])["ifindex"]
    assert rec["podIfindex"] == node.link("eth0", pod)["ifindex"]
    assert sorted(rec["ips"]) == sorted(ip["address"] for ip in res["ips"])


def test_no_dns_gives_empty_object(node):
    pod = node.pod("a")
    res = node.add(node.conf(), "c1", pod)
    assert res["dns"] == {}


def test_default_mtu_is_kernel_default(node):
    pod = node.pod("a")
    res = node.add(node.conf(), "c1", pod)
    assert node.link("eth0", pod)["mtu"] == 1500
    assert node.link(res["interfaces"][0]["name"])["mtu"] == 1500


def test_configured_routes_replace_the_default(node):
    pod = node.pod("a")
    conf = node.conf()
    conf["ipam"]["routes"] = [{"dst": "10.96.0.0/12"}, {"dst": "10.97.0.0/16"}]
    res = node.add(conf, "c1", pod)
    assert {(r["dst"], r["gw"]) for r in res["routes"]} == \
        {("10.96.0.0/12", GW4), ("10.97.0.0/16", GW4)}
    routes = node.in_pod(pod, "ip", "-4", "route").stdout
    assert "10.96.0.0/12 via 169.254.1.1 dev eth0" in routes
    assert "default" not in routes


def test_v6_only(node):
    pod = node.pod("a")
    res = node.add(node.conf(ranges=[[{"subnet": "fd00:92::/64"}]]), "c1", pod)
    # ::1 is the range's (unused) gateway, never allocated: host-local's default.
    assert [ip["address"] for ip in res["ips"]] == ["fd00:92::2/128"]
    assert [(r["dst"], r["gw"]) for r in res["routes"]] == [("::/0", GW6)]
    assert "fd00:92::2/128" in node.in_pod(pod, "ip", "-6", "addr", "show", "dev", "eth0").stdout
    assert node.in_pod(pod, "ip", "-4", "addr", "show", "dev", "eth0").stdout.strip() == ""
