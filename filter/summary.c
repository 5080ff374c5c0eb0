/* summary: an Ethernet frame -> struct xf_summary (see summary.h).
 *
 * One pass, outside in: Ethernet and up to two VLAN tags, IPv4 (options) or
 * IPv6 (extension headers), then TCP (options), UDP, ICMP or ICMPv6 (ND
 * options). Each layer starts only when its bytes are in the frame, and
 * every offset is checked against the frame with has() before a read, so a
 * hostile length can make a field absent or a walk malformed, never an
 * out-of-bounds read. The walks stop where a parser that trusted the packet
 * could loop or over-read: that is exactly what the *_MALFORMED fields
 * report. */
#include "summary.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ETH_P_IPV4    0x0800
#define ETH_P_IPV6    0x86dd
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88a8
#define VLAN_MAX_TAGS 2

#define IP4_MIN_HLEN  20
#define IP6_HLEN      40
#define IP6_MAX_EXT   8     /* more is malformed (filter.h) */

#define TCP_MIN_HLEN  20
#define UDP_HLEN      8
#define ICMP_MIN_LEN  4     /* type, code, checksum */

#define ND_MAX_OPTS   16

enum {
	NH_HBH = 0,
	NH_ICMP = 1,
	NH_TCP = 6,
	NH_UDP = 17,
	NH_ROUTING = 43,
	NH_FRAGMENT = 44,
	NH_AH = 51,
	NH_ICMPV6 = 58,
	NH_DSTOPTS = 60,
};

enum {
	OPT_EOL = 0,
	OPT_NOP = 1,
	TCPOPT_MSS = 2,
	TCPOPT_WSCALE = 3,
	TCPOPT_SACKPERM = 4,
	TCPOPT_SACK = 5,
	TCPOPT_TS = 8,
};

#define ND_RS         133
#define ND_REDIRECT   137
#define ND_OPT_RDNSS  25

struct pkt {
	const unsigned char *p;
	size_t len;
	struct xf_summary *s;
};

/* n bytes at off are in the frame; no overflow whatever off and n are. */
static bool has(const struct pkt *k, size_t off, size_t n)
{
	return off <= k->len && k->len - off >= n;
}

static __u64 be16(const unsigned char *b)
{
	return (__u64)b[0] << 8 | b[1];
}

static __u64 be32(const unsigned char *b)
{
	return be16(b) << 16 | be16(b + 2);
}

static __u64 be48(const unsigned char *b)
{
	return be16(b) << 32 | be32(b + 2);
}

static __u64 be64(const unsigned char *b)
{
	return be32(b) << 32 | be32(b + 4);
}

static void set(struct pkt *k, enum xf_field f, __u64 v)
{
	k->s->v[f] = v;
	k->s->present[f / 64] |= 1ULL << (f % 64);
}

/* A layer starts at off: its offset and its bytes to the frame end go
 * together, so that raw-byte tests (XF_T_BYTES) find the layer wherever its
 * length is known. */
static void set_l3(struct pkt *k, size_t off)
{
	set(k, XF_L3_OFF, off);
	set(k, XF_L3_LEN, k->len - off);
}

static void set_l4(struct pkt *k, size_t off)
{
	set(k, XF_L4_OFF, off);
	set(k, XF_L4_LEN, k->len - off);
}

/* ---- option walks shared by IPv4 and TCP --------------------------------- */

/* One step of an IPv4 or TCP option walk over [*pos, end) of a header whose
 * first avail bytes are in the frame. Both use kind 0 (EOL: nothing after it
 * is an option) and 1 (NOP, one byte); any other kind has a length byte that
 * counts the kind and itself.
 * Returns 1 with *kind, *olen and *pos moved past the option, 0 at the end,
 * or -EINVAL for a malformed option: length < 2 (no progress: the classic
 * infinite loop), running past the header or the frame, or kind in the last
 * byte; *kind is then the kind, or -1 when the kind byte itself is past the
 * frame. A malformed option ends the walk: nothing after it can be located.
 * Every option advances *pos, so a walk takes at most end - *pos steps. */
