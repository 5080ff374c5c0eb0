"""xdpathctl filter catalog, offline: every entry of the patch catalog
against its frames.

For each entry listed by `xdpathctl -o json filter catalog`, the malicious
frame and its well-formed twin from filter_frames.py go into a classic pcap
and `xdpathctl filter test RULE --pcap` must match the first and only the
first (the userspace summarizer and evaluator, the datapath's reference).
An entry without frames fails, so a new entry comes with its test. Also the
command itself (list, one entry by id or alias, unknown ids) and
docs/filter-catalog.md being what scripts/gen-filter-catalog-doc.py makes
of the binary's catalog."""
import json
import os
import struct
import subprocess

import pytest

from filter_frames import frames

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CTL = os.environ.get("XDPATHCTL", os.path.join(ROOT, "build", "bin", "xdpathctl"))
GEN_DOC = os.path.join(ROOT, "scripts", "gen-filter-catalog-doc.py")
DOC = os.path.join(ROOT, "docs", "filter-catalog.md")
FIELDS = {"id", "aliases", "title", "rule", "action", "scope", "sanity", "source", "risk"}


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=30)


def load_catalog():
    """The catalog as the binary lists it; [] when it cannot (then
    test_catalog_lists_every_field fails and says why)."""
    try:
        r = ctl("-o", "json", "filter", "catalog")
        return json.loads(r.stdout) if r.returncode == 0 else []
    except (OSError, ValueError):
        return []


def write_pcap(path, packets):
    """A classic pcap (microseconds, Ethernet) of the frames' exact bytes:
    no scapy re-dissection that could normalise a lie."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, b in enumerate(packets):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(b), len(b)))
            f.write(b)


CATALOG = load_catalog()
FRAMES = frames()


def test_catalog_lists_every_field():
    r = ctl("-o", "json", "filter", "catalog")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert len(entries) >= 24
    for e in entries:
        assert set(e) == FIELDS, e["id"]
        for k in FIELDS - {"aliases", "sanity"}:
            assert isinstance(e[k], str) and e[k], (e["id"], k)
        assert isinstance(e["aliases"], list) and isinstance(e["sanity"], bool)
        assert e["action"] in {"drop", "count", "pass", "rate-limit"}
    assert sum(e["sanity"] for e in entries) >= 6


def test_every_entry_has_frames():
    ids = {e["id"] for e in CATALOG}
    assert ids, "no catalog"
    assert not ids - set(FRAMES), f"entries without frames in filter_frames.py: {ids - set(FRAMES)}"
    assert not set(FRAMES) - ids, f"frames for no entry: {set(FRAMES) - ids}"


@pytest.mark.parametrize("entry", CATALOG, ids=[e["id"] for e in CATALOG])
def test_rule_matches_the_malicious_frame_not_the_twin(entry, tmp_path):
    if entry["id"] not in FRAMES:
        pytest.fail(f"{entry['id']} has no frames in filter_frames.py")
    bad, twin = FRAMES[entry["id"]]
    assert bad != twin
    path = str(tmp_path / "frames.pcap")
    write_pcap(path, [bad, twin])
    r = ctl("-o", "json", "filter", "test", entry["rule"], "--pcap", path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["packets"] == 2
    assert out["matching"] == [1], (
        f"{entry['id']}: {entry['rule']!r} matched {out['matching']} "
        "(1: the malicious frame, 2: the twin)")


def test_frames_take_addresses():
    f = frames(src_mac="02:aa:00:00:00:01", dst_mac="02:aa:00:00:00:02",
               src4="192.0.2.1", dst4="192.0.2.2", src6="2001:db8::1", dst6="2001:db8::2")
    bad, twin = f["MALF-IPV4-IHL-LT5"]
    assert bad[:12] == bytes.fromhex("02aa00000002" "02aa00000001")
    assert bad[26:34] == bytes([192, 0, 2, 1, 192, 0, 2, 2]) == twin[26:34]
    bad, twin = f["MALF-IPV6-PLEN"]
    assert bad[22:38] == bytes.fromhex("20010db8" + "00" * 11 + "01")


def test_one_entry_by_id_or_alias_in_any_case():
    r = ctl("filter", "catalog", "cve-2019-11478")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert lines["id"].strip() == "CVE-2019-11477"
    assert lines["rule"].strip() == "tcp.flags.syn and tcp.opt.mss in 1..500"
    assert {"aliases", "title", "action", "scope", "sanity", "source", "risk"} <= set(lines)
    r = ctl("-o", "json", "filter", "catalog", "CVE-2019-11477")
    assert r.returncode == 0, r.stderr
    one = json.loads(r.stdout)
    assert one == next(e for e in CATALOG if e["id"] == "CVE-2019-11477")
    assert one["aliases"] == ["CVE-2019-11478", "CVE-2019-11479"]


def test_list_is_a_table_of_every_entry():
    r = ctl("filter", "catalog")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "ACTION", "SCOPE", "SANITY", "TITLE"]
    assert [line.split()[0] for line in lines[1:]] == [e["id"] for e in CATALOG]


def test_unknown_id_fails():
    r = ctl("filter", "catalog", "CVE-1900-0001")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "CVE-1900-0001" in r.stderr


def test_doc_is_up_to_date():
    r = subprocess.run([GEN_DOC, "--ctl", CTL, "--stdout"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    with open(DOC) as f:
        assert f.read() == r.stdout, "docs/filter-catalog.md is out of date: run " \
                                     "scripts/gen-filter-catalog-doc.py"
