/* Unit tests for filter/summary.c: the reference packet summary of the
 * emergency XDP filters. Frames are built by hand, byte by byte, so that
 * every length field can lie; each test asserts the exact value and the
 * presence or absence of the fields it is about. Every frame is summarized
 * from a heap copy of exactly its length (NULL when empty), so an over-read
 * shows under valgrind or ASan, and every summary is checked for the
 * invariants of the struct (absent fields are 0, lengths nest). The sweeps
 * at the end cut full frames at every length and feed random frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "summary.h"

/* ---- frame builder ------------------------------------------------------- */

#include "testframe.h"

static void zero(struct fr *f, size_t n)
{
	fill(f, 0, n);
}

static const unsigned char DST[6] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
static const unsigned char SRC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static void eth(struct fr *f, unsigned type)
{
	memset(f, 0, sizeof(*f));
	put(f, DST, 6);
	put(f, SRC, 6);
	put16(f, type);
}

/* IPv4 10.0.0.1 -> 10.0.0.2, tos 0x28, id 0x1234, DF, ttl 64; optlen must be
 * a multiple of 4. tot_len is filled in by finish(). */
static void ip4(struct fr *f, unsigned proto, const unsigned char *opt, size_t optlen)
{
	assert_int_equal(optlen % 4, 0);
	f->l3 = f->n;
	f->v6 = 0;
	put8(f, 0x45 + optlen / 4);
	put8(f, 0x28);
	put16(f, 0);
	put16(f, 0x1234);
	put16(f, 0x4000);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, 0x0a000001);
	put32(f, 0x0a000002);
	if (optlen)
		put(f, opt, optlen);
	f->l4 = f->n;
}

/* IPv6 fd00::1 -> fd00::2, traffic class 0xb8, flow 0x12345, hop limit 64. */
static void ip6(struct fr *f, unsigned nh)
{
	f->l3 = f->n;
	f->v6 = 1;
	put32(f, 0x6b812345);
	put16(f, 0);
	put8(f, nh);
	put8(f, 64);
	put32(f, 0xfd000000);
	zero(f, 11);
	put8(f, 1);
	put32(f, 0xfd000000);
	zero(f, 11);
	put8(f, 2);
	f->l4 = f->n;
}

/* A generic extension header (HBH, DestOpts: units of 8 bytes beyond the
 * first 8), padded with a PadN option. */
static void ext6(struct fr *f, unsigned nh, unsigned units)
{
	size_t bytes = (units + 1) * 8;

	put8(f, nh);
	put8(f, units);
	put8(f, 1);                 /* PadN */
	put8(f, bytes - 4);
	zero(f, bytes - 4);
	f->l4 = f->n;
}

/* A routing header of the given type carrying segs addresses. */
static void rh6(struct fr *f, unsigned nh, unsigned type, unsigned segs)
{
	put8(f, nh);
	put8(f, segs * 2);
	put8(f, type);
	put8(f, segs);
	zero(f, 4 + 16 * segs);
	f->l4 = f->n;
}

static void frag6(struct fr *f, unsigned nh, unsigned off_bytes, unsigned m)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, off_bytes | m);
	put32(f, 0xcafe);
	f->l4 = f->n;
}

/* TCP 40000 -> 80, seq 0x01020304, ack 0x05060708, win 65535, urg 7;
 * optlen must be a multiple of 4. */
static void tcp(struct fr *f, unsigned flags, const unsigned char *opt, size_t optlen)
{
	assert_int_equal(optlen % 4, 0);
	f->l4 = f->n;
	put16(f, 40000);
	put16(f, 80);
	put32(f, 0x01020304);
	put32(f, 0x05060708);
	put8(f, (5 + optlen / 4) << 4);
	put8(f, flags);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 7);
	if (optlen)
		put(f, opt, optlen);
}

static void udp(struct fr *f, unsigned sport, unsigned dport)
{
	f->l4 = f->n;
	put16(f, sport);
	put16(f, dport);
	put16(f, 0);
	put16(f, 0xbeef);
}

static void icmp(struct fr *f, unsigned type, unsigned code)
{
	f->l4 = f->n;
	put8(f, type);
	put8(f, code);
	put16(f, 0);
	put32(f, 0);
}

static void data(struct fr *f, size_t n)
{
	while (n--)
		put8(f, 'x');
}

/* The IP length field from the bytes built so far. */
static void finish(struct fr *f)
{
	if (f->v6)
		set16(f, f->l3 + 4, f->n - f->l3 - 40);
	else
		set16(f, f->l3 + 2, f->n - f->l3);
}

/* ---- summarizing and checking -------------------------------------------- */

/* What must hold for every summary of an n-byte frame. */
static void check_invariants(const struct xf_summary *s, size_t n)
{
	assert_false(xf_present(s, XF_NONE));
	assert_false(xf_present(s, XF_FIELD_MAX));
	assert_false(xf_present(s, -1));
	assert_int_equal(s->present[0] & 1, 0);
	for (int f = XF_FIELD_MAX; f < (int)(sizeof(s->present) * 8); f++)
		assert_int_equal((s->present[f / 64] >> (f % 64)) & 1, 0);
	for (int f = 1; f < XF_FIELD_MAX; f++)
		if (!xf_present(s, f))
			assert_int_equal(s->v[f], 0);
	assert_true(xf_present(s, XF_FRAME_LEN));
	assert_int_equal(s->v[XF_FRAME_LEN], n);
	if (xf_present(s, XF_L3_LEN))
		assert_true(s->v[XF_L3_LEN] <= n);
	if (xf_present(s, XF_L4_LEN)) {
		assert_true(xf_present(s, XF_L3_LEN));
		assert_true(s->v[XF_L4_LEN] <= s->v[XF_L3_LEN]);
	}
	/* A layer's offset goes with its length: together they reach the end. */
	assert_int_equal(xf_present(s, XF_L3_OFF), xf_present(s, XF_L3_LEN));
	assert_int_equal(xf_present(s, XF_L4_OFF), xf_present(s, XF_L4_LEN));
	if (xf_present(s, XF_L3_OFF))
		assert_int_equal(s->v[XF_L3_OFF] + s->v[XF_L3_LEN], n);
	if (xf_present(s, XF_L4_OFF)) {
		assert_int_equal(s->v[XF_L4_OFF] + s->v[XF_L4_LEN], n);
		assert_true(s->v[XF_L4_OFF] >= s->v[XF_L3_OFF] + 20);
	}
	/* L4 fields only with a known L4 start, never in a later fragment. */
	if (xf_present(s, XF_TCP_SPORT) || xf_present(s, XF_UDP_SPORT) ||
	    xf_present(s, XF_ICMP_TYPE) || xf_present(s, XF_ICMP6_TYPE)) {
		assert_true(xf_present(s, XF_L4_LEN));
		assert_true(xf_present(s, XF_FRAG));
		assert_true(!s->v[XF_FRAG] || s->v[XF_FRAG_FIRST]);
	}
}

static void summarize_n(const unsigned char *b, size_t n, struct xf_summary *s)
{
	unsigned char *copy = NULL;

	if (n) {
		copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, b, n);
	}
	memset(s, 0xa5, sizeof(*s));    /* the summarizer must clear it */
	xf_summarize(copy, n, s);
	free(copy);
	check_invariants(s, n);
}

static void summarize(const struct fr *f, struct xf_summary *s)
{
	summarize_n(f->b, f->n, s);
}

