/* catalog: the patch catalog (see catalog.h).
 *
 * Rules follow docs/filters.md's table of catalog mitigations, with these
 * changes: MALF-IPV6-PLEN is split so that its sanity half is exactly
 * ipv6_rcv's check (MALF-IPV6-PLEN-ZERO keeps the jumbogram half), and the
 * sanity rules for UDP and TCP lengths skip fragments (Linux checks those
 * lengths after reassembly, so a first fragment legitimately carries a UDP
 * length beyond its own payload) and leave IPv6's UDP length 0 (jumbogram)
 * alone, as __udp6_lib_rcv does. */
#include "catalog.h"

#include <string.h>
#include <strings.h>

#define BOTH (XF_SCOPE_UPLINK | XF_SCOPE_PODS)

#define SRC_IP_RCV "Linux ip_rcv_core(), net/ipv4/ip_input.c " \
	"(https://github.com/torvalds/linux/blob/master/net/ipv4/ip_input.c)"
#define SRC_TCP_RCV "Linux tcp_v4_rcv(), net/ipv4/tcp_ipv4.c " \
	"(https://github.com/torvalds/linux/blob/master/net/ipv4/tcp_ipv4.c)"
#define SRC_SNORT_IP4 "Snort 3 IPv4 codec, src/codecs/ip/cd_ipv4.cc " \
	"(https://github.com/snort3/snort3/blob/master/src/codecs/ip/cd_ipv4.cc)"
#define SRC_SNORT_TCP "Snort 3 TCP codec, src/codecs/ip/cd_tcp.cc " \
	"(https://github.com/snort3/snort3/blob/master/src/codecs/ip/cd_tcp.cc)"
#define SRC_CERT_RIPPLE20 "CERT/CC VU#257161 recommendations and rules " \
	"(https://github.com/CERTCC/PoC-Exploits/tree/master/vu-257161)"

