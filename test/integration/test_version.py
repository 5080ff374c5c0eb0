"""VERSION: the versions the plugin speaks, and what it echoes."""
import pytest

ALL = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def test_supported_versions_listed(node):
    r = node.cni("VERSION", {"cniVersion": "1.1.0"}, ifname=None)
    assert r.rc == 0, r
    assert set(ALL) <= set(r.json["supportedVersions"])


@pytest.mark.parametrize("version", ALL)
def test_echoes_requested_version(node, version):
    r = node.cni("VERSION", {"cniVersion": version}, ifname=None)
    assert r.rc == 0, r
    assert r.json["cniVersion"] == version


def test_unsupported_request_gets_a_supported_version(node):
    r = node.cni("VERSION", {"cniVersion": "0.2.0"}, ifname=None)
    assert r.rc == 0, r
    assert r.json["cniVersion"] in r.json["supportedVersions"]


def test_empty_stdin(node):
    r = node.cni("VERSION", None, ifname=None, raw="")
    assert r.rc == 0, r
    assert r.json["cniVersion"] in ALL
    assert set(ALL) <= set(r.json["supportedVersions"])


def test_version_needs_no_other_variable(node):
    """Only CNI_COMMAND: no container ID, netns, ifname or CNI_PATH."""
    r = node.cni("VERSION", {"cniVersion": "1.0.0"}, ifname=None, env={"CNI_PATH": None})
    assert r.rc == 0, r
    assert r.json["cniVersion"] == "1.0.0"