/* Field f of the summary `s` in scope is present with value v / absent. */
#define HAS(f, val)                                      \
	do {                                             \
		assert_true(xf_present(&s, f));          \
		assert_int_equal(s.v[f], (val));         \
	} while (0)
#define NO(f) assert_false(xf_present(&s, f))

static void none_in(const struct xf_summary *s, int from, int to)
{
	for (int f = from; f <= to; f++)
		if (xf_present(s, f))
			fail_msg("field %d (range %d..%d) present", f, from, to);
}

#define NO_IP4(s)  none_in(&(s), XF_IP_VERSION, XF_IP_OPT_KINDS)
#define NO_IP6(s)  none_in(&(s), XF_IP6_VERSION, XF_IP6_UPPER)
#define NO_TCP(s)  none_in(&(s), XF_TCP_SPORT, XF_TCP_OPT_MALFORMED)
#define NO_TOPT(s) none_in(&(s), XF_TCP_PAYLOAD_LEN, XF_TCP_OPT_MALFORMED)
#define NO_UDP(s)  none_in(&(s), XF_UDP_SPORT, XF_UDP_CSUM)
#define NO_ICMP(s) none_in(&(s), XF_ICMP_TYPE, XF_ICMP6_ND_RDNSS_BAD)
#define NO_L4(s)   none_in(&(s), XF_TCP_SPORT, XF_ICMP6_ND_RDNSS_BAD)

/* eth / IPv4 (options) / TCP (options) / payload, lengths filled in. */
static void tcp4(struct fr *f, const unsigned char *ipopt, size_t ipoptlen,
		 const unsigned char *topt, size_t toptlen, size_t payload)
{
	eth(f, 0x0800);
	ip4(f, 6, ipopt, ipoptlen);
	tcp(f, 0x02, topt, toptlen);
	data(f, payload);
	finish(f);
}

/* ---- Ethernet and VLAN ---------------------------------------------------- */

static void test_runts(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	summarize_n(NULL, 0, &s);
	HAS(XF_FRAME_LEN, 0);
	none_in(&s, XF_L3_LEN, XF_FIELD_MAX - 1);

	tcp4(&f, NULL, 0, NULL, 0, 0);
	summarize_n(f.b, 13, &s);
	HAS(XF_FRAME_LEN, 13);
	none_in(&s, XF_L3_LEN, XF_FIELD_MAX - 1);

	/* Ethernet only: an IPv4 EtherType with no byte of IPv4. */
	summarize_n(f.b, 14, &s);
	HAS(XF_ETH_TYPE, 0x0800);
	HAS(XF_L3_LEN, 0);
	HAS(XF_L3_OFF, 14);
	NO(XF_L4_LEN);
	NO_IP4(s);
	none_in(&s, XF_FRAG, XF_L3_OFF - 1);
	NO(XF_L4_OFF);

	/* 19 bytes of IPv4: still no IPv4 fields. */
	summarize_n(f.b, 14 + 19, &s);
	HAS(XF_L3_LEN, 19);
	NO_IP4(s);
	NO(XF_FRAG);
}

static void test_eth_non_ip(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0806);
	data(&f, 28);
	summarize(&f, &s);
	HAS(XF_FRAME_LEN, 42);
	HAS(XF_ETH_DST, 0xaabbccddeeffULL);
	HAS(XF_ETH_SRC, 0x021122334455ULL);
	HAS(XF_ETH_TYPE, 0x0806);
	NO(XF_VLAN_ID);
	NO(XF_L3_LEN);
	NO(XF_L4_LEN);
	none_in(&s, XF_IP_VERSION, XF_FIELD_MAX - 1); /* XF_L3_OFF, XF_L4_OFF too */
}

static void test_vlan_single(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x8100);
	put16(&f, 0xe000 | 100);      /* PCP 7, VID 100 */
	put16(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	udp(&f, 1, 2);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_VLAN_ID, 100);
	HAS(XF_ETH_TYPE, 0x0800);
	HAS(XF_L3_LEN, 28);
	HAS(XF_L4_LEN, 8);
	HAS(XF_IP_SRC, 0x0a000001);
	HAS(XF_UDP_DPORT, 2);
}

static void test_vlan_double(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x88a8);
	put16(&f, 4000);
	put16(&f, 0x8100);
	put16(&f, 5);
	put16(&f, 0x86dd);
	ip6(&f, 59);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_VLAN_ID, 4000);        /* the outer (first) tag */
	HAS(XF_ETH_TYPE, 0x86dd);
	HAS(XF_L3_LEN, 40);
	HAS(XF_IP6_VERSION, 6);
	HAS(XF_IP6_UPPER, 59);
	HAS(XF_L4_LEN, 0);
	NO_L4(s);
}

static void test_vlan_three_tags_and_cut(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* Only two tags are walked: the third TPID is the EtherType. */
	eth(&f, 0x8100);
	put16(&f, 1);
	put16(&f, 0x8100);
	put16(&f, 2);
	put16(&f, 0x8100);
	put16(&f, 3);
	put16(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	udp(&f, 1, 2);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_VLAN_ID, 1);
	HAS(XF_ETH_TYPE, 0x8100);
	NO(XF_L3_LEN);
	NO_IP4(s);
	NO_UDP(s);

	/* A tag cut short: the EtherType behind it is unknown. */
	eth(&f, 0x8100);
	put16(&f, 7);
	put8(&f, 0x08);
	summarize(&f, &s);
	HAS(XF_ETH_DST, 0xaabbccddeeffULL);
	NO(XF_ETH_TYPE);
	NO(XF_VLAN_ID);
	NO(XF_L3_LEN);
}

/* ---- IPv4 ----------------------------------------------------------------- */

static void test_ipv4_tcp_fields(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, NULL, 0, 10);
	f.b[14 + 20 + 13] = 0x12;     /* flags: SYN|ACK */
	summarize(&f, &s);
	HAS(XF_FRAME_LEN, 64);
	HAS(XF_L3_LEN, 50);
	HAS(XF_L4_LEN, 30);
	HAS(XF_ETH_TYPE, 0x0800);
	NO(XF_VLAN_ID);
	HAS(XF_IP_VERSION, 4);
	HAS(XF_IP_IHL, 5);
	HAS(XF_IP_HDR_LEN, 20);
	HAS(XF_IP_TOS, 0x28);
	HAS(XF_IP_TOT_LEN, 50);
	HAS(XF_IP_ID, 0x1234);
	HAS(XF_IP_DF, 1);
	HAS(XF_IP_MF, 0);
	HAS(XF_IP_RF, 0);
	HAS(XF_IP_FRAG_OFFSET, 0);
	HAS(XF_IP_TTL, 64);
	HAS(XF_IP_PROTO, 6);
	HAS(XF_IP_SRC, 0x0a000001);
	HAS(XF_IP_DST, 0x0a000002);
	HAS(XF_IP_OPT_PRESENT, 0);
	NO(XF_IP_OPT_MALFORMED);
	NO(XF_IP_OPT_KINDS);
	HAS(XF_FRAG, 0);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_TCP_SPORT, 40000);
	HAS(XF_TCP_DPORT, 80);
	HAS(XF_TCP_SEQ, 0x01020304);
	HAS(XF_TCP_ACK, 0x05060708);
	HAS(XF_TCP_DOFF, 5);
	HAS(XF_TCP_HDR_LEN, 20);
	HAS(XF_TCP_FLAGS, 0x12);
	HAS(XF_TCP_WIN, 65535);
	HAS(XF_TCP_URGPTR, 7);
	HAS(XF_TCP_PAYLOAD_LEN, 10);
	HAS(XF_TCP_OPT_MALFORMED, 0);
	HAS(XF_TCP_OPT_SACKPERM, 0);
	HAS(XF_TCP_OPT_SACK, 0);
	HAS(XF_TCP_OPT_TS, 0);
	NO(XF_TCP_OPT_MSS);
	NO(XF_TCP_OPT_WSCALE);
	NO_IP6(s);
	NO_UDP(s);
	none_in(&s, XF_ICMP_TYPE, XF_ICMP6_ND_RDNSS_BAD);
}