const struct xf_catalog_entry xf_catalog[] = {
	/* ---- IPv4 header ---- */
	{
		.id = "MALF-IPV4-IHL-LT5",
		.title = "IPv4 header length (IHL) below 5 words",
		.rule = "ip.ihl < 5",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_IP_RCV ": ihl < 5 -> inhdr_error",
		.risk = "None: no IPv4 header is shorter than 20 bytes, and Linux drops these "
			"packets itself.",
		.sanity = true,
	},
	{
		.id = "MALF-IPV4-VERSION",
		.title = "EtherType IPv4 but a version nibble other than 4",
		.rule = "eth.type == 0x800 and ip.version != 4",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_IP_RCV ": version != 4 -> inhdr_error",
		.risk = "None: Linux drops these packets itself.",
		.sanity = true,
	},
	{
		.id = "MALF-IPV4-TOTLEN-LT-HLEN",
		.title = "IPv4 total length shorter than the IPv4 header",
		.rule = "ip.tot_len < ip.hdr_len",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_IP_RCV ": len < ihl * 4 -> inhdr_error",
		.risk = "None: Linux drops these packets itself.",
		.sanity = true,
	},
	{
		.id = "MALF-IPV4-TOTLEN-GT-FRAME",
		.title = "IPv4 total length larger than the frame (truncated packet)",
		.rule = "ip.tot_len > l3.len",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_IP_RCV ": skb->len < len -> INTRUNCATEDPKTS",
		.risk = "None: Linux drops these packets itself. Only this direction is matched: a "
			"frame longer than the total length is Ethernet padding.",
		.sanity = true,
	},
	{
		.id = "MALF-IPV4-OPT-LEN",
		.title = "IPv4 option with a bad length (zero, past the header, kind in the last byte)",
		.rule = "ip.opt.malformed",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_SNORT_IP4 ": 116:4 DECODE_IPV4OPT_BADLEN, 116:5 DECODE_IPV4OPT_TRUNCATED",
		.risk = "None known: such an option cannot be parsed by any receiver.",
	},
	{
		.id = "CVE-2021-24074",
		.title = "Windows TCP/IP RCE through IPv4 source routing (LSRR, SSRR options)",
		.rule = "ip.opt.lsrr or ip.opt.ssrr",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Microsoft, Multiple Security Updates Affecting TCP/IP, 2021-02-09 "
			  "(https://msrc-blog.microsoft.com/2021/02/09/multiple-security-updates-affecting-tcp-ip/); "
			  "workaround: netsh int ipv4 set global sourceroutingbehavior=drop",
		.risk = "Very low: source routing is essentially unused (Linux ignores it by "
			"default); loose-source-routed diagnostics such as traceroute -g stop working.",
	},
	/* ---- IPv4 fragments ---- */
	{
		.id = "MALF-IPV4-FRAGBITS",
		.title = "Impossible IPv4 fragment flags: DF with MF, the reserved bit, DF with an offset",
		.rule = "(ip.df and ip.mf) or ip.rf or (ip.df and ip.frag.offset != 0)",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_SNORT_IP4 ": 116:405 DECODE_BAD_FRAGBITS, 116:448 "
			  "DECODE_IP_RESERVED_FRAG_BIT, 116:430 DECODE_IP4_DF_OFFSET",
		.risk = "Low: test tools and a few broken middleboxes set the reserved bit; "
			"no sender fragments a packet it marked don't-fragment.",
	},
	{
		.id = "CVE-1999-0128",
		.title = "Ping of Death: a fragment ending past the 65,535-byte IPv4 maximum",
		.rule = "ip.frag.offset + ip.tot_len > 65535",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "CERT CA-1996-26, Denial-of-Service Attack via ping "
			  "(https://www.cert.org/advisories/CA-1996-26.html)",
		.risk = "None: no legitimate datagram reassembles past 65,535 bytes; Linux discards "
			"the whole datagram once it is complete.",
	},
	{
		.id = "MALF-TINY-FRAG",
		.title = "Tiny first TCP fragment or TCP fragment at offset 8 (RFC 1858 filter evasion)",
		.rule = "ip.proto == 6 and ((ip.mf and ip.frag.offset == 0 and "
			"ip.tot_len - ip.hdr_len < 20) or ip.frag.offset == 8)",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "RFC 1858, Security Considerations for IP Fragment Filtering "
			  "(https://www.rfc-editor.org/rfc/rfc1858)",
		.risk = "None in practice: RFC 1858 notes that no legitimate sender fragments this "
			"way. Only TCP is looked at.",
	},
	{
		.id = "MALF-ZERO-LEN-FRAG",
		.title = "IPv4 fragment carrying no payload",
		.rule = "frag and ip.tot_len == ip.hdr_len",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_SNORT_IP4 ": 116:459 DECODE_ZERO_LENGTH_FRAG",
		.risk = "None: an empty fragment carries nothing to reassemble.",
	},
	/* ---- IPv6 ---- */
	{
		.id = "MALF-IPV6-FRAG-INCOMPLETE-CHAIN",
		.title = "IPv6 first fragment without the whole header chain (RFC 8200 4.5, RFC 7112)",
		.rule = "ip6.frag.offset == 0 and ip6.frag.m and (ip6.ext.malformed or "
			"not (tcp or udp or icmp6 or ip6.upper == 59))",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Linux 9d9e937b1c8b, ipv6/netfilter: Discard first fragment not including "
			  "all headers (https://lore.kernel.org/netdev/20201111115025.28879-1-geokohma@cisco.com/); "
			  "RFC 8200 section 4.5",
		.risk = "Low: an approximation that also matches first fragments whose upper layer "
			"is not TCP, UDP or ICMPv6 (fragmented ESP, SCTP or GRE over IPv6).",
	},
	{
		.id = "CVE-2021-24086",
		.aliases = "CVE-2021-24094",
		.title = "Windows IPv6 reassembly NULL dereference (blunt form: every IPv6 fragment)",
		.rule = "ip6.frag.offset in 0..65535",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Microsoft, Multiple Security Updates Affecting TCP/IP, 2021-02-09 "
			  "(https://msrc-blog.microsoft.com/2021/02/09/multiple-security-updates-affecting-tcp-ip/); "
			  "PoC https://github.com/0vercl0k/CVE-2021-24086",
		.risk = "High: every fragmented IPv6 packet is dropped, which breaks large UDP over "
			"IPv6 (DNS with EDNS, some VPNs). MALF-IPV6-FRAG-INCOMPLETE-CHAIN removes the "
			"PoC's first fragment at a fraction of the cost.",
	},
	{
		.id = "CVE-2007-2242",
		.title = "IPv6 Routing Header type 0 (RH0), anywhere in the chain",
		.rule = "ip6.rh.type == 0",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "RFC 5095, Deprecation of Type 0 Routing Headers in IPv6 "
			  "(https://www.rfc-editor.org/rfc/rfc5095)",
		.risk = "None: RH0 is deprecated and current stacks ignore it.",
	},
	{
		.id = "CVE-2020-17444",
		.aliases = "MALF-IPV6-EXTHDR-CHAIN",
		.title = "IPv6 extension header past the packet, or more than 8 (picoTCP loop; "
			 "only part of MALF-IPV6-EXTHDR-CHAIN)",
		.rule = "ip6.ext.malformed",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "NVD CVE-2020-17444, picoTCP AMNESIA:33 "
			  "(https://nvd.nist.gov/vuln/detail/CVE-2020-17444)",
		.risk = "Low: a packet with more than 8 extension headers is dropped (none is known "
			"in real traffic). Misplaced and duplicated headers are not checked.",
	},
	{
		.id = "MALF-IPV6-PLEN",
		.title = "IPv6 payload length larger than the frame (truncated packet)",
		.rule = "ip6.plen + 40 > l3.len",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Linux ipv6_rcv core, net/ipv6/ip6_input.c: pkt_len + 40 > skb->len -> "
			  "INTRUNCATEDPKTS (https://github.com/torvalds/linux/blob/master/net/ipv6/ip6_input.c)",
		.risk = "None: Linux drops these packets itself. A jumbogram (payload length 0) "
			"never matches.",
		.sanity = true,
	},
	{
		.id = "MALF-IPV6-PLEN-ZERO",
		.title = "IPv6 payload length 0 without a Hop-by-Hop header (the other half of "
			 "MALF-IPV6-PLEN)",
		.rule = "ip6.plen == 0 and ip6.nexthdr != 0",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "NVD CVE-2020-17441, picoTCP IPv6 payload length not validated "
			  "(https://nvd.nist.gov/vuln/detail/CVE-2020-17441); RFC 2675 (jumbograms)",
		.risk = "None known: only a jumbogram may have payload length 0, and it needs a "
			"Hop-by-Hop header; Linux trims such a packet to its 40-byte header.",
	},
	{
		.id = "CVE-2020-16898",
		.title = "Bad Neighbor: ICMPv6 Router Advertisement with an RDNSS option of even "
			 "length or below 3",
		.rule = "icmp6.type == ra and icmp6.nd.rdnss_bad",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "McAfee ATR analysis and detector "
			  "(https://github.com/advanced-threat-research/CVE-2020-16898); "
			  "RFC 8106 (an RDNSS length is 1 + 2n)",
		.risk = "None: such an RDNSS option is never valid.",
	},
	{
		.id = "CVE-2020-10749",
		.aliases = "CVE-2020-13401",
		.title = "Rogue IPv6 Router Advertisements and Redirects sent by pods",
		.rule = "icmp6.type in {ra, redirect}",
		.action = XF_ACT_DROP,
		.scope = XF_SCOPE_PODS,
		.source = "containernetworking/plugins advisory, Go vulndb "
			  "(https://github.com/golang/vulndb/issues/1915)",
		.risk = "None for ordinary pods, which are never routers; a pod that routes on "
			"purpose (a virtual router) loses its RAs. Never on the uplink: the node's "
			"real routers advertise there.",
	},
	/* ---- TCP ---- */
	{
		.id = "MALF-TCP-DOFF-LT5",
		.title = "TCP data offset below 5 words",
		.rule = "tcp.doff < 5",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_TCP_RCV ": doff < 5 -> bad_packet",
		.risk = "None: Linux drops these segments itself.",
		.sanity = true,
	},
	{
		.id = "MALF-TCP-DOFF-PAST-END",
		.title = "TCP header longer than the segment",
		.rule = "not frag and (tcp.hdr_len + ip.hdr_len > ip.tot_len or tcp.hdr_len > l4.len)",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_TCP_RCV ": pskb_may_pull(skb, doff * 4) fails -> discard",
		.risk = "None: Linux drops these segments itself. Fragments are left to reassembly.",
		.sanity = true,
	},
	{
		.id = "CVE-2020-24337",
		.aliases = "MALF-TCP-OPT-OVERRUN",
		.title = "Malformed TCP option (zero length, past the header, wrong fixed length) or "
			 "window scale over 14",
		.rule = "tcp.opt.malformed or tcp.opt.wscale > 14",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "picoTCP issue 2, tcpopt_len_check never exits on length 0 "
			  "(https://gitlab.com/insane-adding-machines/picotcp/-/issues/2); RFC 1122 4.2.2.5",
		.risk = "Low: a peer announcing a window scale over 14 (Linux clamps it) cannot "
			"connect; well-formed options never match.",
	},
	{
		.id = "CVE-2019-11477",
		.aliases = "CVE-2019-11478,CVE-2019-11479",
		.title = "SACK Panic, SACK Slowness, low-MSS resource use: SYN or SYN-ACK with an "
			 "MSS of 1..500",
		.rule = "tcp.flags.syn and tcp.opt.mss in 1..500",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Netflix NFLX-2019-001 "
			  "(https://github.com/Netflix/security-bulletins/blob/master/advisories/third-party/2019-001.md); "
			  "workaround 1 (holds only while net.ipv4.tcp_mtu_probing = 0)",
		.risk = "Peers that really need an MSS of 500 or less (some tunnels, satellite "
			"links) cannot connect; SYN-ACKs match too, so pods cannot reach such servers.",
	},
	{
		.id = "MALF-TCP-FLAGS",
		.title = "Invalid TCP flags: SYN+FIN, SYN+RST, none, FIN+PSH+URG, FIN/PSH/URG "
			 "without ACK",
		.rule = "tcp.flags has {syn,fin} or tcp.flags has {syn,rst} or "
			"(tcp and not tcp.flags any 0x3f) or tcp.flags has {fin,psh,urg} or "
			"(tcp.flags any {fin,psh,urg} and not tcp.flags.ack)",
		.action = XF_ACT_COUNT,
		.scope = BOTH,
		.source = SRC_SNORT_TCP ": 116:420 SYN_FIN, 116:421 SYN_RST, 116:422 MUST_ACK, "
			  "116:400 XMAS; CERT VU#464113",
		.risk = "Low but real: broken stacks send FIN, PSH or URG without ACK, hence "
			"count-only by default. ECN's SYN+ECE+CWR never matches.",
	},
	{
		.id = "MALF-TCP-URG",
		.title = "TCP urgent pointer past the payload, URG without payload, or a pointer "
			 "without URG",
		.rule = "(tcp.flags.urg and (tcp.payload_len == 0 or tcp.urgptr > tcp.payload_len)) or "
			"(not tcp.flags.urg and tcp.urgptr != 0)",
		.action = XF_ACT_COUNT,
		.scope = BOTH,
		.source = SRC_SNORT_TCP ": 116:419 DECODE_TCP_BAD_URP",
		.risk = "Moderate: some stacks leave a stale urgent pointer without URG, which is "
			"harmless; hence count-only by default.",
	},
	{
		.id = "MALF-L4-PORT0",
		.title = "TCP or UDP port 0",
		.rule = "tcp.sport == 0 or tcp.dport == 0 or udp.sport == 0 or udp.dport == 0",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_SNORT_TCP ": 116:446 DECODE_TCP_PORT_ZERO, 116:447 DECODE_UDP_PORT_ZERO",
		.risk = "Low: UDP source port 0 is legal when no reply is expected, which a few "
			"discovery protocols use.",
	},
	/* ---- UDP ---- */
	{
		.id = "MALF-UDP-LEN",
		.title = "UDP length below 8 or beyond the IP payload",
		.rule = "(ip and udp.len < 8) or (ip6 and udp.len in 1..7) or "
			"(not frag and (udp.len + ip.hdr_len > ip.tot_len or udp.len > l4.len))",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Linux __udp4_lib_rcv(), net/ipv4/udp.c: ulen > skb->len or ulen < 8 -> "
			  "short_packet (https://github.com/torvalds/linux/blob/master/net/ipv4/udp.c)",
		.risk = "None: Linux drops the same packets. A UDP length shorter than the IP "
			"payload (Linux trims it) and IPv6's length 0 (jumbogram) are left alone.",
		.sanity = true,
	},
	{
		.id = "MALF-UDP6-ZERO-CSUM",
		.title = "UDP over IPv6 with checksum 0",
		.rule = "ip6 and udp.csum == 0",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Snort 3 CodecSid enum, 116:406 DECODE_UDP_IPV6_ZERO_CHECKSUM "
			  "(https://github.com/snort3/snort3/blob/master/src/codecs/codec_module.h); RFC 8200 8.1",
		.risk = "UDP tunnels over IPv6 set up with zero checksums (VXLAN or GENEVE with "
			"udp6zerocsumrx, RFC 6935) are dropped: check the overlay first.",
	},
	/* ---- ICMP, tunnels, addresses ---- */
	{
		.id = "CVE-2020-11910",
		.aliases = "CVE-2020-11911",
		.title = "Ripple20 ICMP: Address Mask Reply (the MTU half needs the next-hop MTU)",
		.rule = "icmp.type == 18",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_CERT_RIPPLE20,
		.risk = "None known: Address Mask Replies (RFC 950) are obsolete; ICMP errors, "
			"echo and path MTU discovery are untouched.",
	},
	{
		.id = "CVE-2020-11896",
		.aliases = "CVE-2020-11898,CVE-2020-11900,CVE-2020-10136",
		.title = "IP-in-IP (protocol 4) packets: Ripple20 tunnels, unauthenticated "
			 "decapsulation (blunt form)",
		.rule = "ip.proto == 4 or ip6.upper == 4",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = SRC_CERT_RIPPLE20 "; CERT VU#636397 (https://kb.cert.org/vuls/id/636397)",
		.risk = "High where IP-in-IP is used: Calico in IPIP mode and other IPIP tunnels "
			"between nodes break; allow-list the tunnel peers with a pass rule first.",
	},
	{
		.id = "CVE-2023-1668",
		.title = "IPv4 protocol 0 (Open vSwitch installs a wildcarded datapath flow)",
		.rule = "ip.proto == 0",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "NVD CVE-2023-1668 (https://nvd.nist.gov/vuln/detail/CVE-2023-1668)",
		.risk = "None: protocol 0 is not a transport over IPv4. IPv6 next header 0 "
			"(Hop-by-Hop) is legal and not matched.",
	},
	{
		.id = "CVE-2020-8558",
		.title = "Loopback addresses from the network (route_localnet exposes 127.0.0.1 to "
			 "neighbours)",
		.rule = "ip.src in 127.0.0.0/8 or ip.dst in 127.0.0.0/8 or ip6.dst == ::1",
		.action = XF_ACT_DROP,
		.scope = BOTH,
		.source = "Kubernetes issue 92315, CVE-2020-8558 "
			  "(https://github.com/kubernetes/kubernetes/issues/92315)",
		.risk = "None: loopback addresses never legitimately cross an interface; a pod "
			"that sends them out is misconfigured or spoofing.",
	},
};

