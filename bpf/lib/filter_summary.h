/* filter_summary: the packet summary of the emergency filters, in BPF.
 *
 * The twin of filter/summary.c, which owns the meaning of every field
 * (include/xdpath/filter.h); test/unit/test_bpf_filter.c checks the two
 * frame by frame. Same rules: every bound is the frame end, never a length
 * field of the packet; every walk is bounded (options: 40 bytes through
 * bpf_loop over a copy, IPv6 extension headers: 8, ND options: 16).
 *
 * The including program defines the context: XF_CTX (its context type),
 * XF_LOAD(ctx, off, to, len) (bpf_xdp_load_bytes / bpf_skb_load_bytes) and
 * XF_LEN(ctx) (the frame length). The first XF_WIN bytes are copied once
 * into a per-CPU window; reads past it (deep IPv6 chains, ND options) go
 * through XF_LOAD. Walks no rule reads are skipped (struct xf_cfg.need). */
#ifndef XDPATH_BPF_FILTER_SUMMARY_H
#define XDPATH_BPF_FILTER_SUMMARY_H

#include "common.h"
#include "xdpath/filter.h"

#define XF_WIN        256       /* a power of two */
#define XF_WIN_SLACK  64        /* the longest read from the window */
#define XF_CAND_SLOTS 128       /* >= 8 indexed fields x XF_BUCKET_MAX, a power of two */

/* v & mask in the register that then indexes memory: clang may bounds
 * check one copy and index with another, which the verifier cannot see. */
#define XF_MASK(v, mask)                                                        \
	({                                                                      \
		__u64 __v = (v);                                                \
		asm volatile("%[x] &= %[m]" : [x] "+r"(__v) : [m] "i"(mask));   \
		__v;                                                            \
	})

/* Same layout as struct xf_summary (filter/summary.h). */
struct xf_sum {
	__u64 v[XF_FIELD_MAX];
	__u64 present[(XF_FIELD_MAX + 63) / 64];
};

/* The indexed fields as the fast path reads them (lib/filter.h). */
struct xf_keys {
	__u64 v[8];              /* by index i of xf_idx_field(i) */
	__u32 present;           /* bit i: v[i] is there */
};

/* The summary walks' state. In the scratch map, not on the stack: the
 * verifier does not track map contents, so however a walk ended, the
 * states after the summary are one, and what follows is verified once. */
struct xf_walk {
	__u32 pos, end, avail, nh, count;
	__u64 kinds, frag_off;
	__u8 bad, sackperm, sack, ts, tcp, rh_seen, frag_seen, rdnss;
};

struct xf_scratch {
	struct xf_sum s;
	struct xf_walk w;
	struct xf_keys keys;
	__u32 ncand;             /* fast path: references in cand */
	__u32 slow;              /* fast path: a bucket hit needs the summary path */
	struct xf_ref cand[XF_CAND_SLOTS]; /* fast path: the rules of the buckets hit */
	__u8 win[XF_WIN + XF_WIN_SLACK];
	__u8 opt[64];
};

/* Per CPU, per program object (not pinned): a packet's summary does not
 * outlive the program run. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xf_scratch);
} xdp_filter_scratch SEC(".maps");

/* One packet being filtered; also the bpf_loop callbacks' context. */
struct xf_run {
	XF_CTX *ctx;
	struct xf_scratch *sc;
	__u32 len;               /* frame length */
	__u32 wlen;              /* bytes in sc->win */
	__u32 need;              /* XF_NEED_* */
	__u32 at;                /* XF_SCOPE_UPLINK or XF_SCOPE_PODS */
	__u32 ifindex;
	__u32 n;                 /* references in the list being evaluated */
	__u64 idx_fields;        /* struct xf_cfg.idx_fields */
	const struct xf_scan *scan;
	const struct xf_bucket *bucket;
	__u64 now;               /* boot ns, 0 until a rule with an expiry needs it */
	__s32 pass_slot, drop_slot;
	__u32 drop_gen;
	__u8 drop_action;
};