static int opt_next(const unsigned char *h, unsigned end, size_t avail, unsigned *pos,
		    int *kind, unsigned *olen)
{
	unsigned at = *pos;

	*kind = -1;
	if (at >= end)
		return 0;
	if (at >= avail)
		return -EINVAL;
	*kind = h[at];
	*olen = 1;
	if (*kind == OPT_EOL) {
		*pos = end;
		return 1;
	}
	if (*kind == OPT_NOP) {
		*pos = at + 1;
		return 1;
	}
	if (at + 1 >= end || at + 1 >= avail)
		return -EINVAL;
	*olen = h[at + 1];
	if (*olen < 2 || at + *olen > end || at + *olen > avail)
		return -EINVAL;
	*pos = at + *olen;
	return 1;
}

/* ---- IPv4 ---------------------------------------------------------------- */

/* Options in [20, hlen): the kinds seen (bit kind & 31, EOL and NOP
 * included, and the kind of a malformed option) and whether one was
 * malformed. hlen <= 60: at most 40 steps. */
static void ipv4_opts(struct pkt *k, size_t l3, unsigned hlen)
{
	const unsigned char *h = k->p + l3;
	unsigned pos = IP4_MIN_HLEN, olen;
	__u64 kinds = 0;
	int kind, r, bad = 0;

	while ((r = opt_next(h, hlen, k->len - l3, &pos, &kind, &olen)) != 0) {
		if (kind >= 0)
			kinds |= 1ULL << (kind & 31);
		if (r < 0) {
			bad = 1;
			break;
		}
	}
	set(k, XF_IP_OPT_KINDS, kinds);
	set(k, XF_IP_OPT_MALFORMED, bad);
}

static void parse_l4(struct pkt *k, bool v6, unsigned proto, size_t l4, __s64 ip_payload);

static void parse_ipv4(struct pkt *k, size_t l3)
{
	const unsigned char *h = k->p + l3;
	unsigned ihl, hlen;
	__u64 fo, off;
	bool frag;

	if (!has(k, l3, IP4_MIN_HLEN))
		return;
	ihl = h[0] & 0xf;
	hlen = ihl * 4;
	fo = be16(h + 6);
	off = (fo & 0x1fff) * 8;
	frag = (fo & 0x2000) || off;
	set(k, XF_IP_VERSION, h[0] >> 4);
	set(k, XF_IP_IHL, ihl);
	set(k, XF_IP_HDR_LEN, hlen);
	set(k, XF_IP_TOS, h[1]);
	set(k, XF_IP_TOT_LEN, be16(h + 2));
	set(k, XF_IP_ID, be16(h + 4));
	set(k, XF_IP_RF, (fo >> 15) & 1);
	set(k, XF_IP_DF, (fo >> 14) & 1);
	set(k, XF_IP_MF, (fo >> 13) & 1);
	set(k, XF_IP_FRAG_OFFSET, off);
	set(k, XF_IP_TTL, h[8]);
	set(k, XF_IP_PROTO, h[9]);
	set(k, XF_IP_SRC, be32(h + 12));
	set(k, XF_IP_DST, be32(h + 16));
	set(k, XF_FRAG, frag);
	set(k, XF_FRAG_FIRST, frag && !off);
	/* ihl < 5: the L4 header would start inside the fixed header, and the
	 * options length is negative: neither exists. */
	if (ihl < 5)
		return;
	set(k, XF_IP_OPT_PRESENT, ihl > 5);
	if (ihl > 5)
		ipv4_opts(k, l3, hlen);
	if (!has(k, l3, hlen))
		return;
	set_l4(k, l3 + hlen);
	if (off)
		return;
	parse_l4(k, false, h[9], l3 + hlen, (__s64)be16(h + 2) - hlen);
}

/* ---- IPv6 ---------------------------------------------------------------- */

static bool ipv6_is_ext(unsigned nh)
{
	return nh == NH_HBH || nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_DSTOPTS ||
	       nh == NH_AH;
}

static size_t ipv6_ext_len(unsigned nh, unsigned hdrlen)
{
	if (nh == NH_FRAGMENT)
		return 8;
	if (nh == NH_AH)
		return ((size_t)hdrlen + 2) * 4;
	return ((size_t)hdrlen + 1) * 8;
}