static void test_ipv4_flag_bits(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, NULL, 0, 0);
	set16(&f, 14 + 6, 0xc000);    /* RF + DF, offset 0 */
	summarize(&f, &s);
	HAS(XF_IP_RF, 1);
	HAS(XF_IP_DF, 1);
	HAS(XF_IP_MF, 0);
	HAS(XF_FRAG, 0);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_TCP_SPORT, 40000);

	/* DF with an offset (impossible, MALF-IPV4-FRAGBITS): a later fragment. */
	set16(&f, 14 + 6, 0x4001);
	summarize(&f, &s);
	HAS(XF_IP_DF, 1);
	HAS(XF_IP_FRAG_OFFSET, 8);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 0);
	NO_TCP(s);

	/* The largest offset: 8191 * 8. */
	set16(&f, 14 + 6, 0x3fff);
	summarize(&f, &s);
	HAS(XF_IP_MF, 1);
	HAS(XF_IP_FRAG_OFFSET, 65528);
}

static void test_ipv4_version_not_4(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	udp(&f, 1, 2);
	finish(&f);
	f.b[14] = 0x65;               /* version 6, ihl 5 */
	summarize(&f, &s);
	HAS(XF_ETH_TYPE, 0x0800);
	HAS(XF_IP_VERSION, 6);
	HAS(XF_IP_IHL, 5);
	HAS(XF_UDP_SPORT, 1);
	NO_IP6(s);
}

static void test_ipv4_ihl_lt5(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, NULL, 0, 8);
	f.b[14] = 0x44;
	summarize(&f, &s);
	HAS(XF_IP_VERSION, 4);
	HAS(XF_IP_IHL, 4);
	HAS(XF_IP_HDR_LEN, 16);
	HAS(XF_IP_TOT_LEN, 48);
	HAS(XF_IP_PROTO, 6);
	HAS(XF_IP_DST, 0x0a000002);
	HAS(XF_FRAG, 0);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_L3_LEN, 48);
	NO(XF_L4_LEN);
	NO(XF_IP_OPT_PRESENT);
	NO(XF_IP_OPT_MALFORMED);
	NO(XF_IP_OPT_KINDS);
	NO_L4(s);

	f.b[14] = 0x40;               /* ihl 0 */
	summarize(&f, &s);
	HAS(XF_IP_IHL, 0);
	HAS(XF_IP_HDR_LEN, 0);
	NO(XF_L4_LEN);
	NO(XF_IP_OPT_PRESENT);
	NO_L4(s);
}

static void test_ipv4_opts_good(void **state)
{
	/* NOP NOP RR(len 7, ptr 4) EOL pad pad */
	static const unsigned char opt[] = { 1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, opt, sizeof(opt), NULL, 0, 0);
	summarize(&f, &s);
	HAS(XF_IP_IHL, 8);
	HAS(XF_IP_HDR_LEN, 32);
	HAS(XF_IP_OPT_PRESENT, 1);
	HAS(XF_IP_OPT_MALFORMED, 0);
	HAS(XF_IP_OPT_KINDS, 1u << 0 | 1u << 1 | 1u << 7);
	HAS(XF_L4_LEN, 20);
	HAS(XF_TCP_SPORT, 40000);
	HAS(XF_TCP_PAYLOAD_LEN, 0);
}

static void test_ipv4_opts_source_route_kinds(void **state)
{
	/* LSRR 10.200.0.9, NOP, Timestamp (0x44) with one slot */
	static const unsigned char lsrr_ts[] = { 0x83, 7, 4, 10, 200, 0, 9, 1,
						 0x44, 8, 5, 0, 0, 0, 0, 0 };
	/* SSRR with no address, EOL */
	static const unsigned char ssrr[] = { 0x89, 3, 4, 0 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, lsrr_ts, sizeof(lsrr_ts), NULL, 0, 0);
	summarize(&f, &s);
	HAS(XF_IP_OPT_MALFORMED, 0);
	HAS(XF_IP_OPT_KINDS, 1u << 3 | 1u << 1 | 1u << 4);
	HAS(XF_TCP_DPORT, 80);

	tcp4(&f, ssrr, sizeof(ssrr), NULL, 0, 0);
	summarize(&f, &s);
	HAS(XF_IP_OPT_MALFORMED, 0);
	HAS(XF_IP_OPT_KINDS, 1u << 9 | 1u << 0);
}

static void test_ipv4_opts_malformed(void **state)
{
	static const struct {
		unsigned char opt[4];
		__u64 kinds;
	} c[] = {
		{ { 7, 0, 0, 0 }, 1u << 7 },                 /* zero length */
		{ { 0x44, 1, 0, 0 }, 1u << 4 },              /* length 1 */
		{ { 1, 7, 8, 4 }, 1u << 1 | 1u << 7 },       /* 8 bytes from 21: past the header */
		{ { 1, 1, 1, 0x83 }, 1u << 1 | 1u << 3 },    /* kind in the last byte */
		{ { 0x94, 5, 0, 0 }, 1u << 20 },             /* router alert, len 5 of 4 */
	};
	struct xf_summary s;
	struct fr f;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		tcp4(&f, c[i].opt, 4, NULL, 0, 0);
		summarize(&f, &s);
		HAS(XF_IP_OPT_PRESENT, 1);
		HAS(XF_IP_OPT_MALFORMED, 1);
		HAS(XF_IP_OPT_KINDS, c[i].kinds);
		/* The header length is sound: L4 is still there. */
		HAS(XF_L4_LEN, 20);
		HAS(XF_TCP_SPORT, 40000);
	}
}

static void test_ipv4_opts_past_frame(void **state)
{
	static const unsigned char opt[] = { 0x94, 4, 0, 0 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, opt, sizeof(opt), NULL, 0, 0);
	/* The option's kind and length are there, its body is not. */
	summarize_n(f.b, 14 + 22, &s);
	HAS(XF_IP_HDR_LEN, 24);
	HAS(XF_IP_OPT_MALFORMED, 1);
	HAS(XF_IP_OPT_KINDS, 1u << 20);
	NO(XF_L4_LEN);
	NO_L4(s);

	/* No option byte at all in the frame. */
	summarize_n(f.b, 14 + 20, &s);
	HAS(XF_IP_OPT_PRESENT, 1);
	HAS(XF_IP_OPT_MALFORMED, 1);
	HAS(XF_IP_OPT_KINDS, 0);
	NO(XF_L4_LEN);

	/* Header exactly in the frame, nothing after it. */
	summarize_n(f.b, 14 + 24, &s);
	HAS(XF_IP_OPT_MALFORMED, 0);
	HAS(XF_L4_LEN, 0);
	NO_TCP(s);
}