#define XF_SET(r, f, val)                                                       \
	do {                                                                    \
		(r)->sc->s.v[f] = (val);                                        \
		(r)->sc->s.present[(f) / 64] |= 1ULL << ((f) % 64);             \
	} while (0)

__always_inline_fn int xf_has(const struct xf_run *r, __u32 off, __u32 n)
{
	return off <= r->len && r->len - off >= n;
}

/* n (a constant <= XF_WIN_SLACK) bytes at off into dst; -1 past the frame. */
__always_inline_fn int xf_read(struct xf_run *r, __u32 off, void *dst, __u32 n)
{
	if (!xf_has(r, off, n))
		return -1;
	if (off + n <= r->wlen) {
		__builtin_memcpy(dst, &r->sc->win[off & (XF_WIN - 1)], n);
		return 0;
	}
	return XF_LOAD(r->ctx, off, dst, n) ? -1 : 0;
}

/* xf_read() for the walks run by bpf_loop: always through the helper. An
 * offset that indexes the window becomes precise for the verifier, and
 * each step would then be a new state to verify; these walks (IPv6
 * extension headers, ND options) are rare enough to pay the helper call. */
__always_inline_fn int xf_load(struct xf_run *r, __u32 off, void *dst, __u32 n)
{
	if (!xf_has(r, off, n))
		return -1;
	return XF_LOAD(r->ctx, off, dst, n) ? -1 : 0;
}

__always_inline_fn __u64 xf_be16(const __u8 *b)
{
	return (__u64)b[0] << 8 | b[1];
}

__always_inline_fn __u64 xf_be32(const __u8 *b)
{
	return xf_be16(b) << 16 | xf_be16(b + 2);
}

__always_inline_fn __u64 xf_be48(const __u8 *b)
{
	return xf_be16(b) << 32 | xf_be32(b + 2);
}

__always_inline_fn __u64 xf_be64(const __u8 *b)
{
	return xf_be32(b) << 32 | xf_be32(b + 4);
}

/* ---- option walks (IPv4 and TCP) over the copy in sc->opt ----------------
 * Positions count from the first option byte: end = header length - 20,
 * avail = option bytes in the frame (<= 40). One step of filter/summary.c's
 * opt_next() per callback; 1 stops the loop. */

#define OPT_EOL 0
#define OPT_NOP 1

__always_inline_fn int xf_tcp_len_ok(__u8 kind, __u32 olen)
{
	switch (kind) {
	case 2:
		return olen == 4;
	case 3:
		return olen == 3;
	case 4:
		return olen == 2;
	case 8:
		return olen == 10;
	case 5:
		return olen >= 10 && (olen - 2) % 8 == 0;
	default:
		return 1;
	}
}

static long xf_opt_step(__u32 i, void *ctx)
{
	struct xf_run *r = ctx;
	const __u8 *o = r->sc->opt;
	__u32 at = r->sc->w.pos, olen;
	__u8 kind;

	(void)i;
	if (at >= r->sc->w.end)
		return 1;
	if (at >= r->sc->w.avail || at >= 40) {
		r->sc->w.bad = 1;              /* the kind byte is past the frame */
		return 1;
	}
	kind = o[at & 63];
	if (!r->sc->w.tcp)
		r->sc->w.kinds |= 1ULL << (kind & 31);
	if (kind == OPT_EOL) {
		r->sc->w.pos = r->sc->w.end;
		return 1;
	}
	if (kind == OPT_NOP) {
		r->sc->w.pos = at + 1;
		return 0;
	}
	if (at + 1 >= r->sc->w.end || at + 1 >= r->sc->w.avail) {
		r->sc->w.bad = 1;
		return 1;
	}
	olen = o[(at + 1) & 63];
	if (olen < 2 || at + olen > r->sc->w.end || at + olen > r->sc->w.avail) {
		r->sc->w.bad = 1;
		return 1;
	}
	r->sc->w.pos = at + olen;
	if (!r->sc->w.tcp)
		return 0;
	if (!xf_tcp_len_ok(kind, olen)) {
		r->sc->w.bad = 1;              /* Linux parses on past it: so do we */
		return 0;
	}
	if (kind == 2)
		XF_SET(r, XF_TCP_OPT_MSS, xf_be16(&o[(at + 2) & 63]));
	else if (kind == 3)
		XF_SET(r, XF_TCP_OPT_WSCALE, o[(at + 2) & 63]);
	else if (kind == 4)
		r->sc->w.sackperm = 1;
	else if (kind == 5)
		r->sc->w.sack = 1;
	else if (kind == 8)
		r->sc->w.ts = 1;
	return 0;
}