struct ext_walk {
	size_t l4;            /* where the walk stopped: the upper layer */
	unsigned nh;          /* the next header there */
	unsigned count;
	bool bad;
	bool frag;            /* a fragment header was read */
	__u64 frag_off;       /* the last one's offset, bytes */
};

/* Fields of the routing and fragment headers are read as soon as their bytes
 * are in the frame, even when the header then runs past it (malformed), so
 * that a truncated RH0 still shows its type. The first routing header's type
 * is kept (the one a receiver acts on first); the last fragment header's
 * offset is kept, as a non-zero one ends the walk and decides that no L4
 * header follows. */
static void ipv6_ext_fields(struct pkt *k, size_t off, unsigned nh, struct ext_walk *w)
{
	if (!has(k, off, 4))
		return;
	if (nh == NH_ROUTING && !xf_present(k->s, XF_IP6_RH_TYPE))
		set(k, XF_IP6_RH_TYPE, k->p[off + 2]);
	if (nh == NH_FRAGMENT) {
		w->frag = true;
		w->frag_off = be16(k->p + off + 2) & 0xfff8;
		set(k, XF_IP6_FRAG_OFFSET, w->frag_off);
		set(k, XF_IP6_FRAG_M, k->p[off + 3] & 1);
	}
}

/* Walk the extension headers from the end of the fixed header: at most
 * IP6_MAX_EXT, each entirely in the frame. A fragment header with a
 * non-zero offset ends the walk: what follows it is the middle of the
 * fragmented payload, not headers. ESP and unknown next headers end it too
 * (their length is not in a generic place). */
static void ipv6_walk(struct pkt *k, size_t l3, struct ext_walk *w)
{
	size_t off = l3 + IP6_HLEN, hl;
	unsigned nh = k->p[l3 + 6];

	memset(w, 0, sizeof(*w));
	while (ipv6_is_ext(nh)) {
		unsigned cur = nh;

		if (w->count == IP6_MAX_EXT) {
			w->bad = true;
			break;
		}
		ipv6_ext_fields(k, off, cur, w);
		if (!has(k, off, 2)) {
			w->bad = true;
			break;
		}
		hl = ipv6_ext_len(cur, k->p[off + 1]);
		if (!has(k, off, hl)) {
			w->bad = true;
			break;
		}
		w->count++;
		nh = k->p[off];
		off += hl;
		if (cur == NH_FRAGMENT && w->frag_off)
			break;
	}
	w->l4 = off;
	w->nh = nh;
}

static void parse_ipv6(struct pkt *k, size_t l3)
{
	const unsigned char *h = k->p + l3;
	struct ext_walk w;
	__s64 plen;

	if (!has(k, l3, IP6_HLEN))
		return;
	plen = (__s64)be16(h + 4);
	set(k, XF_IP6_VERSION, h[0] >> 4);
	set(k, XF_IP6_FLOW, be32(h) & 0xfffff);
	set(k, XF_IP6_PLEN, plen);
	set(k, XF_IP6_NEXTHDR, h[6]);
	set(k, XF_IP6_HLIM, h[7]);
	set(k, XF_IP6_SRC_HI, be64(h + 8));
	set(k, XF_IP6_SRC_LO, be64(h + 16));
	set(k, XF_IP6_DST_HI, be64(h + 24));
	set(k, XF_IP6_DST_LO, be64(h + 32));
	ipv6_walk(k, l3, &w);
	set(k, XF_IP6_EXT_COUNT, w.count);
	set(k, XF_IP6_EXT_MALFORMED, w.bad);
	set(k, XF_FRAG, w.frag);
	set(k, XF_FRAG_FIRST, w.frag && !w.frag_off);
	if (w.bad)
		return;
	set(k, XF_IP6_UPPER, w.nh);
	set_l4(k, w.l4);
	if (w.frag_off)
		return;
	parse_l4(k, true, w.nh, w.l4, plen - (__s64)(w.l4 - l3 - IP6_HLEN));
}

/* ---- L4 ------------------------------------------------------------------ */