static void test_ipv4_tot_len_lies(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* tot_len larger than the frame: the frame is the bound, the payload
	 * length is the header's claim. */
	tcp4(&f, NULL, 0, NULL, 0, 10);
	set16(&f, 14 + 2, 1400);
	summarize(&f, &s);
	HAS(XF_IP_TOT_LEN, 1400);
	HAS(XF_L3_LEN, 50);
	HAS(XF_L4_LEN, 30);
	HAS(XF_TCP_SPORT, 40000);
	HAS(XF_TCP_PAYLOAD_LEN, 1360);

	/* tot_len below the header lengths: the payload length clamps at 0. */
	set16(&f, 14 + 2, 16);
	summarize(&f, &s);
	HAS(XF_IP_TOT_LEN, 16);
	HAS(XF_TCP_PAYLOAD_LEN, 0);
	set16(&f, 14 + 2, 0);
	summarize(&f, &s);
	HAS(XF_TCP_PAYLOAD_LEN, 0);

	/* Ethernet padding after a shorter datagram is legal: tot_len wins for
	 * the payload, the frame for the lengths. */
	tcp4(&f, NULL, 0, NULL, 0, 0);
	zero(&f, 6);
	summarize(&f, &s);
	HAS(XF_IP_TOT_LEN, 40);
	HAS(XF_L3_LEN, 46);
	HAS(XF_L4_LEN, 26);
	HAS(XF_TCP_PAYLOAD_LEN, 0);
}

static void test_ipv4_fragments(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	udp(&f, 1111, 53);
	data(&f, 32);
	finish(&f);

	/* First fragment: MF, offset 0; the UDP header is there. */
	set16(&f, 14 + 6, 0x2000);
	summarize(&f, &s);
	HAS(XF_IP_MF, 1);
	HAS(XF_IP_DF, 0);
	HAS(XF_IP_FRAG_OFFSET, 0);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 1);
	HAS(XF_UDP_SPORT, 1111);
	HAS(XF_UDP_DPORT, 53);

	/* A middle fragment at 1480 bytes: its first bytes look like UDP but
	 * are payload. */
	set16(&f, 14 + 6, 0x2000 | 185);
	summarize(&f, &s);
	HAS(XF_IP_FRAG_OFFSET, 1480);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_L4_LEN, 40);
	NO_L4(s);

	/* The last fragment: no MF, an offset. */
	set16(&f, 14 + 6, 185);
	summarize(&f, &s);
	HAS(XF_IP_MF, 0);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 0);
	NO_L4(s);

	/* A later TCP fragment: no TCP field, options fields included. */
	tcp4(&f, NULL, 0, NULL, 0, 0);
	set16(&f, 14 + 6, 1);
	summarize(&f, &s);
	HAS(XF_FRAG, 1);
	NO_TCP(s);
}

/* ---- TCP ------------------------------------------------------------------ */

static void test_tcp_options_good(void **state)
{
	/* MSS 1460, NOP, WS 7, SACK permitted, timestamps */
	static const unsigned char opt[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2,
					     8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, opt, sizeof(opt), 5);
	summarize(&f, &s);
	HAS(XF_TCP_DOFF, 10);
	HAS(XF_TCP_HDR_LEN, 40);
	HAS(XF_TCP_FLAGS, 0x02);
	HAS(XF_TCP_PAYLOAD_LEN, 5);
	HAS(XF_TCP_OPT_MSS, 1460);
	HAS(XF_TCP_OPT_WSCALE, 7);
	HAS(XF_TCP_OPT_SACKPERM, 1);
	HAS(XF_TCP_OPT_TS, 1);
	HAS(XF_TCP_OPT_SACK, 0);
	HAS(XF_TCP_OPT_MALFORMED, 0);
	HAS(XF_L4_LEN, 45);
}

