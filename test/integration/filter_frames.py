"""Test frames for the patch catalog of the emergency XDP filters.

frames() returns, for every catalog entry (`xdpathctl filter catalog`), a
malicious frame that carries the entry's signature and its well-formed twin:
the closest legal frame, with the same addresses and ports and the one lying
field fixed. Both are whole Ethernet frames (bytes). The addresses are
parameters so that a veth test can address the frames to real namespaces;
the defaults are placeholders.

Scapy recomputes lengths and checksums only for fields left unset, so a lie
is set explicitly (IP(len=1400): the header checksum is then computed over
the lie, so the one field is the only thing wrong), and what scapy would
re-encode (a malformed IPv4 option) is inserted as raw bytes, with the
header checksum redone (ip4_with_options()). The signatures and
the twins follow the shared reference (malformed-packets.md, "Test" lines).
"""
import socket
import struct

from scapy.all import (ICMP, IP, TCP, UDP, Ether, ICMPv6EchoRequest, ICMPv6ND_RA,
                       ICMPv6NDOptPrefixInfo, ICMPv6NDOptRDNSS, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrRouting, PadN, Raw)
from scapy.utils import checksum

ETH_LEN = 14  # the frames carry no VLAN tag: L3 starts here

DEFAULTS = dict(src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02",
                src4="10.200.0.1", dst4="10.200.0.2",
                src6="fd00:200::1", dst6="fd00:200::2", ll6="fe80::1")


def _ip4_csum(frame):
    """frame with its IPv4 header checksum recomputed (over ihl * 4 bytes,
    at least 20, as far as the frame has them)."""
    b = bytearray(frame)
    hlen = max(5, b[ETH_LEN] & 0xF) * 4
    b[ETH_LEN + 10:ETH_LEN + 12] = b"\0\0"
    hdr = bytes(b[ETH_LEN:ETH_LEN + hlen])
    b[ETH_LEN + 10:ETH_LEN + 12] = struct.pack("!H", checksum(hdr))
    return bytes(b)


