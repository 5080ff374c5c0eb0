/* fields: the names, types and meaning of the rule language's fields. */
#include <string.h>

#include "lang.h"

#define U(n, f, b, c, d) { n, XT_UINT, f, b, 0, c, d }
#define B(n, f, d) { n, XT_BOOL, f, 1, 0, NULL, d }
#define BIT(n, f, m, d) { n, XT_BOOL, f, 1, m, NULL, d }
#define P(n, f, d) { n, XT_PROTO, f, 0, 0, NULL, d }

#define PROTOS "icmp=1,igmp=2,ipip=4,tcp=6,udp=17,ipv6=41,rh=43,frag=44,gre=47,esp=50,ah=51," \
	       "icmp6=58,none=59,dstopt=60,sctp=132,hbh=0"

const struct xf_field_info xf_fields[] = {
	P("eth", XF_ETH_TYPE, "an Ethernet frame (always)"),
	P("vlan", XF_VLAN_ID, "a VLAN tag"),
	P("ip", XF_IP_PROTO, "IPv4"),
	P("ip6", XF_IP6_NEXTHDR, "IPv6"),
	P("tcp", XF_TCP_SPORT, "a TCP header (not in a later fragment)"),
	P("udp", XF_UDP_SPORT, "a UDP header"),
	P("icmp", XF_ICMP_TYPE, "an ICMP header"),
	P("icmp6", XF_ICMP6_TYPE, "an ICMPv6 header"),
	U("frame.len", XF_FRAME_LEN, 32, NULL, "bytes in the frame"),
	U("l3.len", XF_L3_LEN, 32, NULL, "bytes from the IP header to the end of the frame"),
	U("l4.len", XF_L4_LEN, 32, NULL, "bytes from the L4 header to the end of the frame"),
	U("eth.type", XF_ETH_TYPE, 16, "ip=0x800,arp=0x806,ip6=0x86dd,vlan=0x8100,qinq=0x88a8",
	  "EtherType (after VLAN tags)"),
	{ "eth.src", XT_MAC, XF_ETH_SRC, 48, 0, NULL, "source MAC" },
	{ "eth.dst", XT_MAC, XF_ETH_DST, 48, 0, NULL, "destination MAC" },
	U("vlan.id", XF_VLAN_ID, 12, NULL, "VLAN id of the first tag"),
	U("ip.version", XF_IP_VERSION, 4, NULL, "IPv4 version nibble"),
	U("ip.ihl", XF_IP_IHL, 4, NULL, "IPv4 header length in 32-bit words"),
	U("ip.hdr_len", XF_IP_HDR_LEN, 8, NULL, "IPv4 header length in bytes (ihl * 4)"),
	U("ip.tos", XF_IP_TOS, 8, NULL, "IPv4 type of service"),
	U("ip.tot_len", XF_IP_TOT_LEN, 16, NULL, "IPv4 total length"),
	U("ip.id", XF_IP_ID, 16, NULL, "IPv4 identification"),
	B("ip.df", XF_IP_DF, "don't fragment"),
	B("ip.mf", XF_IP_MF, "more fragments"),
	B("ip.rf", XF_IP_RF, "the reserved (evil) bit"),
	U("ip.frag.offset", XF_IP_FRAG_OFFSET, 16, NULL, "fragment offset in bytes"),
	U("ip.ttl", XF_IP_TTL, 8, NULL, "time to live"),
	U("ip.proto", XF_IP_PROTO, 8, PROTOS, "IPv4 protocol"),
	{ "ip.src", XT_IP4, XF_IP_SRC, 32, 0, NULL, "IPv4 source address" },
	{ "ip.dst", XT_IP4, XF_IP_DST, 32, 0, NULL, "IPv4 destination address" },
	B("ip.opt", XF_IP_OPT_PRESENT, "the IPv4 header has options"),
	B("ip.opt.malformed", XF_IP_OPT_MALFORMED,
	  "an IPv4 option of length < 2 or running past the header"),
	BIT("ip.opt.lsrr", XF_IP_OPT_KINDS, 1ull << 3, "loose source route option (0x83)"),
	BIT("ip.opt.ssrr", XF_IP_OPT_KINDS, 1ull << 9, "strict source route option (0x89)"),
	BIT("ip.opt.rr", XF_IP_OPT_KINDS, 1ull << 7, "record route option (7)"),
	BIT("ip.opt.ts", XF_IP_OPT_KINDS, 1ull << 4, "timestamp option (0x44)"),
	BIT("ip.opt.ra", XF_IP_OPT_KINDS, 1ull << 20, "router alert option (0x94)"),
	U("ip6.version", XF_IP6_VERSION, 4, NULL, "IPv6 version nibble"),
	U("ip6.plen", XF_IP6_PLEN, 16, NULL, "IPv6 payload length"),
	U("ip6.nexthdr", XF_IP6_NEXTHDR, 8, PROTOS, "the fixed header's next header"),
	U("ip6.hlim", XF_IP6_HLIM, 8, NULL, "hop limit"),
	U("ip6.flow", XF_IP6_FLOW, 20, NULL, "flow label"),
	{ "ip6.src", XT_IP6, XF_IP6_SRC_HI, 128, 0, NULL, "IPv6 source address" },
	{ "ip6.dst", XT_IP6, XF_IP6_DST_HI, 128, 0, NULL, "IPv6 destination address" },
	U("ip6.ext.count", XF_IP6_EXT_COUNT, 8, NULL, "extension headers (up to 8 walked)"),
	B("ip6.ext.malformed", XF_IP6_EXT_MALFORMED,
	  "an extension header past the packet, or more than 8"),
	U("ip6.rh.type", XF_IP6_RH_TYPE, 8, NULL, "routing header type"),
	U("ip6.frag.offset", XF_IP6_FRAG_OFFSET, 16, NULL, "fragment header offset in bytes"),
	B("ip6.frag.m", XF_IP6_FRAG_M, "fragment header M flag"),
	U("ip6.upper", XF_IP6_UPPER, 8, PROTOS, "the next header after the extension headers"),
	B("frag", XF_FRAG, "a fragment (IPv4 MF or offset, IPv6 fragment header)"),
	B("frag.first", XF_FRAG_FIRST, "a fragment with offset 0"),
	U("tcp.sport", XF_TCP_SPORT, 16, NULL, "TCP source port"),
	U("tcp.dport", XF_TCP_DPORT, 16, NULL, "TCP destination port"),
	U("tcp.seq", XF_TCP_SEQ, 32, NULL, "sequence number"),
	U("tcp.ack", XF_TCP_ACK, 32, NULL, "acknowledgment number"),
	U("tcp.doff", XF_TCP_DOFF, 4, NULL, "data offset in 32-bit words"),
	U("tcp.hdr_len", XF_TCP_HDR_LEN, 8, NULL, "TCP header length in bytes"),
	{ "tcp.flags", XT_FLAGS, XF_TCP_FLAGS, 8, 0,
	  "fin=0x01,syn=0x02,rst=0x04,psh=0x08,ack=0x10,urg=0x20,ece=0x40,cwr=0x80",
	  "TCP flags" },
	BIT("tcp.flags.fin", XF_TCP_FLAGS, 0x01, "FIN"),
	BIT("tcp.flags.syn", XF_TCP_FLAGS, 0x02, "SYN"),
	BIT("tcp.flags.rst", XF_TCP_FLAGS, 0x04, "RST"),
	BIT("tcp.flags.psh", XF_TCP_FLAGS, 0x08, "PSH"),
	BIT("tcp.flags.ack", XF_TCP_FLAGS, 0x10, "ACK"),
	BIT("tcp.flags.urg", XF_TCP_FLAGS, 0x20, "URG"),
	BIT("tcp.flags.ece", XF_TCP_FLAGS, 0x40, "ECE"),
	BIT("tcp.flags.cwr", XF_TCP_FLAGS, 0x80, "CWR"),
	U("tcp.win", XF_TCP_WIN, 16, NULL, "window"),
	U("tcp.urgptr", XF_TCP_URGPTR, 16, NULL, "urgent pointer"),
	U("tcp.payload_len", XF_TCP_PAYLOAD_LEN, 16, NULL, "payload bytes per the IP length"),
	U("tcp.opt.mss", XF_TCP_OPT_MSS, 16, NULL, "MSS option value (absent without one)"),
	U("tcp.opt.wscale", XF_TCP_OPT_WSCALE, 8, NULL, "window scale shift"),
	B("tcp.opt.sackperm", XF_TCP_OPT_SACKPERM, "SACK permitted option"),
	B("tcp.opt.sack", XF_TCP_OPT_SACK, "SACK blocks option"),
	B("tcp.opt.ts", XF_TCP_OPT_TS, "timestamps option"),
	B("tcp.opt.malformed", XF_TCP_OPT_MALFORMED,
	  "an option of length < 2, past the header, kind in the last byte, wrong fixed length"),
	U("udp.sport", XF_UDP_SPORT, 16, NULL, "UDP source port"),
	U("udp.dport", XF_UDP_DPORT, 16, NULL, "UDP destination port"),
	U("udp.len", XF_UDP_LEN, 16, NULL, "UDP length"),
	U("udp.csum", XF_UDP_CSUM, 16, NULL, "UDP checksum"),
	U("icmp.type", XF_ICMP_TYPE, 8,
	  "echo_reply=0,unreach=3,redirect=5,echo=8,time_exceeded=11,param_problem=12,"
	  "timestamp=13,mask_request=17,mask_reply=18", "ICMP type"),
	U("icmp.code", XF_ICMP_CODE, 8, NULL, "ICMP code"),
	U("icmp6.type", XF_ICMP6_TYPE, 8,
	  "unreach=1,too_big=2,time_exceeded=3,param_problem=4,echo=128,echo_reply=129,"
	  "rs=133,ra=134,ns=135,na=136,redirect=137", "ICMPv6 type"),
	U("icmp6.code", XF_ICMP6_CODE, 8, NULL, "ICMPv6 code"),
	B("icmp6.nd.malformed", XF_ICMP6_ND_MALFORMED,
	  "an ND option of length 0 or past the packet"),
	B("icmp6.nd.rdnss_bad", XF_ICMP6_ND_RDNSS_BAD,
	  "an RDNSS option with length < 3 or even (CVE-2020-16898)"),
};

const size_t xf_nfields = sizeof(xf_fields) / sizeof(xf_fields[0]);

const struct xf_field_info *xf_field_find(const char *name, size_t len)
{
	for (size_t i = 0; i < xf_nfields; i++)
		if (strlen(xf_fields[i].name) == len && !memcmp(xf_fields[i].name, name, len))
			return &xf_fields[i];
	return NULL;
}
