"""xdpathctl filter check / test / fields: the rule language offline.

`filter test EXPR --pcap FILE` runs the compiled rule over a capture with
the userspace packet summarizer (the datapath's reference): here captures
written with scapy holding catalog frames (SACK-panic SYN, IPv4 header
lies, IPv6 routing header type 0, zero-length TCP option) and their
well-formed twins; the rule must match exactly the malicious ones."""
import json
import os
import subprocess
import tempfile

import pytest
from scapy.all import (IP, TCP, UDP, Ether, ICMPv6ND_RA, ICMPv6NDOptRDNSS, IPv6,
                       IPv6ExtHdrRouting, Raw, wrpcap)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CTL = os.environ.get("XDPATHCTL", os.path.join(ROOT, "build", "bin", "xdpathctl"))

E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=30)


def pcap_of(frames):
    fd, path = tempfile.mkstemp(suffix=".pcap", prefix="xdpath-filter-")
    os.close(fd)
    wrpcap(path, frames)
    return path


@pytest.fixture
def tmp_pcaps():
    made = []
    yield made
    for p in made:
        os.unlink(p)


def matching(expr, frames, tmp_pcaps):
    path = pcap_of(frames)
    tmp_pcaps.append(path)
    r = ctl("-o", "json", "filter", "test", expr, "--pcap", path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["packets"] == len(frames)
    return out["matching"]


def syn(mss=None, **kw):
    opts = [("MSS", mss)] if mss is not None else []
    return E / IP(src="10.0.0.1", dst="10.0.0.2", **kw) / TCP(sport=1234, dport=80, flags="S",
                                                              options=opts)


CASES = [
    # (rule, malicious frames, well-formed twins)
    ("tcp.flags.syn and tcp.opt.mss in 1..500",
     [syn(48), syn(1), syn(500)], [syn(1460), syn(501), syn(None)]),
    ("ip.ihl < 5",
     [E / IP(src="10.0.0.1", dst="10.0.0.2", ihl=4) / Raw(b"x" * 40)],
     [E / IP(src="10.0.0.1", dst="10.0.0.2") / Raw(b"x" * 40)]),
    ("ip.tot_len > l3.len",
     [E / IP(src="10.0.0.1", dst="10.0.0.2", len=200) / UDP() / Raw(b"x" * 20)],
     [E / IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / Raw(b"x" * 20)]),
    ("ip6.nexthdr == 43 and ip6.rh.type == 0",
     [E / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrRouting(type=0, addresses=["fd00::3"]) /
      UDP()],
     [E / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrRouting(type=2, addresses=["fd00::3"]) /
      UDP(), E / IPv6(src="fd00::1", dst="fd00::2") / UDP()]),
    ("tcp.opt.malformed",
     [E / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dataofs=6, options=[]) / Raw(b"\x08\x00\x00\x00")],
     [E / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(options=[("MSS", 1460)])]),
    ("icmp6.type == ra and icmp6.nd.rdnss_bad",
     [E / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA() /
      ICMPv6NDOptRDNSS(len=4, dns=["fd00::53"] * 1 + ["fd00::54"])],
     [E / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA() / ICMPv6NDOptRDNSS(dns=["fd00::53"])]),
    ("ip.src in 10.0.0.0/8 and not tcp.dport in {22, 443}",
     [syn(1460)], [E / IP(src="192.168.0.1", dst="10.0.0.2") / TCP(dport=80),
                   E / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=22)]),
]


@pytest.mark.parametrize("rule,bad,good", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_exactly_the_malicious_frames(rule, bad, good, tmp_pcaps):
    frames = bad + good
    assert matching(rule, frames, tmp_pcaps) == list(range(1, len(bad) + 1))


def test_check_prints_the_compiled_tests():
    r = ctl("filter", "check", "tcp.dport in {80, 443} and ip.src in 10.0.0.0/8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: 2 alternatives")
    assert "tcp.dport" in r.stdout and "ip.src" in r.stdout


@pytest.mark.parametrize("rule,col,msg", [
    ("tcp.dport == 70000", 14, "70000 is out of range for tcp.dport"),
    ("tcp.dprot == 80", 1, "unknown field 'tcp.dprot'"),
    ("ip.src == 10.0.0.300", 11, "expected an IPv4 address"),
    ("(tcp and udp", 13, "expected ')'"),
    ("tcp.dport", 10, "tcp.dport is a number"),
])
def test_check_names_the_position_of_an_error(rule, col, msg):
    r = ctl("filter", "check", rule)
    assert r.returncode == 2
    assert f"column {col}: " in r.stderr and msg in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    # the caret sits under the column
    assert lines[-1].index("^") == lines[-2].index(rule) + col - 1, r.stderr


def test_test_rejects_a_non_pcap(tmp_pcaps):
    fd, path = tempfile.mkstemp(prefix="xdpath-filter-")
    os.write(fd, b"not a capture at all, definitely")
    os.close(fd)
    tmp_pcaps.append(path)
    r = ctl("filter", "test", "tcp", "--pcap", path)
    assert r.returncode == 1 and "not a pcap file" in r.stderr


def test_fields_lists_the_language():
    r = ctl("-o", "json", "filter", "fields")
    assert r.returncode == 0
    names = {f["name"] for f in json.loads(r.stdout)}
    assert {"tcp.opt.mss", "ip.ihl", "ip6.rh.type", "icmp6.nd.rdnss_bad", "frag"} <= names