const size_t xf_catalog_len = sizeof(xf_catalog) / sizeof(xf_catalog[0]);

/* id equals the n bytes at s, ignoring case. */
static bool id_is(const char *id, const char *s, size_t n)
{
	return strlen(id) == n && !strncasecmp(id, s, n);
}

static bool has_alias(const struct xf_catalog_entry *e, const char *id)
{
	const char *p = e->aliases;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (id_is(id, p, n))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

const struct xf_catalog_entry *xf_catalog_find(const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < xf_catalog_len; i++)
		if (!strcasecmp(xf_catalog[i].id, id) || has_alias(&xf_catalog[i], id))
			return &xf_catalog[i];
	return NULL;
}

const char *xf_catalog_action_name(enum xf_action a)
{
	switch (a) {
	case XF_ACT_DROP: return "drop";
	case XF_ACT_PASS: return "pass";
	case XF_ACT_COUNT: return "count";
	case XF_ACT_RATE: return "rate-limit";
	default: return "?";
	}
}

const char *xf_catalog_scope_name(unsigned scope)
{
	switch (scope & (XF_SCOPE_UPLINK | XF_SCOPE_PODS)) {
	case XF_SCOPE_UPLINK | XF_SCOPE_PODS: return "uplink,pods";
	case XF_SCOPE_UPLINK: return "uplink";
	case XF_SCOPE_PODS: return "pods";
	default: return "none";
	}
}