static void test_tcp_options_sack_and_eol(void **state)
{
	static const unsigned char sack1[] = { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
	static const unsigned char sack2[] = { 1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2,
					       0, 0, 0, 3, 0, 0, 0, 4 };
	static const unsigned char sack_bad[] = { 5, 12, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1 };
	static const unsigned char sack_empty[] = { 5, 2, 1, 1 };
	/* MSS, EOL, then what would be a zero-length option: not looked at. */
	static const unsigned char eol[] = { 2, 4, 0x02, 0x00, 0, 7, 0, 0xff };
	/* Two MSS options: the last one wins, as in Linux. */
	static const unsigned char two_mss[] = { 2, 4, 0, 16, 2, 4, 0x05, 0xb4 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, sack1, sizeof(sack1), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_SACK, 1);
	HAS(XF_TCP_OPT_MALFORMED, 0);

	tcp4(&f, NULL, 0, sack2, sizeof(sack2), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_SACK, 1);
	HAS(XF_TCP_OPT_MALFORMED, 0);

	tcp4(&f, NULL, 0, sack_bad, sizeof(sack_bad), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_SACK, 0);
	HAS(XF_TCP_OPT_MALFORMED, 1);

	tcp4(&f, NULL, 0, sack_empty, sizeof(sack_empty), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_SACK, 0);
	HAS(XF_TCP_OPT_MALFORMED, 1);

	tcp4(&f, NULL, 0, eol, sizeof(eol), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MSS, 512);
	HAS(XF_TCP_OPT_MALFORMED, 0);

	tcp4(&f, NULL, 0, two_mss, sizeof(two_mss), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MSS, 1460);
	HAS(XF_TCP_OPT_MALFORMED, 0);
}

static void test_tcp_opt_zero_length(void **state)
{
	/* CVE-2020-24337: an unknown kind of length 0, then a valid MSS that
	 * can no longer be located. */
	static const unsigned char zl[] = { 30, 0, 1, 1, 2, 4, 0x05, 0xb4 };
	static const unsigned char mss0[] = { 2, 0, 0x05, 0xb4 };
	static const unsigned char len1[] = { 1, 1, 8, 1 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, zl, sizeof(zl), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_MSS);
	HAS(XF_TCP_SPORT, 40000);
	HAS(XF_TCP_HDR_LEN, 28);

	tcp4(&f, NULL, 0, mss0, sizeof(mss0), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_MSS);

	tcp4(&f, NULL, 0, len1, sizeof(len1), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	HAS(XF_TCP_OPT_TS, 0);
}

static void test_tcp_opt_overrun(void **state)
{
	/* An MSS starting 2 bytes before the header end. */
	static const unsigned char past_hdr[] = { 1, 1, 2, 4 };
	/* A timestamp claiming 40 bytes in a 4-byte option area. */
	static const unsigned char big[] = { 8, 40, 0, 0 };
	/* Kind in the last byte: no length byte. */
	static const unsigned char last[] = { 1, 1, 1, 2 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, past_hdr, sizeof(past_hdr), 4);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_MSS);
	HAS(XF_TCP_PAYLOAD_LEN, 4);

	tcp4(&f, NULL, 0, big, sizeof(big), 40);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	HAS(XF_TCP_OPT_TS, 0);

	tcp4(&f, NULL, 0, last, sizeof(last), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_MSS);
}

static void test_tcp_opt_wrong_fixed_length(void **state)
{
	/* MSS of length 3 (malformed), then a sound window scale: the walk
	 * goes on past a wrong fixed length, as Linux's does. */
	static const unsigned char mss3[] = { 2, 3, 0x05, 3, 3, 7, 0, 0 };
	static const unsigned char ws4[] = { 3, 4, 7, 0 };
	static const unsigned char sp3[] = { 4, 3, 0, 0 };
	static const unsigned char ts8[] = { 8, 8, 0, 0, 0, 0, 0, 0 };
	/* A wrong-length option cannot hide an MSS behind it. */
	static const unsigned char hide[] = { 4, 4, 0, 0, 2, 4, 0, 48 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, mss3, sizeof(mss3), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_MSS);
	HAS(XF_TCP_OPT_WSCALE, 7);

	tcp4(&f, NULL, 0, ws4, sizeof(ws4), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_WSCALE);

	tcp4(&f, NULL, 0, sp3, sizeof(sp3), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	HAS(XF_TCP_OPT_SACKPERM, 0);

	tcp4(&f, NULL, 0, ts8, sizeof(ts8), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	HAS(XF_TCP_OPT_TS, 0);

	tcp4(&f, NULL, 0, hide, sizeof(hide), 0);
	summarize(&f, &s);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	HAS(XF_TCP_OPT_SACKPERM, 0);
	HAS(XF_TCP_OPT_MSS, 48);
}

static void test_tcp_doff_lt5(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, NULL, 0, NULL, 0, 8);
	f.b[14 + 20 + 12] = 0x40;
	summarize(&f, &s);
	HAS(XF_TCP_SPORT, 40000);
	HAS(XF_TCP_DOFF, 4);
	HAS(XF_TCP_HDR_LEN, 16);
	HAS(XF_TCP_FLAGS, 0x02);
	HAS(XF_TCP_URGPTR, 7);
	NO_TOPT(s);

	f.b[14 + 20 + 12] = 0x00;
	summarize(&f, &s);
	HAS(XF_TCP_DOFF, 0);
	NO_TOPT(s);
}

static void test_tcp_doff_past_frame(void **state)
{
	static const unsigned char nops[] = { 1, 1, 1, 1 };
	static const unsigned char mss[] = { 2, 4, 0x05, 0xb4 };
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* doff 15 (60 bytes) with 24 bytes of TCP in the frame. */
	tcp4(&f, NULL, 0, nops, sizeof(nops), 0);
	f.b[14 + 20 + 12] = 0xf0;
	summarize(&f, &s);
	HAS(XF_TCP_DOFF, 15);
	HAS(XF_TCP_HDR_LEN, 60);
	HAS(XF_L4_LEN, 24);
	HAS(XF_TCP_PAYLOAD_LEN, 0);   /* 44 - 20 - 60, clamped */
	HAS(XF_TCP_OPT_MALFORMED, 1);

	/* doff 6 and an MSS whose value is cut by the frame end. */
	tcp4(&f, NULL, 0, mss, sizeof(mss), 0);
	summarize_n(f.b, f.n - 2, &s);
	HAS(XF_TCP_HDR_LEN, 24);
	HAS(XF_L4_LEN, 22);
	HAS(XF_TCP_OPT_MALFORMED, 1);
	NO(XF_TCP_OPT_MSS);

	/* 19 bytes of TCP: no TCP field at all. */
	summarize_n(f.b, 14 + 20 + 19, &s);
	HAS(XF_L4_LEN, 19);
	NO_TCP(s);
}

/* ---- UDP, ICMP ------------------------------------------------------------ */

static void test_udp(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	udp(&f, 5353, 53);
	data(&f, 12);
	finish(&f);
	set16(&f, f.l4 + 4, 20);
	summarize(&f, &s);
	HAS(XF_IP_PROTO, 17);
	HAS(XF_UDP_SPORT, 5353);
	HAS(XF_UDP_DPORT, 53);
	HAS(XF_UDP_LEN, 20);
	HAS(XF_UDP_CSUM, 0xbeef);
	HAS(XF_L4_LEN, 20);
	NO_TCP(s);
	NO_ICMP(s);

	/* A UDP length lie is reported as is. */
	set16(&f, f.l4 + 4, 4);
	summarize(&f, &s);
	HAS(XF_UDP_LEN, 4);

	summarize_n(f.b, f.l4 + 7, &s);
	HAS(XF_L4_LEN, 7);
	NO_UDP(s);
}

static void test_icmp(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0800);
	ip4(&f, 1, NULL, 0);
	icmp(&f, 3, 4);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP_TYPE, 3);
	HAS(XF_ICMP_CODE, 4);
	none_in(&s, XF_ICMP6_TYPE, XF_ICMP6_ND_RDNSS_BAD);
	NO_TCP(s);

	summarize_n(f.b, f.l4 + 3, &s);
	NO_ICMP(s);

	/* ICMPv6 is not an IPv4 protocol: nothing. */
	eth(&f, 0x0800);
	ip4(&f, 58, NULL, 0);
	icmp(&f, 134, 0);
	zero(&f, 8);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_L4_LEN, 16);
	NO_ICMP(s);
}

/* ---- IPv6 ----------------------------------------------------------------- */

static void test_ipv6_tcp_fields(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 0x10, NULL, 0);
	data(&f, 8);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ETH_TYPE, 0x86dd);
	HAS(XF_L3_LEN, 68);
	HAS(XF_L4_LEN, 28);
	HAS(XF_IP6_VERSION, 6);
	HAS(XF_IP6_FLOW, 0x12345);
	HAS(XF_IP6_PLEN, 28);
	HAS(XF_IP6_NEXTHDR, 6);
	HAS(XF_IP6_HLIM, 64);
	HAS(XF_IP6_SRC_HI, 0xfd00000000000000ULL);
	HAS(XF_IP6_SRC_LO, 1);
	HAS(XF_IP6_DST_HI, 0xfd00000000000000ULL);
	HAS(XF_IP6_DST_LO, 2);
	HAS(XF_IP6_EXT_COUNT, 0);
	HAS(XF_IP6_EXT_MALFORMED, 0);
	HAS(XF_IP6_UPPER, 6);
	NO(XF_IP6_RH_TYPE);
	NO(XF_IP6_FRAG_OFFSET);
	NO(XF_IP6_FRAG_M);
	HAS(XF_FRAG, 0);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_TCP_FLAGS, 0x10);
	HAS(XF_TCP_PAYLOAD_LEN, 8);
	HAS(XF_TCP_OPT_MALFORMED, 0);
	NO_IP4(s);

	/* Fewer than 40 bytes of IPv6. */
	summarize_n(f.b, 14 + 39, &s);
	HAS(XF_L3_LEN, 39);
	NO_IP6(s);
	NO(XF_FRAG);
	NO(XF_L4_LEN);
}

static void test_ipv6_hbh_rh0_frag(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 43, 0);              /* HBH, 8 bytes */
	rh6(&f, 44, 0, 1);            /* RH type 0, 24 bytes */
	frag6(&f, 17, 0, 1);          /* first fragment */
	udp(&f, 1, 53);
	data(&f, 8);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_NEXTHDR, 0);
	HAS(XF_IP6_EXT_COUNT, 3);
	HAS(XF_IP6_EXT_MALFORMED, 0);
	HAS(XF_IP6_RH_TYPE, 0);
	HAS(XF_IP6_FRAG_OFFSET, 0);
	HAS(XF_IP6_FRAG_M, 1);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 1);
	HAS(XF_IP6_UPPER, 17);
	HAS(XF_L4_LEN, 16);
	HAS(XF_UDP_DPORT, 53);

	/* The same chain with a routing header of type 2 and an atomic
	 * fragment (offset 0, M 0): still a first fragment. */
	eth(&f, 0x86dd);
	ip6(&f, 43);
	rh6(&f, 44, 2, 1);
	frag6(&f, 6, 0, 0);
	tcp(&f, 0x02, NULL, 0);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_RH_TYPE, 2);
	HAS(XF_IP6_FRAG_M, 0);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 1);
	HAS(XF_IP6_EXT_COUNT, 2);
	HAS(XF_TCP_PAYLOAD_LEN, 0);
}