/* Copy the options of the header at hdr (hlen bytes long, > 20) and walk
 * them. */
__always_inline_fn void xf_opts(struct xf_run *r, __u32 hdr, __u32 hlen, int tcp)
{
	__u32 inframe = r->len - hdr, n;

	r->sc->w.pos = 0;
	r->sc->w.end = hlen - 20;
	r->sc->w.kinds = 0;
	r->sc->w.bad = r->sc->w.sackperm = r->sc->w.sack = r->sc->w.ts = 0;
	r->sc->w.tcp = tcp;
	n = (inframe < hlen ? inframe : hlen) - 20;
	r->sc->w.avail = 0;
	if (n >= 1 && n <= 40 && !XF_LOAD(r->ctx, hdr + 20, r->sc->opt, ((n - 1) & 63) + 1))
		r->sc->w.avail = n;
	bpf_loop(41, xf_opt_step, r, 0);
}

/* ---- L4 -------------------------------------------------------------------- */

__always_inline_fn void xf_tcp(struct xf_run *r, __u32 l4, __s64 ip_payload)
{
	__u8 h[20];
	__u32 doff, hlen;
	__s64 pl;

	if (xf_read(r, l4, h, 20))
		return;
	doff = h[12] >> 4;
	hlen = doff * 4;
	XF_SET(r, XF_TCP_SPORT, xf_be16(h));
	XF_SET(r, XF_TCP_DPORT, xf_be16(h + 2));
	XF_SET(r, XF_TCP_SEQ, xf_be32(h + 4));
	XF_SET(r, XF_TCP_ACK, xf_be32(h + 8));
	XF_SET(r, XF_TCP_DOFF, doff);
	XF_SET(r, XF_TCP_HDR_LEN, hlen);
	XF_SET(r, XF_TCP_FLAGS, h[13]);
	XF_SET(r, XF_TCP_WIN, xf_be16(h + 14));
	XF_SET(r, XF_TCP_URGPTR, xf_be16(h + 18));
	if (doff < 5)
		return;
	pl = ip_payload - hlen;
	XF_SET(r, XF_TCP_PAYLOAD_LEN, pl < 0 ? 0 : (__u64)pl);
	if (!(r->need & XF_NEED_TCP_OPTS))
		return;
	r->sc->w.bad = r->sc->w.sackperm = r->sc->w.sack = r->sc->w.ts = 0;
	if (hlen > 20)
		xf_opts(r, l4, hlen, 1);
	XF_SET(r, XF_TCP_OPT_MALFORMED, r->sc->w.bad);
	XF_SET(r, XF_TCP_OPT_SACKPERM, r->sc->w.sackperm);
	XF_SET(r, XF_TCP_OPT_SACK, r->sc->w.sack);
	XF_SET(r, XF_TCP_OPT_TS, r->sc->w.ts);
}

__always_inline_fn void xf_udp(struct xf_run *r, __u32 l4)
{
	__u8 h[8];

	if (xf_read(r, l4, h, 8))
		return;
	XF_SET(r, XF_UDP_SPORT, xf_be16(h));
	XF_SET(r, XF_UDP_DPORT, xf_be16(h + 2));
	XF_SET(r, XF_UDP_LEN, xf_be16(h + 4));
	XF_SET(r, XF_UDP_CSUM, xf_be16(h + 6));
}

#define ND_RS        133
#define ND_REDIRECT  137
#define ND_MAX_OPTS  16