def ip4_with_options(frame, opts):
    """An IPv4 frame with raw option bytes (a multiple of 4) inserted after
    its 20-byte header: IHL, total length and the header checksum follow.
    Scapy would re-encode a malformed option; raw bytes keep the lie."""
    assert len(opts) % 4 == 0
    b = bytearray(frame[:ETH_LEN + 20] + opts + frame[ETH_LEN + 20:])
    b[ETH_LEN] = 0x40 | (5 + len(opts) // 4)
    tot = struct.unpack("!H", b[ETH_LEN + 2:ETH_LEN + 4])[0] + len(opts)
    b[ETH_LEN + 2:ETH_LEN + 4] = struct.pack("!H", tot)
    return _ip4_csum(bytes(b))


def frames(src_mac=DEFAULTS["src_mac"], dst_mac=DEFAULTS["dst_mac"],
           src4=DEFAULTS["src4"], dst4=DEFAULTS["dst4"],
           src6=DEFAULTS["src6"], dst6=DEFAULTS["dst6"], ll6=DEFAULTS["ll6"]):
    """{catalog id: (malicious bytes, twin bytes)} for every catalog entry.
    ll6 is the link-local source of router messages (RAs)."""
    E = Ether(src=src_mac, dst=dst_mac)

    def v4(**kw):
        return E / IP(src=src4, dst=dst4, **kw)

    def v6(**kw):
        return E / IPv6(src=src6, dst=dst6, **kw)

    def ra(**kw):
        return E / IPv6(src=ll6, dst="ff02::1", hlim=255, **kw)

    def syn(**kw):
        return v4() / TCP(sport=40000, dport=80, flags="S", **kw)

    x8 = Raw(b"x" * 8)
    udp4 = v4() / UDP(sport=40000, dport=53) / x8
    udp6 = v6() / UDP(sport=40000, dport=53) / x8
    tcp_hdr = bytes(IP(src=src4, dst=dst4) / TCP(sport=40000, dport=80, flags="S"))[20:]
    router = socket.inet_aton(dst4)
    # DestOpt header claiming 2048 bytes (hdr ext len 255) with 1232 present.
    long_dstopt = bytes([17, 255]) + b"\x01\x04" + b"\0" * 1228
    first_frag_bad = v6() / IPv6ExtHdrFragment(nh=60, m=1, offset=0, id=0x4242) / Raw(long_dstopt)
    first_frag_good = (v6() / IPv6ExtHdrFragment(nh=17, m=1, offset=0, id=0x4242) /
                       Raw(bytes(UDP(sport=40000, dport=53, len=2000, chksum=0x1234)) +
                           b"y" * 1224))
    p = {
        "MALF-IPV4-IHL-LT5": (v4(ihl=4) / UDP(sport=40000, dport=53) / x8, udp4),
        "MALF-IPV4-VERSION": (v4(version=6) / UDP(sport=40000, dport=53) / x8, udp4),
        "MALF-IPV4-TOTLEN-LT-HLEN": (v4(len=16) / UDP(sport=40000, dport=53) / x8, udp4),
        "MALF-IPV4-TOTLEN-GT-FRAME": (v4(len=1400) / UDP(sport=40000, dport=53) / x8, udp4),
        # RR with length 0 / three NOPs and an EOL.
        "MALF-IPV4-OPT-LEN": (ip4_with_options(bytes(udp4), b"\x07\x00\x00\x00"),
                              ip4_with_options(bytes(udp4), b"\x01\x01\x01\x00")),
        # LSRR through dst4 / the same bytes as a Record Route option.
        "CVE-2021-24074": (ip4_with_options(bytes(udp4), b"\x83\x07\x04" + router + b"\x00"),
                           ip4_with_options(bytes(udp4), b"\x07\x07\x04" + router + b"\x00")),
        "MALF-IPV4-FRAGBITS": (v4(flags="MF+DF") / UDP(sport=40000, dport=53) / x8,
                               v4(flags="DF") / UDP(sport=40000, dport=53) / x8),
        # The last fragment of an echo: ends at 8189 * 8 + 120 > 65535.
        "CVE-1999-0128": (v4(proto=1, frag=8189) / Raw(b"A" * 100),
                          v4(proto=1, frag=8000) / Raw(b"A" * 100)),
        # A first TCP fragment of 8 bytes / of the whole header + 4.
        "MALF-TINY-FRAG": (v4(proto=6, flags="MF", frag=0) / Raw(tcp_hdr[:8]),
                           v4(proto=6, flags="MF", frag=0) / Raw(tcp_hdr + b"y" * 4)),
        "MALF-ZERO-LEN-FRAG": (v4(proto=17, flags="MF", frag=0),
                               v4(proto=17, flags="MF", frag=0) / Raw(b"y" * 16)),
        "MALF-IPV6-FRAG-INCOMPLETE-CHAIN": (first_frag_bad, first_frag_good),
        # Blunt form: any fragment header; the twin is the datagram whole.
        "CVE-2021-24086": (first_frag_bad,
                           v6() / UDP(sport=40000, dport=53) / Raw(b"y" * 1224)),
        "CVE-2007-2242": (v6() / IPv6ExtHdrRouting(type=0, addresses=["fd00:200::9"]) /
                          UDP(sport=40000, dport=53) / x8, udp6),
        # DestOpt with hdr ext len 255 in a short packet / a padded DestOpt.
        "CVE-2020-17444": (v6(nh=60) / Raw(bytes([17, 255]) + b"\x01\x04" + b"\0" * 4 +
                                           bytes(UDP(sport=40000, dport=53)) + b"x" * 8),
                           v6() / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 4)]) /
                           UDP(sport=40000, dport=53) / x8),
        "MALF-IPV6-PLEN": (v6(plen=1000) / UDP(sport=40000, dport=53) / x8, udp6),
        "MALF-IPV6-PLEN-ZERO": (v6(plen=0) / UDP(sport=40000, dport=53) / x8, udp6),
        # RDNSS of length 4 (32 bytes: one address and 8 more) / length 3.
        "CVE-2020-16898": (ra() / ICMPv6ND_RA() /
                           ICMPv6NDOptRDNSS(len=4, dns=["fd00:200::53"]) / Raw(b"\0" * 8),
                           ra() / ICMPv6ND_RA() / ICMPv6NDOptRDNSS(dns=["fd00:200::53"])),
        "CVE-2020-10749": (ra() / ICMPv6ND_RA() / ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::"),
                           ra() / ICMPv6EchoRequest()),
        "MALF-TCP-DOFF-LT5": (syn(dataofs=4), syn()),
        "MALF-TCP-DOFF-PAST-END": (syn(dataofs=15), syn()),  # 20 bytes present
        "CVE-2020-24337": (syn(dataofs=6) / Raw(b"\xfd\x00\x00\x00"),
                           syn(dataofs=6) / Raw(b"\x01\x01\x01\x00")),
        "CVE-2019-11477": (syn(options=[("MSS", 48), ("SAckOK", b"")]),
                           syn(options=[("MSS", 1460), ("SAckOK", b"")])),
        "MALF-TCP-FLAGS": (v4() / TCP(sport=40000, dport=80, flags="SF"), syn()),
        "MALF-TCP-URG": (v4() / TCP(sport=40000, dport=80, flags="PAU", urgptr=1000) /
                         Raw(b"x" * 10),
                         v4() / TCP(sport=40000, dport=80, flags="PAU", urgptr=5) /
                         Raw(b"x" * 10)),
        "MALF-L4-PORT0": (v4() / TCP(sport=40000, dport=0, flags="S"), syn()),
        "MALF-UDP-LEN": (v4() / UDP(sport=40000, dport=53, len=4) / Raw(b"x" * 10),
                         v4() / UDP(sport=40000, dport=53) / Raw(b"x" * 10)),
        "MALF-UDP6-ZERO-CSUM": (v6() / UDP(sport=40000, dport=53, chksum=0) / x8, udp6),
        "CVE-2020-11910": (v4() / ICMP(type=18, id=1, seq=1, addr_mask="255.255.255.0"),
                           v4() / ICMP(type=0, id=1, seq=1) / Raw(b"\xff\xff\xff\0")),
        # An IPv4 fragment inside IP-in-IP / the inner packet alone.
        "CVE-2020-11896": (v4(proto=4) / IP(src=src4, dst=dst4, flags="MF") /
                           UDP(sport=40000, dport=53) / x8, udp4),
        "CVE-2023-1668": (v4(proto=0) / Raw(b"x" * 16), udp4),
        "CVE-2020-8558": (E / IP(src=src4, dst="127.0.0.1") /
                          TCP(sport=40000, dport=10248, flags="S"),
                          E / IP(src=src4, dst=dst4) / TCP(sport=40000, dport=10248, flags="S")),
    }
    return {k: (bytes(bad), bytes(good)) for k, (bad, good) in p.items()}