static void test_ipv6_repeated_headers(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* Two routing headers: the first one's type (the one acted on first). */
	eth(&f, 0x86dd);
	ip6(&f, 43);
	rh6(&f, 43, 0, 1);
	rh6(&f, 17, 2, 1);
	udp(&f, 1, 2);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_RH_TYPE, 0);
	HAS(XF_IP6_EXT_COUNT, 2);
	HAS(XF_IP6_UPPER, 17);
	HAS(XF_UDP_SPORT, 1);

	/* Nested fragment headers (CVE-2021-24086): the inner one at offset 8
	 * ends the walk, and what follows it is not L4. */
	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 44, 0, 1);
	frag6(&f, 17, 8, 1);
	udp(&f, 1, 2);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 2);
	HAS(XF_IP6_FRAG_OFFSET, 8);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_IP6_UPPER, 17);
	NO_L4(s);
}

static void test_ipv6_later_fragment(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 6, 1232, 1);
	tcp(&f, 0x02, NULL, 0);       /* bytes that look like TCP */
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_FRAG_OFFSET, 1232);
	HAS(XF_IP6_FRAG_M, 1);
	HAS(XF_FRAG, 1);
	HAS(XF_FRAG_FIRST, 0);
	HAS(XF_IP6_UPPER, 6);
	HAS(XF_IP6_EXT_COUNT, 1);
	HAS(XF_L4_LEN, 20);
	NO_L4(s);

	/* After a later fragment's header comes payload, not headers: a
	 * next header of HBH is not walked into one stray byte. */
	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 0, 8, 0);
	put8(&f, 0xff);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 1);
	HAS(XF_IP6_EXT_MALFORMED, 0);
	HAS(XF_IP6_UPPER, 0);
	HAS(XF_IP6_FRAG_OFFSET, 8);
	HAS(XF_FRAG_FIRST, 0);
}

static void test_ipv6_ext_past_frame(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* An HBH claiming 88 bytes with 16 in the frame. */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	put8(&f, 17);
	put8(&f, 10);
	zero(&f, 14);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 0);
	HAS(XF_IP6_EXT_MALFORMED, 1);
	HAS(XF_FRAG, 0);
	NO(XF_IP6_UPPER);
	NO(XF_L4_LEN);
	HAS(XF_L3_LEN, 56);
	NO_L4(s);

	/* A good HBH, then one byte of a destination options header. */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 60, 0);
	put8(&f, 17);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 1);
	HAS(XF_IP6_EXT_MALFORMED, 1);
	NO(XF_IP6_UPPER);

	/* A routing header cut after 4 bytes still shows its type. */
	eth(&f, 0x86dd);
	ip6(&f, 43);
	put8(&f, 17);
	put8(&f, 2);
	put8(&f, 0);
	put8(&f, 1);
	summarize(&f, &s);
	HAS(XF_IP6_RH_TYPE, 0);
	HAS(XF_IP6_EXT_MALFORMED, 1);
	HAS(XF_IP6_EXT_COUNT, 0);
	summarize_n(f.b, f.n - 1, &s);
	NO(XF_IP6_RH_TYPE);
	HAS(XF_IP6_EXT_MALFORMED, 1);

	/* An AH whose (len + 2) * 4 runs past the frame. */
	eth(&f, 0x86dd);
	ip6(&f, 51);
	put8(&f, 6);
	put8(&f, 4);                  /* 24 bytes */
	zero(&f, 14);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_MALFORMED, 1);
	NO_TCP(s);
}

static void test_ipv6_ext_count_limit(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* Eight destination options headers: the most that is walked. */
	eth(&f, 0x86dd);
	ip6(&f, 60);
	for (int i = 0; i < 7; i++)
		ext6(&f, 60, 0);
	ext6(&f, 17, 0);
	udp(&f, 7, 9);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 8);
	HAS(XF_IP6_EXT_MALFORMED, 0);
	HAS(XF_IP6_UPPER, 17);
	HAS(XF_UDP_DPORT, 9);

	/* Nine: malformed, the walk stops at eight. */
	eth(&f, 0x86dd);
	ip6(&f, 60);
	for (int i = 0; i < 8; i++)
		ext6(&f, 60, 0);
	ext6(&f, 17, 0);
	udp(&f, 7, 9);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 8);
	HAS(XF_IP6_EXT_MALFORMED, 1);
	NO(XF_IP6_UPPER);
	NO(XF_L4_LEN);
	NO_L4(s);
}

static void test_ipv6_ah(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x86dd);
	ip6(&f, 51);
	put8(&f, 6);
	put8(&f, 4);                  /* (4 + 2) * 4 = 24 bytes */
	zero(&f, 22);
	tcp(&f, 0x02, NULL, 0);
	data(&f, 3);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 1);
	HAS(XF_IP6_UPPER, 6);
	HAS(XF_L4_LEN, 23);
	HAS(XF_TCP_SPORT, 40000);
	HAS(XF_TCP_PAYLOAD_LEN, 3);   /* plen 47 - 24 - 20 */
}

/* ---- ICMPv6 and ND -------------------------------------------------------- */

/* eth / IPv6 / ICMPv6 router advertisement (16 bytes) with options. */
static void ra(struct fr *f)
{
	eth(f, 0x86dd);
	ip6(f, 58);
	f->l4 = f->n;
	put8(f, 134);
	put8(f, 0);
	put16(f, 0);
	put8(f, 64);
	put8(f, 0);
	put16(f, 1800);
	zero(f, 8);
}

static void nd_opt(struct fr *f, unsigned type, unsigned units)
{
	put8(f, type);
	put8(f, units);
	zero(f, units ? units * 8 - 2 : 6);
}

static void test_icmp6_ra_rdnss(void **state)
{
	static const struct {
		unsigned units;
		int bad;
	} c[] = { { 1, 1 }, { 2, 1 }, { 3, 0 }, { 4, 1 }, { 5, 0 } };
	struct xf_summary s;
	struct fr f;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ra(&f);
		nd_opt(&f, 1, 1);     /* source link-layer address */
		nd_opt(&f, 25, c[i].units);
		finish(&f);
		summarize(&f, &s);
		HAS(XF_IP6_UPPER, 58);
		HAS(XF_ICMP6_TYPE, 134);
		HAS(XF_ICMP6_CODE, 0);
		HAS(XF_ICMP6_ND_MALFORMED, 0);
		HAS(XF_ICMP6_ND_RDNSS_BAD, c[i].bad);
		none_in(&s, XF_ICMP_TYPE, XF_ICMP_CODE);
	}
}

static void test_icmp6_nd_malformed(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* An option of length 0 (no progress). */
	ra(&f);
	nd_opt(&f, 3, 0);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP6_ND_MALFORMED, 1);
	HAS(XF_ICMP6_ND_RDNSS_BAD, 0);

	/* RDNSS of length 0: both. */
	ra(&f);
	nd_opt(&f, 25, 0);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP6_ND_MALFORMED, 1);
	HAS(XF_ICMP6_ND_RDNSS_BAD, 1);

	/* An option running past the frame. */
	ra(&f);
	put8(&f, 1);
	put8(&f, 2);
	zero(&f, 6);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP6_ND_MALFORMED, 1);

	/* One stray byte after a good option. */
	ra(&f);
	nd_opt(&f, 1, 1);
	put8(&f, 5);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP6_ND_MALFORMED, 1);

	/* An RA shorter than its 16-byte fixed part. */
	ra(&f);
	summarize_n(f.b, f.l4 + 8, &s);
	HAS(XF_ICMP6_TYPE, 134);
	HAS(XF_ICMP6_ND_MALFORMED, 1);
	HAS(XF_ICMP6_ND_RDNSS_BAD, 0);

	/* Only 16 options are walked: a bad 17th is not seen. */
	ra(&f);
	for (int i = 0; i < 16; i++)
		nd_opt(&f, 1, 1);
	nd_opt(&f, 25, 0);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP6_ND_MALFORMED, 0);
	HAS(XF_ICMP6_ND_RDNSS_BAD, 0);
}