/* The fixed part of RS, RA, NS, NA, Redirect before their options. */
__always_inline_fn __u32 xf_nd_fixed(__u32 type)
{
	switch (type) {
	case 133:
		return 8;
	case 134:
		return 16;
	case 137:
		return 40;
	default:
		return 24;
	}
}

/* One ND option at r->sc->w.pos: (type, length in 8-byte units). Length 0 or
 * past the frame is malformed and ends the walk. */
static long xf_nd_step(__u32 i, void *ctx)
{
	struct xf_run *r = ctx;
	__u32 units;
	__u8 o[2];

	if (i >= ND_MAX_OPTS || r->sc->w.pos >= r->len)
		return 1;
	if (xf_load(r, r->sc->w.pos, o, 2)) {
		r->sc->w.bad = 1;
		return 1;
	}
	units = o[1];
	if (o[0] == 25 && (units < 3 || units % 2 == 0))
		r->sc->w.rdnss = 1;
	if (!units || !xf_has(r, r->sc->w.pos, units * 8)) {
		r->sc->w.bad = 1;
		return 1;
	}
	r->sc->w.pos += units * 8;
	return 0;
}

__always_inline_fn void xf_nd(struct xf_run *r, __u32 l4, __u32 type)
{
	__u32 fixed = xf_nd_fixed(type);

	r->sc->w.pos = l4 + fixed;
	r->sc->w.bad = !xf_has(r, l4, fixed);
	r->sc->w.rdnss = 0;
	if (!r->sc->w.bad)
		bpf_loop(ND_MAX_OPTS, xf_nd_step, r, 0);
	XF_SET(r, XF_ICMP6_ND_MALFORMED, r->sc->w.bad);
	XF_SET(r, XF_ICMP6_ND_RDNSS_BAD, r->sc->w.rdnss);
}

__always_inline_fn void xf_icmp(struct xf_run *r, __u32 l4, int v6)
{
	__u8 h[4];

	if (xf_read(r, l4, h, 4))
		return;
	if (!v6) {
		XF_SET(r, XF_ICMP_TYPE, h[0]);
		XF_SET(r, XF_ICMP_CODE, h[1]);
		return;
	}
	XF_SET(r, XF_ICMP6_TYPE, h[0]);
	XF_SET(r, XF_ICMP6_CODE, h[1]);
	if (h[0] >= ND_RS && h[0] <= ND_REDIRECT && (r->need & XF_NEED_ND_OPTS))
		xf_nd(r, l4, h[0]);
}

__always_inline_fn void xf_l4(struct xf_run *r, int v6, __u32 proto, __u32 l4, __s64 ip_payload)
{
	if (proto == IPPROTO_TCP)
		xf_tcp(r, l4, ip_payload);
	else if (proto == IPPROTO_UDP)
		xf_udp(r, l4);
	else if (!v6 && proto == IPPROTO_ICMP)
		xf_icmp(r, l4, 0);
	else if (v6 && proto == IPPROTO_ICMPV6)
		xf_icmp(r, l4, 1);
}

__always_inline_fn void xf_l4_at(struct xf_run *r, __u32 l4)
{
	XF_SET(r, XF_L4_LEN, r->len - l4);
	XF_SET(r, XF_L4_OFF, l4);
}

/* ---- IPv4 ------------------------------------------------------------------ */