/* Kinds with a fixed length must have it; a SACK carries 1..4 blocks of 8. */
static bool tcp_opt_len_ok(int kind, unsigned olen)
{
	switch (kind) {
	case TCPOPT_MSS:
		return olen == 4;
	case TCPOPT_WSCALE:
		return olen == 3;
	case TCPOPT_SACKPERM:
		return olen == 2;
	case TCPOPT_TS:
		return olen == 10;
	case TCPOPT_SACK:
		return olen >= 10 && (olen - 2) % 8 == 0;
	default:
		return true;
	}
}

/* Options in [20, hlen). A wrong fixed length is malformed but the walk goes
 * on past it, as Linux's tcp_parse_options() does: stopping there would let
 * a bogus option hide an MSS that the receiver still parses. Structural
 * errors (opt_next) stop it. The last MSS / window scale wins, as in Linux. */
static void tcp_opts(struct pkt *k, size_t l4, unsigned hlen)
{
	const unsigned char *h = k->p + l4;
	unsigned pos = TCP_MIN_HLEN, start, olen;
	int kind, r, bad = 0, sackperm = 0, sack = 0, ts = 0;

	for (;;) {
		start = pos;
		r = opt_next(h, hlen, k->len - l4, &pos, &kind, &olen);
		if (!r)
			break;
		if (r < 0) {
			bad = 1;
			break;
		}
		if (!tcp_opt_len_ok(kind, olen)) {
			bad = 1;
			continue;
		}
		if (kind == TCPOPT_MSS)
			set(k, XF_TCP_OPT_MSS, be16(h + start + 2));
		else if (kind == TCPOPT_WSCALE)
			set(k, XF_TCP_OPT_WSCALE, h[start + 2]);
		else if (kind == TCPOPT_SACKPERM)
			sackperm = 1;
		else if (kind == TCPOPT_SACK)
			sack = 1;
		else if (kind == TCPOPT_TS)
			ts = 1;
	}
	set(k, XF_TCP_OPT_MALFORMED, bad);
	set(k, XF_TCP_OPT_SACKPERM, sackperm);
	set(k, XF_TCP_OPT_SACK, sack);
	set(k, XF_TCP_OPT_TS, ts);
}

/* ip_payload: the IP layer's claim of the bytes from the TCP header on
 * (IPv4 tot_len - ihl*4, IPv6 plen - extension headers), possibly a lie. */
static void parse_tcp(struct pkt *k, size_t l4, __s64 ip_payload)
{
	const unsigned char *h = k->p + l4;
	unsigned doff, hlen;
	__s64 pl;

	if (!has(k, l4, TCP_MIN_HLEN))
		return;
	doff = h[12] >> 4;
	hlen = doff * 4;
	set(k, XF_TCP_SPORT, be16(h));
	set(k, XF_TCP_DPORT, be16(h + 2));
	set(k, XF_TCP_SEQ, be32(h + 4));
	set(k, XF_TCP_ACK, be32(h + 8));
	set(k, XF_TCP_DOFF, doff);
	set(k, XF_TCP_HDR_LEN, hlen);
	set(k, XF_TCP_FLAGS, h[13]);
	set(k, XF_TCP_WIN, be16(h + 14));
	set(k, XF_TCP_URGPTR, be16(h + 18));
	/* doff < 5: options and payload would start inside the fixed header. */
	if (doff < 5)
		return;
	pl = ip_payload - hlen;
	set(k, XF_TCP_PAYLOAD_LEN, pl < 0 ? 0 : (__u64)pl);
	tcp_opts(k, l4, hlen);
}

static void parse_udp(struct pkt *k, size_t l4)
{
	const unsigned char *h = k->p + l4;

	if (!has(k, l4, UDP_HLEN))
		return;
	set(k, XF_UDP_SPORT, be16(h));
	set(k, XF_UDP_DPORT, be16(h + 2));
	set(k, XF_UDP_LEN, be16(h + 4));
	set(k, XF_UDP_CSUM, be16(h + 6));
}