static void test_icmp6_other_types(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	/* Echo request: no ND fields. */
	eth(&f, 0x86dd);
	ip6(&f, 58);
	icmp(&f, 128, 0);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_ICMP6_TYPE, 128);
	NO(XF_ICMP6_ND_MALFORMED);
	NO(XF_ICMP6_ND_RDNSS_BAD);

	/* NS (24 fixed bytes) after an HBH, with a source link-layer option. */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 58, 0);
	f.l4 = f.n;
	put8(&f, 135);
	put8(&f, 0);
	zero(&f, 22);
	nd_opt(&f, 1, 1);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_IP6_UPPER, 58);
	HAS(XF_ICMP6_TYPE, 135);
	HAS(XF_ICMP6_ND_MALFORMED, 0);
	HAS(XF_ICMP6_ND_RDNSS_BAD, 0);

	/* Redirect (40 fixed bytes) cut at 39 bytes. */
	eth(&f, 0x86dd);
	ip6(&f, 58);
	put8(&f, 137);
	zero(&f, 38);
	summarize(&f, &s);
	HAS(XF_ICMP6_TYPE, 137);
	HAS(XF_ICMP6_ND_MALFORMED, 1);

	/* Type 138 is not ND. */
	f.b[14 + 40] = 138;
	summarize(&f, &s);
	NO(XF_ICMP6_ND_MALFORMED);

	/* 3 bytes of ICMPv6: nothing. */
	summarize_n(f.b, 14 + 43, &s);
	HAS(XF_IP6_UPPER, 58);
	NO_ICMP(s);
}

/* ---- layer offsets (raw-byte tests) ---------------------------------------- */

/* XF_L3_OFF / XF_L4_OFF: where the IP and L4 headers start, past VLAN tags,
 * IPv4 options and IPv6 extension headers; present exactly when l3.len /
 * l4.len are. */
static void test_layer_offsets(void **state)
{
	static const unsigned char ipopt[] = { 0x94, 4, 0, 0 }; /* router alert */
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	udp(&f, 1, 53);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_L3_OFF, 14);
	HAS(XF_L4_OFF, 34);

	tcp4(&f, ipopt, sizeof(ipopt), NULL, 0, 4);
	summarize(&f, &s);
	HAS(XF_L3_OFF, 14);
	HAS(XF_L4_OFF, 38);           /* after the options */

	/* One tag, then two (802.1ad + 802.1Q) in front of IPv6. */
	eth(&f, 0x8100);
	put16(&f, 100);
	put16(&f, 0x0800);
	ip4(&f, 6, NULL, 0);
	tcp(&f, 0x02, NULL, 0);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_L3_OFF, 18);
	HAS(XF_L4_OFF, 38);
	eth(&f, 0x88a8);
	put16(&f, 1);
	put16(&f, 0x8100);
	put16(&f, 2);
	put16(&f, 0x86dd);
	ip6(&f, 17);
	udp(&f, 1, 2);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_L3_OFF, 22);
	HAS(XF_L4_OFF, 62);

	/* IPv6 with HBH (16), a routing header (24) and a fragment header (8). */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 43, 1);
	rh6(&f, 44, 2, 1);
	frag6(&f, 17, 0, 0);
	udp(&f, 1, 2);
	finish(&f);
	summarize(&f, &s);
	HAS(XF_L3_OFF, 14);
	HAS(XF_L4_OFF, 14 + 40 + 16 + 24 + 8);
	HAS(XF_IP6_EXT_COUNT, 3);
	/* the chain cut inside the routing header: no L4 start */
	summarize_n(f.b, 14 + 40 + 16 + 10, &s);
	HAS(XF_L3_OFF, 14);
	NO(XF_L4_OFF);
	NO(XF_L4_LEN);

	/* ARP: no L3 or L4 offset. */
	eth(&f, 0x0806);
	data(&f, 28);
	summarize(&f, &s);
	NO(XF_L3_OFF);
	NO(XF_L4_OFF);

	/* IPv4 cut inside its header, or with ihl < 5: L3 only. */
	tcp4(&f, NULL, 0, NULL, 0, 0);
	summarize_n(f.b, 14 + 10, &s);
	HAS(XF_L3_OFF, 14);
	NO(XF_L4_OFF);
	f.b[14] = 0x44;
	summarize(&f, &s);
	HAS(XF_L3_OFF, 14);
	NO(XF_L4_OFF);

	/* A runt: nothing. */
	summarize_n(f.b, 13, &s);
	NO(XF_L3_OFF);
	NO(XF_L4_OFF);
}

/* A later IPv4 fragment has l4.len, so it has an L4 offset too (where the
 * fragment's payload starts) while its L4 fields are absent: a raw test on
 * l4 must come with an L4 field to skip such fragments. */
static void test_layer_offsets_later_fragment(void **state)
{
	struct xf_summary s;
	struct fr f;

	(void)state;
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0);
	data(&f, 16);
	finish(&f);
	set16(&f, 14 + 6, 185);       /* offset 1480 */
	summarize(&f, &s);
	HAS(XF_L4_OFF, 34);
	HAS(XF_L4_LEN, 16);
	NO_UDP(s);
}

/* ---- sweeps --------------------------------------------------------------- */

/* Fields whose value may change when a frame is cut (lengths, and the
 * verdicts of walks that the cut makes malformed or shorter). */
static int cut_dependent(int f)
{
	switch (f) {
	case XF_FRAME_LEN:
	case XF_L3_LEN:
	case XF_L4_LEN:
	case XF_FRAG:                 /* IPv6: the fragment header may be cut off */
	case XF_FRAG_FIRST:
	case XF_IP_OPT_MALFORMED:
	case XF_IP_OPT_KINDS:
	case XF_IP6_EXT_COUNT:
	case XF_IP6_EXT_MALFORMED:
	case XF_TCP_OPT_MALFORMED:
	case XF_TCP_OPT_SACKPERM:
	case XF_TCP_OPT_SACK:
	case XF_TCP_OPT_TS:
	case XF_ICMP6_ND_MALFORMED:
	case XF_ICMP6_ND_RDNSS_BAD:
		return 1;
	default:
		return 0;
	}
}

/* Every prefix of f: no crash or over-read, and every field the prefix has
 * is a field of the whole frame with the same value, unless the cut
 * legitimately changes it. */
static void sweep(const struct fr *f)
{
	struct xf_summary full, s;

	summarize(f, &full);
	for (size_t n = 0; n <= f->n; n++) {
		summarize_n(f->b, n, &s);
		for (int k = 1; k < XF_FIELD_MAX; k++) {
			if (!xf_present(&s, k) || cut_dependent(k))
				continue;
			if (!xf_present(&full, k))
				fail_msg("len %zu: field %d present, not in the full frame", n, k);
			if (s.v[k] != full.v[k])
				fail_msg("len %zu: field %d is %llu, %llu in the full frame", n, k,
					 (unsigned long long)s.v[k],
					 (unsigned long long)full.v[k]);
		}
	}
}