__always_inline_fn void xf_ipv4(struct xf_run *r, __u32 l3)
{
	__u8 h[20];
	__u32 ihl, hlen;
	__u64 fo, off;
	int frag;

	if (xf_read(r, l3, h, 20))
		return;
	ihl = h[0] & 0xf;
	hlen = ihl * 4;
	fo = xf_be16(h + 6);
	off = (fo & 0x1fff) * 8;
	frag = (fo & 0x2000) || off;
	XF_SET(r, XF_IP_VERSION, h[0] >> 4);
	XF_SET(r, XF_IP_IHL, ihl);
	XF_SET(r, XF_IP_HDR_LEN, hlen);
	XF_SET(r, XF_IP_TOS, h[1]);
	XF_SET(r, XF_IP_TOT_LEN, xf_be16(h + 2));
	XF_SET(r, XF_IP_ID, xf_be16(h + 4));
	XF_SET(r, XF_IP_RF, (fo >> 15) & 1);
	XF_SET(r, XF_IP_DF, (fo >> 14) & 1);
	XF_SET(r, XF_IP_MF, (fo >> 13) & 1);
	XF_SET(r, XF_IP_FRAG_OFFSET, off);
	XF_SET(r, XF_IP_TTL, h[8]);
	XF_SET(r, XF_IP_PROTO, h[9]);
	XF_SET(r, XF_IP_SRC, xf_be32(h + 12));
	XF_SET(r, XF_IP_DST, xf_be32(h + 16));
	XF_SET(r, XF_FRAG, frag);
	XF_SET(r, XF_FRAG_FIRST, frag && !off);
	if (ihl < 5)
		return;
	XF_SET(r, XF_IP_OPT_PRESENT, ihl > 5);
	if (ihl > 5 && (r->need & XF_NEED_IP4_OPTS)) {
		xf_opts(r, l3, hlen, 0);
		XF_SET(r, XF_IP_OPT_KINDS, r->sc->w.kinds);
		XF_SET(r, XF_IP_OPT_MALFORMED, r->sc->w.bad);
	}
	if (!xf_has(r, l3, hlen))
		return;
	xf_l4_at(r, l3 + hlen);
	if (off)
		return;
	xf_l4(r, 0, h[9], l3 + hlen, (__s64)xf_be16(h + 2) - hlen);
}

/* ---- IPv6 ------------------------------------------------------------------ */

#define NH_HBH      0
#define NH_ROUTING  43
#define NH_FRAGMENT 44
#define NH_AH       51
#define NH_DSTOPTS  60
#define IP6_MAX_EXT 8

__always_inline_fn int xf_is_ext(__u32 nh)
{
	return nh == NH_HBH || nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_DSTOPTS ||
	       nh == NH_AH;
}

/* One extension header at r->sc->w.pos (next header r->sc->w.nh); 1 ends the walk:
 * not an extension header, more than 8, running past the frame (bad), or
 * a fragment header with an offset (what follows is payload). The routing
 * and fragment headers' fields are read as soon as they are in the frame,
 * even if the header then runs past it. */
static long xf_ext_step(__u32 i, void *ctx)
{
	struct xf_run *r = ctx;
	__u32 cur = r->sc->w.nh, hl;
	__u8 e[4];

	if (!xf_is_ext(cur))
		return 1;
	if (i >= IP6_MAX_EXT) {
		r->sc->w.bad = 1;
		return 1;
	}
	if (!xf_load(r, r->sc->w.pos, e, 4)) {
		if (cur == NH_ROUTING && !r->sc->w.rh_seen) {
			r->sc->w.rh_seen = 1;
			XF_SET(r, XF_IP6_RH_TYPE, e[2]);
		}
		if (cur == NH_FRAGMENT) {
			r->sc->w.frag_seen = 1;
			r->sc->w.frag_off = xf_be16(e + 2) & 0xfff8;
			XF_SET(r, XF_IP6_FRAG_OFFSET, r->sc->w.frag_off);
			XF_SET(r, XF_IP6_FRAG_M, e[3] & 1);
		}
	} else if (xf_load(r, r->sc->w.pos, e, 2)) {
		r->sc->w.bad = 1;
		return 1;
	}
	if (cur == NH_FRAGMENT)
		hl = 8;
	else if (cur == NH_AH)
		hl = ((__u32)e[1] + 2) * 4;
	else
		hl = ((__u32)e[1] + 1) * 8;
	if (!xf_has(r, r->sc->w.pos, hl)) {
		r->sc->w.bad = 1;
		return 1;
	}
	r->sc->w.count++;
	r->sc->w.nh = e[0];
	r->sc->w.pos += hl;
	return cur == NH_FRAGMENT && r->sc->w.frag_off;
}