static void parse_icmp(struct pkt *k, size_t l4)
{
	if (!has(k, l4, ICMP_MIN_LEN))
		return;
	set(k, XF_ICMP_TYPE, k->p[l4]);
	set(k, XF_ICMP_CODE, k->p[l4 + 1]);
}

/* The fixed part before the options of RS, RA, NS, NA and Redirect. */
static const unsigned char nd_fixed[ND_REDIRECT - ND_RS + 1] = { 8, 16, 24, 24, 40 };

/* ND options to the frame end, each (type, length in units of 8 bytes):
 * length 0 (no progress; RFC 4861 says discard) or past the frame is
 * malformed and ends the walk, as does a message shorter than its fixed
 * part. An RDNSS option of length < 3 or even is the CVE-2020-16898
 * trigger, whatever else is wrong with it. At most ND_MAX_OPTS options. */
static void nd_opts(struct pkt *k, size_t l4, unsigned type)
{
	size_t off = l4 + nd_fixed[type - ND_RS];
	unsigned units;
	int bad = 0, rdnss = 0;

	if (!has(k, l4, nd_fixed[type - ND_RS]))
		bad = 1;
	for (int i = 0; !bad && i < ND_MAX_OPTS && off < k->len; i++) {
		if (!has(k, off, 2)) {
			bad = 1;
			break;
		}
		units = k->p[off + 1];
		if (k->p[off] == ND_OPT_RDNSS && (units < 3 || units % 2 == 0))
			rdnss = 1;
		if (!units || !has(k, off, (size_t)units * 8)) {
			bad = 1;
			break;
		}
		off += (size_t)units * 8;
	}
	set(k, XF_ICMP6_ND_MALFORMED, bad);
	set(k, XF_ICMP6_ND_RDNSS_BAD, rdnss);
}

static void parse_icmp6(struct pkt *k, size_t l4)
{
	unsigned type;

	if (!has(k, l4, ICMP_MIN_LEN))
		return;
	type = k->p[l4];
	set(k, XF_ICMP6_TYPE, type);
	set(k, XF_ICMP6_CODE, k->p[l4 + 1]);
	if (type >= ND_RS && type <= ND_REDIRECT)
		nd_opts(k, l4, type);
}

/* The L4 header at l4 (in the frame or just past it) of protocol proto, in a
 * packet that is not a later fragment. */
static void parse_l4(struct pkt *k, bool v6, unsigned proto, size_t l4, __s64 ip_payload)
{
	if (proto == NH_TCP)
		parse_tcp(k, l4, ip_payload);
	else if (proto == NH_UDP)
		parse_udp(k, l4);
	else if (!v6 && proto == NH_ICMP)
		parse_icmp(k, l4);
	else if (v6 && proto == NH_ICMPV6)
		parse_icmp6(k, l4);
}

/* ---- Ethernet ------------------------------------------------------------ */

void xf_summarize(const unsigned char *frame, size_t len, struct xf_summary *s)
{
	struct pkt k = { .p = frame, .len = len, .s = s };
	size_t tpos = 12;     /* the EtherType being looked at */
	unsigned type;

	memset(s, 0, sizeof(*s));
	set(&k, XF_FRAME_LEN, len);
	if (!has(&k, 0, 14))
		return;
	set(&k, XF_ETH_DST, be48(frame));
	set(&k, XF_ETH_SRC, be48(frame + 6));
	type = be16(frame + tpos);
	for (int i = 0; i < VLAN_MAX_TAGS && (type == ETH_P_8021Q || type == ETH_P_8021AD); i++) {
		/* A cut tag hides the EtherType behind it. */
		if (!has(&k, tpos + 2, 4))
			return;
		if (i == 0)
			set(&k, XF_VLAN_ID, be16(frame + tpos + 2) & 0xfff);
		tpos += 4;
		type = be16(frame + tpos);
	}
	set(&k, XF_ETH_TYPE, type);
	if (type != ETH_P_IPV4 && type != ETH_P_IPV6)
		return;
	set_l3(&k, tpos + 2);
	if (type == ETH_P_IPV4)
		parse_ipv4(&k, tpos + 2);
	else
		parse_ipv6(&k, tpos + 2);
}