static void test_truncated_ipv4_tcp(void **state)
{
	static const unsigned char ipopt[] = { 0x94, 4, 0, 0 };
	static const unsigned char topt[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2,
					      8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
	const size_t l3 = 14, l4 = 14 + 24;
	struct xf_summary s;
	struct fr f;

	(void)state;
	tcp4(&f, ipopt, sizeof(ipopt), topt, sizeof(topt), 6);
	sweep(&f);
	for (size_t n = 0; n <= f.n; n++) {
		summarize_n(f.b, n, &s);
		assert_int_equal(xf_present(&s, XF_ETH_TYPE), n >= 14);
		assert_int_equal(xf_present(&s, XF_L3_LEN), n >= 14);
		assert_int_equal(xf_present(&s, XF_IP_VERSION), n >= l3 + 20);
		assert_int_equal(xf_present(&s, XF_L4_LEN), n >= l4);
		if (n >= 14)
			HAS(XF_L3_OFF, l3);
		if (n >= l4)
			HAS(XF_L4_OFF, l4);
		assert_int_equal(xf_present(&s, XF_TCP_SPORT), n >= l4 + 20);
		assert_int_equal(xf_present(&s, XF_TCP_OPT_MSS), n >= l4 + 24);
		assert_int_equal(xf_present(&s, XF_TCP_OPT_WSCALE), n >= l4 + 28);
		if (n >= l3 + 20)
			HAS(XF_IP_OPT_MALFORMED, n < l3 + 24);
		if (n >= l4 + 20) {
			HAS(XF_TCP_OPT_MALFORMED, n < l4 + 40);
			HAS(XF_TCP_OPT_TS, n >= l4 + 40);
			HAS(XF_TCP_PAYLOAD_LEN, 6);
		}
	}
}

static void test_truncated_ipv6_chain(void **state)
{
	struct xf_summary s;
	struct fr f;
	size_t chain_end;

	(void)state;
	eth(&f, 0x8100);
	put16(&f, 42);
	put16(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 43, 1);
	rh6(&f, 44, 0, 2);
	frag6(&f, 60, 0, 1);
	ext6(&f, 6, 0);
	chain_end = f.n;
	tcp(&f, 0x02, (const unsigned char[]){ 2, 4, 0x02, 0x18 }, 4);
	data(&f, 3);
	finish(&f);
	sweep(&f);
	summarize(&f, &s);
	HAS(XF_IP6_EXT_COUNT, 4);
	HAS(XF_TCP_OPT_MSS, 536);
	for (size_t n = 0; n <= f.n; n++) {
		summarize_n(f.b, n, &s);
		assert_int_equal(xf_present(&s, XF_IP6_UPPER), n >= chain_end);
		assert_int_equal(xf_present(&s, XF_L4_OFF), n >= chain_end);
		if (n >= chain_end)
			HAS(XF_L4_OFF, chain_end);
		if (n >= 18)
			HAS(XF_L3_OFF, 18);   /* behind the tag */
		assert_int_equal(xf_present(&s, XF_TCP_SPORT), n >= chain_end + 20);
		if (n >= 18 + 40)
			HAS(XF_IP6_EXT_MALFORMED, n < chain_end);
	}

	ra(&f);
	nd_opt(&f, 1, 1);
	nd_opt(&f, 25, 3);
	finish(&f);
	sweep(&f);
}

/* Random frames biased towards what parses: the summarizer must keep its
 * invariants (checked in summarize_n) and never read past the frame. */
static void test_random_frames(void **state)
{
	static const unsigned types[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806 };
	static const unsigned nhs[] = { 0, 43, 44, 60, 51, 6, 17, 58, 59 };
	unsigned char b[160];
	uint32_t x = 12345;
	struct xf_summary s;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t n;

		for (size_t j = 0; j < sizeof(b); j++) {
			x = x * 1103515245 + 12345;
			b[j] = x >> 16;
		}
		n = (x >> 8) % sizeof(b);
		b[12] = types[i % 5] >> 8;
		b[13] = types[i % 5] & 0xff;
		if (i % 5 >= 2) {     /* a tag, then IPv4 or IPv6 */
			b[16] = i % 2 ? 0x08 : 0x86;
			b[17] = i % 2 ? 0x00 : 0xdd;
		}
		/* Small header lengths and ext-header lengths, so walks go deep. */
		if (b[12] == 0x08 && b[13] == 0)
			b[14] = 0x40 | (b[14] & 0x0f);
		b[20] = nhs[i % 9];
		b[54] = b[54] & 3;
		b[55] = b[55] & 3;
		summarize_n(b, n, &s);
	}
}

static void test_present_helper(void **state)
{
	struct xf_summary s;

	(void)state;
	memset(&s, 0xff, sizeof(s));
	assert_false(xf_present(&s, XF_NONE));
	assert_false(xf_present(&s, -5));
	assert_false(xf_present(&s, XF_FIELD_MAX));
	assert_true(xf_present(&s, XF_FRAME_LEN));
	assert_true(xf_present(&s, XF_FIELD_MAX - 1));
	memset(&s, 0, sizeof(s));
	s.present[XF_ICMP6_ND_RDNSS_BAD / 64] = 1ULL << (XF_ICMP6_ND_RDNSS_BAD % 64);
	assert_true(xf_present(&s, XF_ICMP6_ND_RDNSS_BAD));
	assert_false(xf_present(&s, XF_ICMP6_ND_MALFORMED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runts),
		cmocka_unit_test(test_eth_non_ip),
		cmocka_unit_test(test_vlan_single),
		cmocka_unit_test(test_vlan_double),
		cmocka_unit_test(test_vlan_three_tags_and_cut),
		cmocka_unit_test(test_ipv4_tcp_fields),
		cmocka_unit_test(test_ipv4_flag_bits),
		cmocka_unit_test(test_ipv4_version_not_4),
		cmocka_unit_test(test_ipv4_ihl_lt5),
		cmocka_unit_test(test_ipv4_opts_good),
		cmocka_unit_test(test_ipv4_opts_source_route_kinds),
		cmocka_unit_test(test_ipv4_opts_malformed),
		cmocka_unit_test(test_ipv4_opts_past_frame),
		cmocka_unit_test(test_ipv4_tot_len_lies),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_tcp_options_good),
		cmocka_unit_test(test_tcp_options_sack_and_eol),
		cmocka_unit_test(test_tcp_opt_zero_length),
		cmocka_unit_test(test_tcp_opt_overrun),
		cmocka_unit_test(test_tcp_opt_wrong_fixed_length),
		cmocka_unit_test(test_tcp_doff_lt5),
		cmocka_unit_test(test_tcp_doff_past_frame),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_icmp),
		cmocka_unit_test(test_ipv6_tcp_fields),
		cmocka_unit_test(test_ipv6_hbh_rh0_frag),
		cmocka_unit_test(test_ipv6_repeated_headers),
		cmocka_unit_test(test_ipv6_later_fragment),
		cmocka_unit_test(test_ipv6_ext_past_frame),
		cmocka_unit_test(test_ipv6_ext_count_limit),
		cmocka_unit_test(test_ipv6_ah),
		cmocka_unit_test(test_icmp6_ra_rdnss),
		cmocka_unit_test(test_icmp6_nd_malformed),
		cmocka_unit_test(test_icmp6_other_types),
		cmocka_unit_test(test_layer_offsets),
		cmocka_unit_test(test_layer_offsets_later_fragment),
		cmocka_unit_test(test_truncated_ipv4_tcp),
		cmocka_unit_test(test_truncated_ipv6_chain),
		cmocka_unit_test(test_random_frames),
		cmocka_unit_test(test_present_helper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