__always_inline_fn void xf_ipv6(struct xf_run *r, __u32 l3)
{
	__u8 h[40];
	__u32 off;
	__u64 frag_off;
	__s64 plen;

	if (xf_read(r, l3, h, 40))
		return;
	plen = (__s64)xf_be16(h + 4);
	XF_SET(r, XF_IP6_VERSION, h[0] >> 4);
	XF_SET(r, XF_IP6_FLOW, xf_be32(h) & 0xfffff);
	XF_SET(r, XF_IP6_PLEN, plen);
	XF_SET(r, XF_IP6_NEXTHDR, h[6]);
	XF_SET(r, XF_IP6_HLIM, h[7]);
	XF_SET(r, XF_IP6_SRC_HI, xf_be64(h + 8));
	XF_SET(r, XF_IP6_SRC_LO, xf_be64(h + 16));
	XF_SET(r, XF_IP6_DST_HI, xf_be64(h + 24));
	XF_SET(r, XF_IP6_DST_LO, xf_be64(h + 32));
	r->sc->w.nh = h[6];
	r->sc->w.pos = l3 + 40;
	r->sc->w.count = 0;
	r->sc->w.bad = r->sc->w.rh_seen = r->sc->w.frag_seen = 0;
	r->sc->w.frag_off = 0;
	bpf_loop(IP6_MAX_EXT + 1, xf_ext_step, r, 0);
	off = r->sc->w.pos;
	frag_off = r->sc->w.frag_off;
	XF_SET(r, XF_IP6_EXT_COUNT, r->sc->w.count);
	XF_SET(r, XF_IP6_EXT_MALFORMED, r->sc->w.bad);
	XF_SET(r, XF_FRAG, r->sc->w.frag_seen);
	XF_SET(r, XF_FRAG_FIRST, r->sc->w.frag_seen && !frag_off);
	if (r->sc->w.bad)
		return;
	XF_SET(r, XF_IP6_UPPER, r->sc->w.nh);
	xf_l4_at(r, off);
	if (frag_off)
		return;
	xf_l4(r, 1, r->sc->w.nh, off, plen - (__s64)(off - l3 - 40));
}

/* ---- Ethernet -------------------------------------------------------------- */

/* Load the window and summarize the frame into r->sc->s. */
__always_inline_fn void xf_summarize(struct xf_run *r)
{
	struct xf_sum *s = &r->sc->s;
	__u32 tpos = 12, n;
	__u8 h[14], t[4];
	__u64 type;

	s->present[0] = 0;
	s->present[1] = 0;
	n = r->len < XF_WIN ? r->len : XF_WIN;
	r->wlen = 0;
	if (n >= 1 && !XF_LOAD(r->ctx, 0, r->sc->win, ((n - 1) & (XF_WIN - 1)) + 1))
		r->wlen = n;
	XF_SET(r, XF_FRAME_LEN, r->len);
	if (xf_read(r, 0, h, 14))
		return;
	XF_SET(r, XF_ETH_DST, xf_be48(h));
	XF_SET(r, XF_ETH_SRC, xf_be48(h + 6));
	type = xf_be16(h + 12);
	for (int i = 0; i < 2; i++) {
		if (type != ETH_P_8021Q && type != ETH_P_8021AD)
			break;
		if (xf_read(r, tpos + 2, t, 4))
			return;              /* a cut tag hides the EtherType */
		if (i == 0)
			XF_SET(r, XF_VLAN_ID, xf_be16(t) & 0xfff);
		tpos += 4;
		type = xf_be16(t + 2);
	}
	XF_SET(r, XF_ETH_TYPE, type);
	if (type != ETH_P_IP && type != ETH_P_IPV6)
		return;
	XF_SET(r, XF_L3_LEN, r->len - (tpos + 2));
	XF_SET(r, XF_L3_OFF, tpos + 2);
	if (type == ETH_P_IP)
		xf_ipv4(r, tpos + 2);
	else
		xf_ipv6(r, tpos + 2);
}

#endif
