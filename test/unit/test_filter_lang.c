/* Unit tests for filter/lang.c (the emergency filters' rule language) with
 * filter/eval.c: every operator and field type compiled and evaluated on
 * hand-built packet summaries, raw-byte tests on hand-built frames (through
 * filter/summary.c), absent layers, precedence and negation, every error
 * path with its column and message, the formatter, and a randomized
 * comparison of the compiled DNF with a direct evaluation of the same
 * expression tree (raw-byte leaves read a random frame). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval.h"
#include "lang.h"
#include "summary.h"

/* ---- helpers -------------------------------------------------------------------- */

static void put(struct xf_summary *s, int f, uint64_t v)
{
	s->v[f] = v;
	s->present[f / 64] |= 1ull << (f % 64);
}

static void del(struct xf_summary *s, int f)
{
	s->v[f] = 0;
	s->present[f / 64] &= ~(1ull << (f % 64));
}

static void eth(struct xf_summary *s, uint64_t type, unsigned int frame_len)
{
	memset(s, 0, sizeof(*s));
	put(s, XF_FRAME_LEN, frame_len);
	put(s, XF_L3_LEN, frame_len - 14);
	put(s, XF_ETH_TYPE, type);
	put(s, XF_ETH_SRC, 0x020000000001ull);
	put(s, XF_ETH_DST, 0x020000000002ull);
}

/* An IPv4 header of 20 bytes, 10.0.0.1 -> 10.0.0.2, DF, ttl 64. */
static void ip4(struct xf_summary *s, unsigned int proto, unsigned int l4_bytes)
{
	eth(s, 0x0800, 14 + 20 + l4_bytes < 60 ? 60 : 14 + 20 + l4_bytes);
	put(s, XF_L4_LEN, s->v[XF_L3_LEN] - 20);
	put(s, XF_IP_VERSION, 4);
	put(s, XF_IP_IHL, 5);
	put(s, XF_IP_HDR_LEN, 20);
	put(s, XF_IP_TOS, 0);
	put(s, XF_IP_TOT_LEN, 20 + l4_bytes);
	put(s, XF_IP_ID, 1);
	put(s, XF_IP_DF, 1);
	put(s, XF_IP_MF, 0);
	put(s, XF_IP_RF, 0);
	put(s, XF_IP_FRAG_OFFSET, 0);
	put(s, XF_IP_TTL, 64);
	put(s, XF_IP_PROTO, proto);
	put(s, XF_IP_SRC, 0x0a000001);
	put(s, XF_IP_DST, 0x0a000002);
	put(s, XF_IP_OPT_PRESENT, 0);
	put(s, XF_IP_OPT_MALFORMED, 0);
	put(s, XF_IP_OPT_KINDS, 0);
	put(s, XF_FRAG, 0);
}

static void tcp4(struct xf_summary *s, unsigned int sport, unsigned int dport, unsigned int flags)
{
	ip4(s, 6, 20);
	put(s, XF_TCP_SPORT, sport);
	put(s, XF_TCP_DPORT, dport);
	put(s, XF_TCP_SEQ, 1000);
	put(s, XF_TCP_ACK, 0);
	put(s, XF_TCP_DOFF, 5);
	put(s, XF_TCP_HDR_LEN, 20);
	put(s, XF_TCP_FLAGS, flags);
	put(s, XF_TCP_WIN, 65535);
	put(s, XF_TCP_URGPTR, 0);
	put(s, XF_TCP_PAYLOAD_LEN, 0);
	put(s, XF_TCP_OPT_SACKPERM, 0);
	put(s, XF_TCP_OPT_SACK, 0);
	put(s, XF_TCP_OPT_TS, 0);
	put(s, XF_TCP_OPT_MALFORMED, 0);
}

static void udp4(struct xf_summary *s, unsigned int sport, unsigned int dport)
{
	ip4(s, 17, 8);
	put(s, XF_UDP_SPORT, sport);
	put(s, XF_UDP_DPORT, dport);
	put(s, XF_UDP_LEN, 8);
	put(s, XF_UDP_CSUM, 0x1234);
}

/* IPv6 2001:db8::1 -> 2001:db8::2 with next header nh. */
static void ip6(struct xf_summary *s, unsigned int nh, unsigned int plen)
{
	eth(s, 0x86dd, 14 + 40 + plen);
	put(s, XF_L4_LEN, plen);
	put(s, XF_IP6_VERSION, 6);
	put(s, XF_IP6_PLEN, plen);
	put(s, XF_IP6_NEXTHDR, nh);
	put(s, XF_IP6_HLIM, 64);
	put(s, XF_IP6_FLOW, 0);
	put(s, XF_IP6_SRC_HI, 0x20010db800000000ull);
	put(s, XF_IP6_SRC_LO, 1);
	put(s, XF_IP6_DST_HI, 0x20010db800000000ull);
	put(s, XF_IP6_DST_LO, 2);
	put(s, XF_IP6_EXT_COUNT, 0);
	put(s, XF_IP6_EXT_MALFORMED, 0);
	put(s, XF_IP6_UPPER, nh);
	put(s, XF_FRAG, 0);
}

/* Compile text, which must succeed and respect the compiled form's limits. */
static void compile_ok(const char *text, struct xf_match *m)
{
	struct xf_error e;
	int ret = xf_compile(text, m, &e);

	if (ret)
		fail_msg("'%s' does not compile: %d, column %d: %s", text, ret, e.col, e.msg);
	if (m->nconj < 1 || m->nconj > XF_MAX_CONJ)
		fail_msg("'%s': %d alternatives", text, m->nconj);
	for (int i = 0; i < m->nconj; i++)
		if (m->nterms[i] < 1 || m->nterms[i] > XF_MAX_TERMS)
			fail_msg("'%s': alternative %d has %d tests", text, i, m->nterms[i]);
	assert_int_equal(e.col, 0);
}

static bool match(const char *text, const struct xf_summary *s)
{
	struct xf_match m;

	compile_ok(text, &m);
	return xf_match_eval(&m, s, NULL, 0);
}

#define YES(text, s) do { if (!match(text, s)) fail_msg("'%s' should match", text); } while (0)
#define NO(text, s) do { if (match(text, s)) fail_msg("'%s' should not match", text); } while (0)

/* text must fail with -EINVAL at column col, the message containing sub. */
static void err_at(const char *text, int col, const char *sub)
{
	struct xf_match m;
	struct xf_error e;
	int ret;

	memset(&m, 0xa5, sizeof(m));
	ret = xf_compile(text, &m, &e);
	if (ret != -EINVAL)
		fail_msg("'%s': expected -EINVAL, got %d", text, ret);
	if (e.col != col || !strstr(e.msg, sub))
		fail_msg("'%s': got column %d \"%s\", expected column %d \"%s\"", text, e.col,
			 e.msg, col, sub);
	assert_int_equal(m.nconj, 0); /* nothing half-compiled is left behind */
}

static bool cmp(long long a, int op, long long b)
{
	switch (op) {
	case XF_OP_EQ: return a == b;
	case XF_OP_NE: return a != b;
	case XF_OP_LT: return a < b;
	case XF_OP_LE: return a <= b;
	case XF_OP_GT: return a > b;
	default: return a >= b;
	}
}

static const char *const op_text[] = { "==", "!=", "<", "<=", ">", ">=" };

/* ---- numbers -------------------------------------------------------------------- */

static void test_number_ops(void **state)
{
	static const unsigned int vals[] = { 0, 79, 80, 81, 65535 };
	struct xf_summary s;
	char text[64];

	(void)state;
	for (int op = 0; op < 6; op++)
		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			struct xf_match m;

			tcp4(&s, 1234, vals[i], 0x02);
			snprintf(text, sizeof(text), "tcp.dport %s 80", op_text[op]);
			compile_ok(text, &m);
			assert_int_equal(m.nconj, 1);
			if (xf_match_eval(&m, &s, NULL, 0) != cmp(vals[i], op, 80))
				fail_msg("'%s' on dport %u", text, vals[i]);
		}
}

/* "80 < tcp.dport" is "tcp.dport > 80". */
static void test_number_reversed(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	YES("80 == tcp.dport", &s);
	YES("80 <= tcp.dport", &s);
	NO("80 < tcp.dport", &s);
	YES("81 > tcp.dport", &s);
	NO("79 >= tcp.dport", &s);
	YES("79 != tcp.dport", &s);
}

static void test_number_literals(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 0x50, 0x02);
	YES("tcp.dport == 0x50", &s);
	YES("tcp.dport == 0X50", &s);
	YES("tcp.dport == 80", &s);
	YES("tcp.dport = 80", &s); /* a single '=' is '==' */
	YES("tcp.dport==80", &s);
	put(&s, XF_TCP_SEQ, 0xffffffffull);
	YES("tcp.seq == 4294967295", &s);
	YES("tcp.seq == 0xffffffff", &s);
	put(&s, XF_ETH_TYPE, 0x88a8);
	YES("eth.type == 0x88a8", &s);
	err_at("tcp.dport == 0x", 14, "expected a number for tcp.dport, not '0x'");
	err_at("tcp.dport == 8o", 14, "expected a number for tcp.dport, not '8o'");
	err_at("tcp.dport == 1e3", 14, "not '1e3'");
	/* too long for any field: a clean error, not a wrapped value */
	err_at("tcp.dport == 99999999999999999999999", 14, "expected a number for tcp.dport");
}

/* Values past a field's width are typos, whichever the operator: rejected,
 * not turned into "always" or "never". */
static void test_out_of_range_rejected(void **state)
{
	(void)state;
	err_at("tcp.dport < 70000", 13, "70000 is out of range for tcp.dport (0..65535)");
	err_at("tcp.dport == 70000", 14, "70000 is out of range for tcp.dport (0..65535)");
	err_at("tcp.dport >= 65536", 14, "65536 is out of range for tcp.dport");
	err_at("tcp.dport in 1..70000", 17, "70000 is out of range for tcp.dport");
	err_at("ip.ttl == 256", 11, "256 is out of range for ip.ttl (0..255)");
	err_at("vlan.id == 4096", 12, "out of range for vlan.id (0..4095)");
	err_at("ip.ihl < 16", 10, "out of range for ip.ihl (0..15)");
	err_at("tcp.flags == 0x100", 14, "out of range for tcp.flags (0..255)");
	err_at("ip.df in 2", 10, "2 is out of range for ip.df (0..1)");
	err_at("tcp.dport > -1", 13, "expected a field or a number, found '-'");
}

/* A constant on the left has no field to be checked against yet: it is
 * taken as it is, and the comparison folds ("70000 > tcp.dport": always,
 * when there is a TCP header). */
static void test_out_of_range_on_the_left(void **state)
{
	struct xf_summary t, u;

	(void)state;
	tcp4(&t, 1, 65535, 0x02);
	udp4(&u, 1, 2);
	YES("70000 > tcp.dport", &t);
	NO("70000 > tcp.dport", &u);
	NO("70000 == tcp.dport", &t);
	YES("70000 != tcp.dport", &t);
	NO("70000 != tcp.dport", &u);
}

/* At the edge of the width, and with constants moved across by arithmetic,
 * the comparison folds to "always when present" or "never". */
static void test_width_edges(void **state)
{
	struct xf_summary s, u;

	(void)state;
	tcp4(&s, 1, 65535, 0x02);
	udp4(&u, 1, 2);
	YES("tcp.dport <= 65535", &s);
	NO("tcp.dport > 65535", &s);
	NO("tcp.dport < 0", &s);
	YES("tcp.dport >= 0", &s);
	NO("tcp.dport >= 0", &u); /* "always" still needs the field */
	YES("tcp.dport + 1 > 0", &s);
	NO("tcp.dport + 1 > 0", &u);
	NO("tcp.dport - 65535 > 1", &s); /* dport > 65536: never */
	NO("tcp.dport + 1 < 1", &s);     /* dport < 0: never */
	YES("tcp.dport - 1 < 65535", &s); /* dport < 65536: always */
	YES("tcp.dport - 1 != 65535", &s);
	NO("tcp.dport - 1 != 65535", &u); /* != needs the field even when always true */
	YES("not tcp.dport + 1 < 1", &u); /* not never: true, even without TCP */
	tcp4(&s, 1, 4, 0x02);
	YES("tcp.dport - 5 < 0", &s);
	put(&s, XF_TCP_DPORT, 5);
	NO("tcp.dport - 5 < 0", &s);
}

static void test_sets_and_ranges(void **state)
{
	static const struct {
		unsigned int v;
		bool in;
	} cases[] = { { 0, false }, { 21, false }, { 22, true }, { 23, false }, { 79, false },
		      { 80, true }, { 7999, false }, { 8000, true }, { 8050, true },
		      { 8100, true }, { 8101, false }, { 65535, false } };
	struct xf_summary s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tcp4(&s, 1, cases[i].v, 0x02);
		if (match("tcp.dport in {22, 80, 8000..8100}", &s) != cases[i].in)
			fail_msg("dport %u", cases[i].v);
		if (match("not tcp.dport in {22,80,8000..8100}", &s) == cases[i].in)
			fail_msg("not: dport %u", cases[i].v);
	}
	tcp4(&s, 1, 80, 0x02);
	YES("tcp.dport in 80", &s);
	YES("tcp.dport in 80..80", &s);
	YES("tcp.dport in {80}", &s);
	YES("tcp.dport in 0..65535", &s);
	NO("tcp.dport in 81..65535", &s);
	put(&s, XF_TCP_OPT_MSS, 48);
	YES("tcp.flags.syn and tcp.opt.mss in 1..500", &s); /* SACK Panic */
	del(&s, XF_TCP_OPT_MSS);
	NO("tcp.flags.syn and tcp.opt.mss in 1..500", &s); /* no MSS option */
}

/* ---- named constants -------------------------------------------------------------- */

static void test_named_constants(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	YES("ip.proto == tcp", &s);
	NO("ip.proto == udp", &s);
	YES("ip.proto != udp", &s);
	YES("ip.proto in {tcp, udp}", &s);
	YES("ip.proto in tcp", &s);
	YES("eth.type == ip", &s);
	NO("eth.type == ip6", &s);
	ip6(&s, 58, 32);
	put(&s, XF_ICMP6_TYPE, 134);
	put(&s, XF_ICMP6_CODE, 0);
	YES("eth.type == ip6", &s);
	YES("ip6.nexthdr == icmp6", &s);
	YES("icmp6.type in {ra, redirect}", &s);
	YES("icmp6.type == ra", &s);
	put(&s, XF_ICMP6_TYPE, 137);
	YES("icmp6.type in {ra, redirect}", &s);
	put(&s, XF_ICMP6_TYPE, 135);
	NO("icmp6.type in {ra, redirect}", &s);
	YES("icmp6.type in rs..na", &s);
	put(&s, XF_IP6_NEXTHDR, 44);
	YES("ip6.nexthdr == frag", &s); /* a constant, not the field "frag" */
	YES("ip6.nexthdr in {hbh, rh, frag, dstopt}", &s);
	err_at("icmp6.type == bogus", 15, "expected a number or a name (");
	err_at("icmp6.type == bogus", 15, "ra=134");
	err_at("tcp.dport == http", 14, "expected a number for tcp.dport, not 'http'");
	err_at("ip.proto == ra", 13, "not 'ra'"); /* names belong to their field */
}

/* Every name of every field's constant list can be used after ==, != and in,
 * and means its value. */
static void test_every_named_constant(void **state)
{
	(void)state;
	for (size_t i = 0; i < xf_nfields; i++) {
		const struct xf_field_info *fi = &xf_fields[i];
		const char *c = fi->consts;

		while (c && *c) {
			const char *eq = strchr(c, '='), *end = strchr(c, ',');
			unsigned long long v, other;
			struct xf_summary s;
			char text[128], name[40];
			int n;

			if (!end)
				end = c + strlen(c);
			assert_non_null(eq);
			n = (int)(eq - c);
			snprintf(name, sizeof(name), "%.*s", n, c);
			v = strtoull(eq + 1, NULL, 0);
			other = v ? v - 1 : v + 1;
			memset(&s, 0, sizeof(s));
			put(&s, fi->field, v);
			snprintf(text, sizeof(text), "%s == %s", fi->name, name);
			YES(text, &s);
			snprintf(text, sizeof(text), "%s in {%s}", fi->name, name);
			YES(text, &s);
			snprintf(text, sizeof(text), "%s != %s", fi->name, name);
			NO(text, &s);
			put(&s, fi->field, other);
			snprintf(text, sizeof(text), "%s == %s", fi->name, name);
			NO(text, &s);
			snprintf(text, sizeof(text), "%s != %s", fi->name, name);
			YES(text, &s);
			c = *end ? end + 1 : end;
		}
	}
}

/* ---- booleans, flags ------------------------------------------------------------ */

static void test_bool_bare(void **state)
{
	struct xf_summary s, u;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	udp4(&u, 1, 2);
	YES("ip.df", &s);
	NO("ip.mf", &s);
	NO("frag", &s);
	YES("not frag", &s);
	YES("tcp.flags.syn", &s);
	NO("tcp.flags.ack", &s);
	NO("tcp.flags.syn", &u); /* no TCP: false */
	YES("not tcp.flags.syn", &u);
	NO("tcp.flags.fin", &u);
	put(&s, XF_FRAG, 1);
	YES("frag", &s);
	del(&s, XF_IP_DF);
	NO("ip.df", &s);
	YES("!ip.df", &s);
	put(&s, XF_IP_OPT_KINDS, 1u << 3 | 1u << 20);
	YES("ip.opt.lsrr", &s);
	YES("ip.opt.ra", &s);
	NO("ip.opt.ssrr", &s);
	YES("ip.opt.lsrr or ip.opt.ssrr", &s);
}

/* Booleans compare with 0/1/true/false; ==/!= keep "present and ...". */
static void test_bool_compare(void **state)
{
	static const char *const yes[] = {
		"ip.df == 1", "ip.df == true", "ip.df != 0", "ip.df != false", "ip.df in 1",
		"ip.mf == 0", "ip.mf == false", "ip.mf != 1", "ip.mf in {0}", "frag == false",
		"ip.opt == 0",
	};
	static const char *const no[] = {
		"ip.df == 0", "ip.df == false", "ip.df != 1", "ip.mf == 1", "ip.mf == true",
		"frag == true", "frag == 1",
	};
	struct xf_summary s, a;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		YES(yes[i], &s);
		NO(yes[i], &a); /* absent: every comparison is false */
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		NO(no[i], &s);
	err_at("ip.df == 2", 10, "2 is out of range for ip.df (0..1)");
	err_at("ip.df == yes", 10, "not 'yes'");
}

/* Bit views (tcp.flags.syn) compare with 0/1/true/false too: the bit clear
 * or set in a present field. */
static void test_bit_view_compare(void **state)
{
	struct xf_summary s, u;

	(void)state;
	tcp4(&s, 1, 80, 0x12); /* SYN+ACK */
	udp4(&u, 1, 2);
	YES("tcp.flags.syn == 1", &s);
	YES("tcp.flags.syn == true", &s);
	NO("tcp.flags.syn == 0", &s);
	YES("tcp.flags.fin == 0", &s);
	YES("tcp.flags.fin == false", &s);
	YES("tcp.flags.fin != 1", &s);
	NO("tcp.flags.ack != true", &s);
	NO("tcp.flags.fin == 0", &u); /* no TCP header: false */
	NO("tcp.flags.fin != 1", &u);
	put(&s, XF_IP_OPT_KINDS, 1u << 9);
	YES("ip.opt.ssrr == 1", &s);
	YES("ip.opt.lsrr == 0", &s);
	/* a bit is not a number (the column: the flag or the '+') */
	{
		struct xf_match m;
		struct xf_error e;

		assert_int_equal(xf_compile("tcp.flags.syn + 1 == 2", &m, &e), -EINVAL);
		assert_true(e.col == 1 || e.col == 15);
		assert_non_null(strstr(e.msg, "tcp.flags.syn is a flag"));
	}
}

static void test_tcp_flags(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x12); /* SYN+ACK */
	YES("tcp.flags == syn|ack", &s);
	YES("tcp.flags == ack|syn", &s);
	YES("tcp.flags == 0x12", &s);
	YES("tcp.flags == 18", &s);
	NO("tcp.flags == syn", &s);
	YES("tcp.flags != syn", &s);
	YES("tcp.flags has syn", &s);
	YES("tcp.flags has {syn,ack}", &s);
	YES("tcp.flags has syn|ack", &s);
	NO("tcp.flags has {syn,fin}", &s);
	YES("tcp.flags any {syn,fin}", &s);
	YES("tcp.flags any fin|syn", &s);
	NO("tcp.flags any fin|rst", &s);
	YES("tcp.flags in {0x12, syn}", &s); /* a set of values */
	tcp4(&s, 1, 80, 0x03); /* SYN+FIN */
	YES("tcp.flags has {syn,fin}", &s);
	NO("tcp.flags == syn|ack", &s);
	YES("tcp.flags > syn", &s);
	YES("tcp.flags <= syn|fin", &s);
	tcp4(&s, 1, 80, 0x00); /* null scan */
	YES("tcp.flags == 0", &s);
	YES("tcp and not tcp.flags any 0x3f", &s);
	NO("tcp.flags any 0xff", &s);
	udp4(&s, 1, 2);
	NO("tcp.flags == 0", &s);
	NO("tcp.flags has syn", &s);
	YES("not tcp.flags has syn", &s);
	err_at("tcp.flags has 0", 16, "no bits given for tcp.flags");
	err_at("tcp.flags has {syn,bogus}", 20, "for tcp.flags, not 'bogus'");
}

static void test_has_any_on_numbers(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	put(&s, XF_IP_TOS, 0x03); /* ECN CE */
	YES("ip.tos has 3", &s);
	YES("ip.tos has 0x1", &s);
	YES("ip.tos any 0xff", &s);
	NO("ip.tos has 0xfc", &s);
	NO("ip.tos any 0xfc", &s);
	put(&s, XF_IP_TOS, 0x01);
	NO("ip.tos has 3", &s);
	YES("ip.tos any 3", &s);
}

/* ---- addresses ------------------------------------------------------------------ */

static void test_ipv4_cidr(void **state)
{
	struct xf_summary s, v6;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	ip6(&v6, 17, 8);
	put(&s, XF_IP_SRC, 0x0a0102ff); /* 10.1.2.255 */
	YES("ip.src == 10.1.2.255", &s);
	YES("ip.src == 10.1.2.255/32", &s);
	NO("ip.src == 10.1.2.254/32", &s);
	YES("ip.src == 10.0.0.0/8", &s);
	YES("ip.src == 10.99.99.99/8", &s); /* host bits ignored */
	NO("ip.src == 11.0.0.0/8", &s);
	YES("ip.src == 10.1.2.0/24", &s);
	NO("ip.src == 10.1.3.0/24", &s);
	YES("ip.src == 0.0.0.0/0", &s);
	NO("ip.src == 0.0.0.0/0", &v6); /* /0: any IPv4 source, not "anything" */
	YES("ip.src in {192.168.0.0/16, 10.0.0.0/8}", &s);
	NO("ip.src in {192.168.0.0/16, 172.16.0.0/12}", &s);
	YES("ip.src != 192.168.0.0/16", &s);
	NO("ip.src != 10.0.0.0/8", &s);
	YES("ip.dst == 10.0.0.2", &s);
	put(&s, XF_IP_SRC, 0x7f000001);
	YES("ip.src in 127.0.0.0/8 or ip.dst in 127.0.0.0/8", &s); /* CVE-2020-8558 */
}

static void test_ipv6_cidr(void **state)
{
	static const struct {
		const char *text;
		bool yes;
	} cases[] = {
		{ "ip6.src == ::/0", true },
		{ "ip6.src == 2000::/8", true },
		{ "ip6.src == 3000::/8", false },
		{ "ip6.src == 2001:db8:0:1::/64", true },
		{ "ip6.src == 2001:db8:0:2::/64", false }, /* differs in the high half */
		{ "ip6.src == 2001:db8:0:1::/65", true },
		{ "ip6.src == 2001:db8:0:1:8000::/65", false }, /* bit 65: the low half */
		{ "ip6.src == 2001:db8:0:1:7fff::/65", true },
		{ "ip6.src == 2001:db8:0:1::1234/128", true },
		{ "ip6.src == 2001:db8:0:1::1234", true },
		{ "ip6.src == 2001:db8:0:1::1235", false }, /* the last bit */
		{ "ip6.src == 2001:db8:0:2::1234", false }, /* same low half */
		{ "ip6.src != 2001:db8:0:1::1235", true },
		{ "ip6.src != 2001:db8:0:1::1234", false },
		{ "ip6.src != 2001:db8:0:2::1234", true },
		{ "ip6.src in {fe80::/10, 2001:db8:0:1::/64}", true },
		{ "ip6.dst == 2001:db8::2", true },
		{ "ip6.dst == ::ffff:10.0.0.2", false },
	};
	struct xf_summary s, v4;

	(void)state;
	ip6(&s, 17, 8);
	put(&s, XF_IP6_SRC_HI, 0x20010db800000001ull); /* 2001:db8:0:1:: */
	put(&s, XF_IP6_SRC_LO, 0x1234);
	tcp4(&v4, 1, 80, 0x02);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (match(cases[i].text, &s) != cases[i].yes)
			fail_msg("'%s' should %smatch", cases[i].text, cases[i].yes ? "" : "not ");
		NO(cases[i].text, &v4); /* no IPv6 header: false, == and != alike */
	}
	/* the halves' split: /64 tests one term, /65 and /128 two */
	{
		struct xf_match m;

		compile_ok("ip6.src == 2001:db8::/64", &m);
		assert_int_equal(m.nterms[0], 1);
		compile_ok("ip6.src == 2001:db8::/65", &m);
		assert_int_equal(m.nterms[0], 2);
		compile_ok("ip6.src == 2001:db8::1", &m);
		assert_int_equal(m.nterms[0], 2);
		assert_int_equal(m.t[0][0].field, XF_IP6_SRC_HI);
		assert_int_equal(m.t[0][1].field, XF_IP6_SRC_LO);
	}
}

/* != on an address is "present and different", as on numbers: a rule about
 * IPv4 sources must not match IPv6 or ARP frames. */
static void test_address_ne_needs_layer(void **state)
{
	struct xf_summary v6, v4, arp;

	(void)state;
	ip6(&v6, 17, 8);
	tcp4(&v4, 1, 80, 0x02);
	eth(&arp, 0x0806, 60);
	NO("ip.src != 10.0.0.0/8", &v6);
	NO("ip.src != 10.0.0.0/8", &arp);
	YES("ip.src != 192.168.0.0/16", &v4);
	NO("ip6.src != 2001:db8::/32", &v4);
	NO("eth.src != 02:00:00:00:00:09", &(struct xf_summary){ 0 });
	YES("not ip.src == 10.0.0.0/8", &v6); /* not ==: true without the layer */
	YES("not ip.src in 10.0.0.0/8", &arp);
}

static void test_mac(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	YES("eth.src == 02:00:00:00:00:01", &s);
	YES("eth.src == 02:00:00:00:00:01 and eth.dst == 02:00:00:00:00:02", &s);
	NO("eth.src == 02:00:00:00:00:02", &s);
	YES("eth.src != 02:00:00:00:00:02", &s);
	YES("eth.dst in {ff:ff:ff:ff:ff:ff, 02:00:00:00:00:02}", &s);
	put(&s, XF_ETH_SRC, 0xaabbccddeeffull);
	YES("eth.src == AA:BB:CC:DD:EE:FF", &s);
	YES("eth.src == aa:bb:cc:dd:ee:ff", &s);
}

static void test_layer_words(void **state)
{
	struct xf_summary t, u, v6, a;

	(void)state;
	tcp4(&t, 1, 80, 0x02);
	udp4(&u, 1, 2);
	ip6(&v6, 58, 8);
	put(&v6, XF_ICMP6_TYPE, 128);
	eth(&a, 0x0806, 60);
	YES("eth", &a);
	YES("ip and tcp", &t);
	NO("udp", &t);
	YES("udp", &u);
	NO("ip6", &t);
	YES("ip6 and icmp6", &v6);
	NO("icmp", &v6);
	NO("ip or ip6", &a);
	NO("vlan", &t);
	put(&t, XF_VLAN_ID, 0);
	YES("vlan", &t); /* VLAN 0 (priority tag) is still a tag */
	YES("vlan and vlan.id == 0", &t);
}

/* ---- linear comparisons -------------------------------------------------------- */

static void test_linear_tot_len(void **state)
{
	struct xf_summary s;
	struct xf_match m;

	(void)state;
	compile_ok("ip.tot_len > l3.len", &m);
	assert_int_equal(m.t[0][0].kind, XF_T_LINEAR);
	tcp4(&s, 1, 80, 0x02); /* 40 bytes in a 46-byte padded L3 */
	NO("ip.tot_len > l3.len", &s);
	YES("ip.tot_len < l3.len", &s);
	YES("l3.len - ip.tot_len == 6", &s);
	YES("ip.tot_len + 6 == l3.len", &s);
	YES("ip.tot_len == l3.len - 6", &s);
	put(&s, XF_IP_TOT_LEN, 47);
	YES("ip.tot_len > l3.len", &s);
	YES("ip.tot_len >= l3.len", &s);
	YES("ip.tot_len != l3.len", &s);
	put(&s, XF_IP_TOT_LEN, 46);
	NO("ip.tot_len > l3.len", &s);
	YES("ip.tot_len >= l3.len", &s);
	YES("ip.tot_len <= l3.len", &s);
	NO("ip.tot_len != l3.len", &s);
	put(&s, XF_IP_TOT_LEN, 19);
	YES("ip.tot_len < ip.hdr_len", &s); /* MALF-IPV4-TOTLEN-LT-HLEN */
	del(&s, XF_L3_LEN);
	NO("ip.tot_len != l3.len", &s); /* a field of the sum absent: false */
	NO("ip.tot_len > l3.len", &s);
	YES("not ip.tot_len == l3.len", &s);
}

static void test_linear_ping_of_death(void **state)
{
	struct xf_summary s;
	const char *r = "ip.frag.offset + ip.tot_len > 65535";

	(void)state;
	udp4(&s, 1, 2);
	put(&s, XF_IP_MF, 0);
	put(&s, XF_IP_FRAG_OFFSET, 65480);
	put(&s, XF_IP_TOT_LEN, 55);
	NO(r, &s); /* 65535 */
	put(&s, XF_IP_TOT_LEN, 56);
	YES(r, &s); /* 65536 */
	put(&s, XF_IP_TOT_LEN, 65535);
	YES(r, &s);
	put(&s, XF_IP_FRAG_OFFSET, 0);
	NO(r, &s);
	put(&s, XF_IP_FRAG_OFFSET, 65528);
	put(&s, XF_IP_TOT_LEN, 7);
	NO(r, &s);
	put(&s, XF_IP_TOT_LEN, 8);
	YES(r, &s);
	del(&s, XF_IP_FRAG_OFFSET);
	NO(r, &s);
}

static void test_linear_udp_len(void **state)
{
	struct xf_summary s;
	const char *r = "udp.len - 8 > l4.len";

	(void)state;
	udp4(&s, 1, 2); /* udp.len 8 */
	put(&s, XF_L4_LEN, 8);
	NO(r, &s);
	put(&s, XF_UDP_LEN, 16);
	NO(r, &s); /* 16 - 8 == 8 */
	put(&s, XF_UDP_LEN, 17);
	YES(r, &s);
	del(&s, XF_L4_LEN);
	NO(r, &s);
	put(&s, XF_L4_LEN, 8);
	put(&s, XF_L4_LEN, 8);
	put(&s, XF_UDP_LEN, 17);
	YES("udp.len > l4.len", &s);
	YES("udp.len < 8 or udp.len > l4.len", &s); /* MALF-UDP-LEN */
	put(&s, XF_UDP_LEN, 7);
	YES("udp.len < 8 or udp.len > l4.len", &s);
	put(&s, XF_UDP_LEN, 8);
	NO("udp.len < 8 or udp.len > l4.len", &s);
}

static void test_linear_ops_and_land(void **state)
{
	static const unsigned int vals[] = { 79, 80, 81 };
	struct xf_summary s;
	char text[80];

	(void)state;
	for (int op = 0; op < 6; op++)
		for (size_t i = 0; i < 3; i++) {
			tcp4(&s, vals[i], 80, 0x02);
			snprintf(text, sizeof(text), "tcp.sport %s tcp.dport", op_text[op]);
			if (match(text, &s) != cmp(vals[i], op, 80))
				fail_msg("'%s' with sport %u", text, vals[i]);
			snprintf(text, sizeof(text), "tcp.sport + 5 %s tcp.dport + 5", op_text[op]);
			if (match(text, &s) != cmp(vals[i], op, 80))
				fail_msg("'%s' with sport %u", text, vals[i]);
			del(&s, XF_TCP_SPORT);
			snprintf(text, sizeof(text), "tcp.sport %s tcp.dport", op_text[op]);
			NO(text, &s);
		}
	tcp4(&s, 80, 80, 0x02);
	YES("tcp.sport == tcp.dport", &s); /* land, classic form */
	YES("tcp.sport + tcp.dport - tcp.win < 0", &s);
	YES("tcp.sport + tcp.dport > 159", &s);
	NO("tcp.sport + tcp.dport > 160", &s);
}

/* ---- logic ----------------------------------------------------------------------- */

static void test_precedence(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	/* a or b and c == a or (b and c): a true, c false */
	YES("tcp.dport == 80 or tcp.dport == 81 and udp", &s);
	NO("(tcp.dport == 80 or tcp.dport == 81) and udp", &s);
	/* a and b or c: (a and b) or c */
	YES("udp and tcp.dport == 81 or tcp.dport == 80", &s);
	NO("udp and (tcp.dport == 81 or tcp.dport == 80)", &s);
	/* not binds tighter than and */
	NO("not tcp and tcp", &s);
	YES("not udp and tcp", &s);
	NO("not (udp or tcp)", &s);
	YES("not udp or udp", &s);
	YES("((((tcp))))", &s);
	YES("(tcp) and ((tcp.dport == 80))", &s);
}

static void test_symbol_operators(void **state)
{
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	YES("tcp && tcp.dport == 80", &s);
	NO("tcp && !tcp", &s);
	YES("udp || tcp", &s);
	YES("!udp", &s);
	YES("!(udp)&&!icmp", &s);
	YES("! ! tcp", &s);
	YES("not not tcp", &s);
	YES("tcp.dport==80&&tcp.sport==1||udp", &s);
	YES("tcp.dport!=81", &s);
}

/* Case c of test_de_morgan: dport, ttl, flags, source and lengths varied,
 * some of them absent. */
static void de_morgan_summary(struct xf_summary *s, int c)
{
	static const unsigned int dports[] = { 0, 80, 81 }, ttls[] = { 0, 1, 5, 64 };
	int mask = c / 12, i = c % 12 / 4, j = c % 4;

	tcp4(s, 1, dports[i], (mask & 4) ? 0x02 : 0x10);
	put(s, XF_IP_TTL, ttls[j]);
	put(s, XF_IP_SRC, (mask & 8) ? 0x0a000001 : 0xc0a80001);
	put(s, XF_IP_TOT_LEN, 40 + (unsigned int)i * 3);
	if (mask & 1)
		del(s, XF_TCP_DPORT);
	if (mask & 2)
		del(s, XF_IP_TTL);
	if ((mask & 4) && (mask & 8))
		del(s, XF_L3_LEN);
}

/* not (a and b) == not a or not b, on every combination of a, b true,
 * false and absent. */
static void test_de_morgan(void **state)
{
	static const char *const pairs[][2] = {
		{ "not (tcp.dport == 80 and ip.ttl < 10)",
		  "not tcp.dport == 80 or not ip.ttl < 10" },
		{ "not (tcp.dport == 80 or ip.ttl < 10)",
		  "not tcp.dport == 80 and not ip.ttl < 10" },
		{ "not (tcp.dport != 80 and ip.ttl != 1)",
		  "not tcp.dport != 80 or not ip.ttl != 1" },
		{ "not (ip.src == 10.0.0.0/8 and tcp.flags.syn)",
		  "not ip.src == 10.0.0.0/8 or not tcp.flags.syn" },
		{ "not (ip.tot_len > l3.len and tcp.dport in {1, 80})",
		  "not ip.tot_len > l3.len or not tcp.dport in {1,80}" },
		{ "not not (tcp.dport == 80 and ip.ttl < 10)", "tcp.dport == 80 and ip.ttl < 10" },
	};

	(void)state;
	for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		struct xf_match a, b;

		compile_ok(pairs[p][0], &a);
		compile_ok(pairs[p][1], &b);
		for (int c = 0; c < 16 * 12; c++) {
			struct xf_summary s;

			de_morgan_summary(&s, c);
			if (xf_match_eval(&a, &s, NULL, 0) != xf_match_eval(&b, &s, NULL, 0))
				fail_msg("'%s' and '%s' differ (case %d)", pairs[p][0],
					 pairs[p][1], c);
		}
	}
}

/* A test on a layer the packet does not have is false; "not" of it true;
 * != is "present and different", so false too. */
static void test_absent_layers(void **state)
{
	struct xf_summary u, empty;

	(void)state;
	udp4(&u, 53, 53);
	memset(&empty, 0, sizeof(empty));
	NO("tcp.dport == 80", &u);
	YES("not tcp.dport == 80", &u);
	NO("tcp.dport != 80", &u);
	YES("not tcp.dport != 80", &u);
	NO("tcp.dport < 80", &u);
	NO("tcp.dport in 0..65535", &u);
	YES("not tcp.dport in 0..65535", &u);
	NO("tcp.flags has syn", &u);
	NO("tcp.opt.mss in 1..500", &u);
	NO("icmp.type == 8", &empty);
	NO("icmp.type != 8", &empty);
	YES("not icmp.type == 8", &empty);
	YES("udp.dport == 53 or tcp.dport == 53", &u);
	NO("udp.dport == 53 and tcp.dport != 53", &u); /* not "and not tcp.dport == 53" */
	YES("udp.dport == 53 and not tcp.dport == 53", &u);
}

/* ---- raw bytes: l2[...], l3[...], l4[...] on real frames -------------------------- */

struct frame {
	unsigned char b[256];
	size_t n;
};

static void fadd(struct frame *f, const unsigned char *d, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, d, n);
	f->n += n;
}

#define FADD(f, ...) fadd(f, (const unsigned char[]){ __VA_ARGS__ }, \
			  sizeof((const unsigned char[]){ __VA_ARGS__ }))
#define HI(v) (unsigned char)((v) >> 8)
#define LO(v) (unsigned char)(v)

static void f_eth(struct frame *f, unsigned int type)
{
	memset(f, 0, sizeof(*f));
	FADD(f, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, HI(type), LO(type));
}

/* IPv4 10.0.0.1 -> 10.0.0.2, DF, ttl 64, carrying payload bytes of proto. */
static void f_ip4(struct frame *f, unsigned int proto, unsigned int payload)
{
	FADD(f, 0x45, 0, HI(20 + payload), LO(20 + payload), 0, 1, 0x40, 0, 64, LO(proto), 0, 0,
	     10, 0, 0, 1, 10, 0, 0, 2);
}

/* IPv6 2001:db8::1 -> ::2 with next header nh. */
static void f_ip6(struct frame *f, unsigned int nh, unsigned int plen)
{
	FADD(f, 0x60, 0, 0, 0, HI(plen), LO(plen), LO(nh), 64,
	     0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	     0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);
}

static void f_udp(struct frame *f, unsigned int sport, unsigned int dport, unsigned int payload)
{
	FADD(f, HI(sport), LO(sport), HI(dport), LO(dport), HI(8 + payload), LO(8 + payload), 0, 0);
}

/* A DNS query header (id 0x1234, RD) with these counts and one question
 * for "a." IN A: 19 bytes. */
static void f_dns(struct frame *f, unsigned int qd, unsigned int an, unsigned int ns,
		  unsigned int ar)
{
	FADD(f, 0x12, 0x34, 0x01, 0x00, HI(qd), LO(qd), HI(an), LO(an), HI(ns), LO(ns), HI(ar),
	     LO(ar), 1, 'a', 0, 0, 1, 0, 1);
}

/* eth / IPv4 / UDP 1111 -> 53 / a DNS query with these counts. */
static void f_dns4(struct frame *f, unsigned int qd, unsigned int an, unsigned int ns,
		   unsigned int ar)
{
	f_eth(f, 0x0800);
	f_ip4(f, 17, 8 + 19);
	f_udp(f, 1111, 53, 19);
	f_dns(f, qd, an, ns, ar);
}

/* Summarize and evaluate on a heap copy of exactly the frame's bytes (an
 * over-read shows under ASan or valgrind). */
static bool fmatch_n(const char *text, const struct frame *f, size_t n)
{
	struct xf_summary s;
	struct xf_match m;
	unsigned char *copy = n ? malloc(n) : NULL;
	bool r;

	assert_true(!n || copy);
	if (n)
		memcpy(copy, f->b, n);
	compile_ok(text, &m);
	xf_summarize(copy, n, &s);
	r = xf_match_eval(&m, &s, copy, n);
	free(copy);
	return r;
}

static bool fmatch(const char *text, const struct frame *f)
{
	return fmatch_n(text, f, f->n);
}

#define FYES(text, f) do { if (!fmatch(text, f)) fail_msg("'%s' should match", text); } while (0)
#define FNO(text, f) do { if (fmatch(text, f)) fail_msg("'%s' should not match", text); } while (0)

/* The DNS header after a UDP header: ports, the id, flags and counts at
 * their offsets, every width and operator. */
static void test_raw_l4_dns(void **state)
{
	static const char *const yes[] = {
		"l4[0:2] == 1111", "l4[2:2] == 53", "udp.dport == 53 and l4[8:2] == 0x1234",
		"l4[8] == 0x12", "l4[9] == 0x34", "l4[8:1] == 0x12", "l4[10:2] has 0x0100",
		"l4[10] any 0x81", "l4[12:2] == 1", "l4[12:4] == 0x00010000",
		"l4[8:8] == 0x1234010000010000", "l4[8:2] > 0x1233", "l4[8:2] >= 0x1234",
		"l4[8:2] < 0x1235", "l4[8:2] <= 0x1234", "l4[8:2] != 0x1235",
		"l4[14:2] in {0, 7}", "l4[12:2] in 1..3", "l4[0x0c:2] == 1", "l4[ 12 : 2 ] == 1",
		"0x1234 == l4[8:2]", "0x1233 < l4[8:2]", "70000 > l4[8:2]", "l4[8:8] > 0",
		"l4[8:8] <= 0xffffffffffffffff", "l4[8:8] in 0x1234000000000000..0x1234ffffffffffff",
	};
	static const char *const no[] = {
		"l4[12:2] != 1", "l4[8:2] > 0x1234", "l4[8:2] < 0x1234", "l4[8:2] <= 0x1233",
		"l4[14:2] in {1..5}", "l4[10:2] has 0x8100", "l4[10] any 0x80", "l4[8] == 0x34",
		"0x1234 != l4[8:2]", "70000 < l4[8:2]", "l4[8:8] == 0",
	};
	/* the query profile of docs/filters.md (MALF-DNS-HDR) */
	static const char dns_rule[] =
		"udp.dport == 53 and (udp.len < 20 or l4[12:2] != 1 or l4[14:2] != 0 or "
		"l4[16:2] != 0 or l4[18:2] > 1)";
	struct frame f;

	(void)state;
	f_dns4(&f, 1, 0, 0, 0);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		FYES(yes[i], &f);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		FNO(no[i], &f);
	FNO(dns_rule, &f);
	f_dns4(&f, 1, 0, 0, 1); /* EDNS: one additional record */
	FNO(dns_rule, &f);
	f_dns4(&f, 5, 3, 0, 0);
	FYES(dns_rule, &f);
	FYES("l4[12:2] == 5 and l4[14:2] == 3", &f);
	f_dns4(&f, 1, 0, 0, 2);
	FYES(dns_rule, &f);
	/* a message shorter than the DNS header */
	f_eth(&f, 0x0800);
	f_ip4(&f, 17, 8 + 10);
	f_udp(&f, 1111, 53, 10);
	FADD(&f, 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0);
	FYES(dns_rule, &f);
	FNO("l4[18:2] <= 1", &f); /* ARCOUNT is not in the frame */
	/* cut in the header while udp.len says more: the counts that are
	 * there are read, the others are absent (MALF-UDP-LEN's udp.len >
	 * l4.len catches the lie) */
	f_dns4(&f, 1, 0, 0, 7);
	f.n = 14 + 20 + 8 + 10;
	FNO(dns_rule, &f);
	FYES("l4[12:2] == 1 and udp.len > l4.len", &f);

	/* behind a VLAN tag the same bytes are found from the L4 start */
	memset(&f, 0, sizeof(f));
	FADD(&f, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 42, 0x08, 0);
	f_ip4(&f, 17, 8 + 19);
	f_udp(&f, 1111, 53, 19);
	f_dns(&f, 1, 0, 0, 0);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		FYES(yes[i], &f);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		FNO(no[i], &f);

	/* IPv6 with a hop-by-hop header (8 bytes) before UDP */
	f_eth(&f, 0x86dd);
	f_ip6(&f, 0, 8 + 8 + 19);
	FADD(&f, 17, 0, 1, 4, 0, 0, 0, 0);
	f_udp(&f, 1111, 53, 19);
	f_dns(&f, 1, 0, 0, 0);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		FYES(yes[i], &f);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		FNO(no[i], &f);
	FNO(dns_rule, &f);
}

static void test_raw_l3(void **state)
{
	struct frame f;

	(void)state;
	f_dns4(&f, 1, 0, 0, 0);
	FYES("l3[0] == 0x45", &f);
	FYES("l3[0] has 0x40", &f);
	FNO("l3[0] has 0x60", &f);
	FYES("l3[9] == 17", &f);
	FYES("l3[12:4] == 0x0a000001", &f);
	FYES("l3[12:8] == 0x0a0000010a000002", &f);
	FYES("l3[6:2] has 0x4000", &f); /* DF */
	FYES("l3[20:2] == 1111", &f); /* = l4[0:2] without options */
	f_eth(&f, 0x86dd);
	f_ip6(&f, 17, 8);
	f_udp(&f, 1, 2, 0);
	FYES("l3[0] == 0x60", &f);
	FYES("l3[6] == 17", &f);
	FYES("l3[24:4] == 0x20010db8", &f);
	FYES("l3[32:8] == 2", &f);
	FYES("l3[40:2] == 1", &f); /* the UDP source port */
}

/* l2 is the frame's first byte: the EtherType at 12 (or the TPID of a tag),
 * whatever the frame carries. */
static void test_raw_l2(void **state)
{
	struct frame f;

	(void)state;
	f_dns4(&f, 1, 0, 0, 0);
	FYES("l2[12:2] == 0x0800", &f);
	FYES("l2[0:4] == 0x02000000", &f);
	FYES("l2[0:8] == 0x0200000000020200", &f);
	FYES("l2[5] == 2 and l2[11] == 1", &f);
	FYES("l2[14] == 0x45", &f);
	memset(&f, 0, sizeof(f));
	FADD(&f, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 42, 0x08, 0);
	f_ip4(&f, 17, 0);
	FYES("l2[12:2] == 0x8100 and l2[14:2] == 42 and l2[16:2] == 0x0800", &f);
	FYES("l3[0] == 0x45", &f); /* l3 is past the tag */
	f_eth(&f, 0x0806); /* ARP: l2 is there, l3 and l4 are not */
	FADD(&f, 0, 1, 8, 0, 6, 4, 0, 1);
	FYES("l2[12:2] == 0x0806", &f);
	FYES("l2[20:2] == 1", &f); /* request */
}

/* Bytes past the frame end: false, and the != of them too ("absent is not
 * !="); "not" of them true. */
static void test_raw_out_of_frame(void **state)
{
	struct frame f;

	(void)state;
	f_eth(&f, 0x0800);
	f_ip4(&f, 17, 12);
	f_udp(&f, 1, 2, 4);
	FADD(&f, 0xaa, 0xbb, 0xcc, 0xdd); /* 46 bytes */
	FYES("l4[8:4] == 0xaabbccdd", &f);
	FNO("l4[8:8] == 0xaabbccdd00000000", &f);
	FNO("l4[8:8] in 0..0xffffffffffffffff", &f);
	FNO("l4[8:8] != 0", &f);
	FYES("not l4[8:8] == 0", &f);
	FYES("not l4[8:8] != 0", &f);
	FYES("l4[11] == 0xdd", &f);
	FNO("l4[12] == 0", &f);
	FNO("l4[10:4] > 0", &f);
	FYES("l2[45] == 0xdd", &f);
	FNO("l2[46] == 0", &f);
	FNO("l2[1499] == 0", &f);
	FYES("l2[42:4] > 0", &f);
	FNO("l2[43:4] > 0", &f);
	FYES("l3[30:2] == 0xccdd", &f);
	FNO("l3[31:2] any 0xffff", &f);
	/* the same frame cut at every length: a test holds exactly while its
	 * bytes are all in */
	for (size_t n = 0; n <= f.n; n++) {
		assert_int_equal(fmatch_n("l2[42:4] == 0xaabbccdd", &f, n), n >= 46);
		assert_int_equal(fmatch_n("l4[8:2] != 0", &f, n), n >= 44);
		assert_int_equal(fmatch_n("not l4[8:2] == 0xaabb", &f, n), n < 44);
		assert_int_equal(fmatch_n("l3[0] == 0x45", &f, n), n >= 15);
		assert_int_equal(fmatch_n("l2[0:8] > 0", &f, n), n >= 8);
	}
}

/* No L3 or L4 start: false whatever the test, "not" true. */
static void test_raw_absent_layer(void **state)
{
	struct frame f;

	(void)state;
	f_eth(&f, 0x0806);
	FADD(&f, 0, 1, 8, 0, 6, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	FNO("l3[0] in 0..255", &f);
	FNO("l3[0] != 1", &f);
	FNO("l4[0] == 0", &f);
	FNO("l4[0] != 0", &f);
	FNO("l4[0:2] has 0x1", &f);
	FYES("not l4[0] == 0", &f);
	FYES("not l4[0] != 0", &f);
	FYES("not l3[0] in 0..255", &f);
	/* IPv4 with ihl 4: an L3 start, no L4 start */
	f_dns4(&f, 1, 0, 0, 0);
	f.b[14] = 0x44;
	FYES("l3[0] == 0x44", &f);
	FNO("l4[0:2] == 1111", &f);
	FNO("l4[0:2] != 1111", &f);
	FYES("not l4[0:2] == 1111", &f);
	/* IPv6 whose extension header runs past the frame */
	f_eth(&f, 0x86dd);
	f_ip6(&f, 0, 64);
	FADD(&f, 17, 7, 1, 4, 0, 0, 0, 0);
	FYES("l3[40] == 17", &f);
	FNO("l4[0] in 0..255", &f);
}

/* not, and De Morgan, over raw tests; the VXLAN rule of docs/filters.md. */
static void test_raw_negation(void **state)
{
	static const char vxlan[] = "udp.dport in {4789, 8472} and "
				    "(l4[8:4] != 0x08000000 or l4[15] != 0 or l4.len < 30)";
	struct frame f;

	(void)state;
	f_eth(&f, 0x0800);
	f_ip4(&f, 17, 8 + 8 + 14);
	f_udp(&f, 40000, 4789, 8 + 14);
	FADD(&f, 0x08, 0, 0, 0, 0, 0, 42, 0);           /* I flag, VNI 42 */
	FADD(&f, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0); /* the inner Ethernet header */
	FNO("not l4[8] has 0x08", &f);
	FYES("l4[8] has 0x08", &f);
	FNO(vxlan, &f);
	FYES("not (l4[0:2] == 1 or l4[2:2] == 1)", &f);
	FNO("not (l4[0:2] == 40000 or l4[2:2] == 1)", &f);
	FYES("not (l4[0:2] == 40000 and l4[2:2] == 1)", &f);
	FYES("not l4[0:2] == 40000 or not l4[2:2] == 1", &f);
	FYES("!(l4[8] != 0x08)", &f);
	FYES("not not l4[8] == 0x08", &f);
	f.b[14 + 20 + 8] = 0x00; /* I flag clear */
	FYES("not l4[8] has 0x08", &f);
	FYES(vxlan, &f);
	f.b[14 + 20 + 8] = 0x08;
	f.b[14 + 20 + 8 + 7] = 1; /* reserved VNI byte */
	FYES(vxlan, &f);
	f.b[14 + 20 + 8 + 7] = 0;
	FNO(vxlan, &f);
	f.n -= 1; /* inner frame shorter than an Ethernet header */
	FYES(vxlan, &f);
}

/* The GRE and SIGRed rules of docs/filters.md on their test frames. */
static void test_raw_catalog_rules(void **state)
{
	static const char gre[] = "(ip.proto == gre and ip.frag.offset == 0 or ip6.upper == gre "
				  "and not ip6.frag.offset > 0) and l4[0:2] any 0x4007";
	static const char sigred[] = "tcp.sport == 53 and (tcp.hdr_len == 20 and l4[20:2] > 0xff00 "
				     "or tcp.hdr_len == 32 and l4[32:2] > 0xff00)";
	struct frame f;

	(void)state;
	/* GRE version 0 carrying IPv4: legal; version 1, or the routing bit: not */
	f_eth(&f, 0x0800);
	f_ip4(&f, 47, 4 + 20);
	FADD(&f, 0x00, 0x00, 0x08, 0x00);
	f_ip4(&f, 17, 0);
	FNO(gre, &f);
	f.b[14 + 20 + 1] = 0x01;
	FYES(gre, &f);
	f.b[14 + 20 + 1] = 0x00;
	f.b[14 + 20] = 0x40;
	FYES(gre, &f);
	f.b[14 + 20] = 0x80; /* the checksum bit is legal */
	FNO(gre, &f);
	/* a later fragment of a GRE packet: its payload is not a GRE header */
	f.b[14 + 20] = 0x40;
	f.b[14 + 6] = 0x00;
	f.b[14 + 7] = 0xb9;
	FNO(gre, &f);
	/* over IPv6, with and without a later-fragment header */
	f_eth(&f, 0x86dd);
	f_ip6(&f, 47, 4);
	FADD(&f, 0x40, 0x00, 0x08, 0x00);
	FYES(gre, &f);
	f_eth(&f, 0x86dd);
	f_ip6(&f, 44, 8 + 4);
	FADD(&f, 47, 0, 0x05, 0xc8, 0, 0, 0, 1); /* offset 1480 */
	FADD(&f, 0x40, 0x00, 0x08, 0x00);
	FNO(gre, &f);

	/* a DNS-over-TCP response whose length prefix is over 0xff00 */
	f_eth(&f, 0x0800);
	f_ip4(&f, 6, 20 + 4);
	FADD(&f, 0, 53, 0xc0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0);
	FADD(&f, 0xff, 0xff, 0, 0);
	FYES(sigred, &f);
	f.b[14 + 20 + 20] = 0x00;
	f.b[14 + 20 + 21] = 0x1e;
	FNO(sigred, &f);
}

/* The compiled form: XF_T_BYTES with the layer, width and offset, masks as
 * for a number field of the width; != costs a presence test; a set of n
 * items n alternatives; the formatter names the bytes. */
static void test_raw_compiled(void **state)
{
	struct xf_match m;
	char out[1024];

	(void)state;
	compile_ok("l4[3:2] == 0x35", &m);
	assert_int_equal(m.nconj, 1);
	assert_int_equal(m.nterms[0], 1);
	assert_int_equal(m.t[0][0].kind, XF_T_BYTES);
	assert_int_equal(m.t[0][0].field, XF_LAYER_L4);
	assert_int_equal(m.t[0][0].op, 2);
	assert_int_equal(m.t[0][0].off, 3);
	assert_int_equal(m.t[0][0].mask, 0xffff);
	assert_int_equal(m.t[0][0].lo, 0x35);
	assert_int_equal(m.t[0][0].hi, 0x35);
	assert_int_equal(m.t[0][0].neg, 0);
	xf_match_format(&m, out, sizeof(out));
	assert_string_equal(out, "    l4[3:2] & 0xffff in 0x35..0x35");

	compile_ok("l3[0x10:4] in 1..5", &m);
	assert_int_equal(m.t[0][0].field, XF_LAYER_L3);
	assert_int_equal(m.t[0][0].op, 4);
	assert_int_equal(m.t[0][0].off, 16);
	assert_int_equal(m.t[0][0].mask, 0xffffffffull);
	compile_ok("l2[1499] == 0", &m);
	assert_int_equal(m.t[0][0].field, XF_LAYER_L2);
	assert_int_equal(m.t[0][0].op, 1);
	assert_int_equal(m.t[0][0].off, 1499);
	assert_int_equal(m.t[0][0].mask, 0xff);
	compile_ok("l2[0:8] == 0xffffffffffffffff", &m);
	assert_true(m.t[0][0].mask == ~0ull && m.t[0][0].lo == ~0ull && m.t[0][0].hi == ~0ull);
	compile_ok("l4[8] has 0x88", &m);
	assert_true(m.t[0][0].mask == 0x88 && m.t[0][0].lo == 0x88 && m.t[0][0].hi == 0x88);
	compile_ok("l4[8] any 0x88", &m);
	assert_true(m.t[0][0].mask == 0x88 && m.t[0][0].lo == 1 && m.t[0][0].hi == 0x88);

	compile_ok("l4[0:2] != 53", &m);
	assert_int_equal(m.nterms[0], 2);
	assert_int_equal(m.t[0][0].kind, XF_T_BYTES);
	assert_true(!m.t[0][0].mask && !m.t[0][0].lo && !m.t[0][0].hi && !m.t[0][0].neg);
	assert_int_equal(m.t[0][1].kind, XF_T_BYTES);
	assert_int_equal(m.t[0][1].neg, 1);
	xf_match_format(&m, out, sizeof(out));
	assert_string_equal(out, "    present(l4[0:2]) and not l4[0:2] & 0xffff in 0x35..0x35");

	compile_ok("l4[0:2] in {1, 2, 3}", &m);
	assert_int_equal(m.nconj, 3);
	compile_ok("not l4[0:2] in {1, 2, 3}", &m);
	assert_int_equal(m.nconj, 1);
	assert_int_equal(m.nterms[0], 3);
	err_at("l4[0:2] in {1,2,3,4,5,6,7,8,9}", 1, "too complex: 9 alternatives");

	/* a reversed comparison folds a constant out of the width, as for fields */
	compile_ok("70000 > l4[0:2]", &m);
	assert_true(m.t[0][0].kind == XF_T_BYTES && m.t[0][0].lo == 0 && m.t[0][0].hi == 0xffff);

	/* with fields, in one alternative */
	compile_ok("udp.dport == 53 and l4[8:2] == 0x1234 and l3[9] == 17", &m);
	assert_int_equal(m.nterms[0], 3);
	assert_int_equal(m.t[0][0].kind, XF_T_RANGE);
	xf_match_format(&m, out, sizeof(out));
	assert_string_equal(out, "    udp.dport & 0xffff in 0x35..0x35 and l4[8:2] & 0xffff in "
				 "0x1234..0x1234 and l3[9] & 0xff in 0x11..0x11");
}

static void test_err_raw(void **state)
{
	(void)state;
	err_at("l4[]", 4, "expected an offset for l4[...], found ']'");
	err_at("l4[", 4, "expected an offset for l4[...], found the end");
	err_at("l4[x] == 1", 4, "expected an offset for l4[...], not 'x'");
	err_at("l4[-1] == 1", 4, "expected an offset for l4[...], found '-'");
	err_at("l4[0x] == 1", 4, "expected an offset for l4[...], not '0x'");
	err_at("l4[1500] == 1", 4, "offset 1500 is out of range (0..1499)");
	err_at("udp and l3[ 0x5dc ] == 1", 13, "offset 1500 is out of range (0..1499)");
	err_at("l4[0:3] == 1", 6, "width must be 1, 2, 4 or 8, not 3");
	err_at("l4[0:16] == 1", 6, "width must be 1, 2, 4 or 8, not 16");
	err_at("l4[0:0] == 1", 6, "width must be 1, 2, 4 or 8, not 0");
	err_at("l4[0:] == 1", 6, "expected a width (1, 2, 4 or 8) for l4[...], found ']'");
	err_at("l4[0:2x] == 1", 6, "expected a width (1, 2, 4 or 8) for l4[...], not '2x'");
	err_at("l4[0:2 == 1", 8, "expected ']' after the width in l4[...], found '='");
	err_at("l4[0 2] == 1", 6, "expected ':' or ']' in l4[...], found '2'");
	err_at("l4[0", 5, "expected ':' or ']' in l4[...], found the end");
	err_at("l4[1.5] == 1", 5, "expected ':' or ']' in l4[...], found '.'");
	err_at("l4 == 1", 3, "expected '[' after l4: raw bytes are l4[OFFSET] or l4[OFFSET:WIDTH]");
	err_at("tcp and l2", 11, "expected '[' after l2");
	err_at("l5[0] == 1", 1, "unknown layer 'l5' for raw bytes: use l2[...], l3[...] or l4[...]");
	err_at("udp[8:2] == 1", 1, "unknown layer 'udp' for raw bytes");
	err_at("tcp.dport == ip[0]", 14, "unknown layer 'ip' for raw bytes");
	err_at("l4[0:2]", 8, "l4[0:2] is a number: compare it (e.g. l4[0:2] == 80) or use 'in'");
	err_at("l4[0] and tcp", 7, "l4[0] is a number");
	/* never in a sum, nor compared with a field */
	err_at("l4[0:2] + 1 == 5", 9, "l4[0:2] can only be compared with numbers (not added to "
				     "or compared with a field)");
	err_at("l4[0:2] - udp.len > 0", 9, "l4[0:2] can only be compared with numbers");
	err_at("l4[0:2] == tcp.dport", 12, "l4[0:2] can only be compared with numbers");
	err_at("tcp.dport == l4[0:2]", 14, "l4[0:2] can only be compared with numbers");
	err_at("l4[0:2] == l3[0]", 12, "l4[0:2] can only be compared with numbers");
	err_at("l4[0] == 1 + 2", 12, "l4[0] can only be compared with numbers");
	err_at("1 + 2 == l4[0] + 1", 16, "l4[0] can only be compared with numbers");
	err_at("tcp.dport + l4[0] > 3", 13, "l4[0] can only be compared with numbers");
	err_at("tcp.flags == l4[13]", 14, "l4[13] can only be compared with numbers");
	err_at("1 + l4[0] > 3", 5, "l4[0] can only be compared with numbers");
	/* constants: the width's range, numbers only */
	err_at("l4[0] == 256", 10, "256 is out of range for l4[0] (0..255)");
	err_at("l4[0:2] == 0x10000", 12, "0x10000 is out of range for l4[0:2] (0..65535)");
	err_at("l4[0:4] in 1..0x100000000", 15, "out of range for l4[0:4] (0..4294967295)");
	err_at("l4[0] == x", 10, "expected a number for l4[0], not 'x'");
	err_at("l4[0] == tcp", 10, "l4[0] can only be compared with numbers");
	err_at("l4[0:2] ==", 11, "expected a number for l4[0:2], found the end");
	err_at("l4[0:2] == (", 12, "expected a number for l4[0:2], found '('");
	err_at("l4[0:2] has 0", 14, "no bits given for l4[0:2]");
	err_at("l4[0] has 0x100", 11, "0x100 is out of range for l4[0]");
	err_at("l4[0:2] in {1, x}", 16, "expected a number for l4[0:2], not 'x'");
	err_at("l4[0] in 5..1", 10, "empty range 5..1");
	/* '[' elsewhere is still no part of the language */
	err_at("tcp.dport in [1, 2]", 14, "unexpected character '['");
	err_at("tcp.dport == 80 [", 17, "unexpected character '['");
	err_at("l4[0]] == 1", 6, "unexpected character ']'");
	err_at("l4[0] == 1 ]", 12, "unexpected character ']'");
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_err_empty(void **state)
{
	(void)state;
	err_at("", 1, "empty rule: expected a test such as 'tcp.dport == 80'");
	err_at("   \t\n", 1, "empty rule");
}

static void test_err_unknown_field(void **state)
{
	(void)state;
	err_at("tcp.dprt == 80", 1, "unknown field 'tcp.dprt'");
	err_at("tcp and tcp.prt == 80", 9, "unknown field 'tcp.prt'");
	err_at("arp", 1, "unknown field 'arp'"); /* eth.type == arp instead */
	err_at("tcp.dport == tcp.sprt", 14, "expected a number for tcp.dport, not 'tcp.sprt'");
}

static void test_err_unknown_character(void **state)
{
	(void)state;
	err_at("tcp.dport == 80 $", 17, "unexpected character '$'");
	err_at("@tcp", 1, "unexpected character '@'");
	err_at("ip.ihl * 4 > ip.tot_len", 8, "unexpected character '*'");
	err_at("tcp.dport == 80 ; udp", 17, "unexpected character ';'");
	err_at("tcp.dport in [1, 2]", 14, "unexpected character '['");
}

static void test_err_bare_number_field(void **state)
{
	(void)state;
	err_at("tcp.dport", 10,
	       "tcp.dport is a number: compare it (e.g. tcp.dport == 80) or use 'in'");
	err_at("tcp.dport and udp", 11, "tcp.dport is a number");
	err_at("tcp.dport 80", 11, "tcp.dport is a number");
	err_at("tcp.flags", 10, "tcp.flags is a set of flags: use 'has', 'any' or ==");
	err_at("tcp.flags syn", 11, "tcp.flags is a set of flags");
}

static void test_err_missing_value(void **state)
{
	(void)state;
	err_at("tcp.dport ==", 13, "expected a field or a number, found the end");
	err_at("tcp.dport == and udp", 14, "expected a field or a number, found 'and'");
	err_at("tcp.dport in", 13, "expected a value for tcp.dport, found the end");
	err_at("tcp.dport in {", 15, "expected a value for tcp.dport, found the end");
	err_at("tcp.dport in {80", 17, "expected ',' or '}' in the set, found the end");
	err_at("tcp.dport in {80 81}", 18, "expected ',' or '}' in the set, found '81'");
	err_at("tcp.dport in {80,}", 18, "expected a value for tcp.dport, found '}'");
	err_at("tcp.dport in 5..", 17, "expected a number for tcp.dport, not ''");
	err_at("tcp.dport in ..5", 14, "expected a number for tcp.dport, not ''");
	err_at("ip.src ==", 10, "expected an address for ip.src, found the end");
	err_at("ip.src == (", 11, "expected an address for ip.src, found '('");
	err_at("tcp.flags has", 14, "expected bits for tcp.flags, found the end");
	err_at("tcp.flags has {syn", 19, "expected ',' or '}', found the end");
	err_at("tcp.flags == syn|", 18, "expected bits for tcp.flags, found the end");
	err_at("tcp.dport + == 1", 13, "expected a field or a number, found '=='");
	err_at("not", 4, "expected a test, found the end");
	err_at("tcp and", 8, "expected a test, found the end");
	err_at("== 80", 1, "expected a test, found '=='");
	err_at("()", 2, "expected a test, found ')'");
	err_at("5 == 5", 1, "a comparison needs a field");
	err_at("1 + 2 < 4", 1, "a comparison needs a field");
}

static void test_err_addresses(void **state)
{
	(void)state;
	err_at("ip.src == 10.0.0.256", 11,
	       "expected an IPv4 address or CIDR for ip.src, not '10.0.0.256'");
	err_at("ip.src == 10.0.0", 11, "expected an IPv4 address or CIDR");
	err_at("ip.src == fe80::1", 11,
	       "expected an IPv4 address or CIDR for ip.src, not 'fe80::1'");
	err_at("ip.src == 10.0.0.1/33", 11, "not '10.0.0.1/33'");
	err_at("ip.src == 10.0.0.0/", 11, "not '10.0.0.0/'");
	err_at("ip.src == 10.0.0.0/8/8", 11, "expected an IPv4 address or CIDR");
	err_at("ip.dst in {10.0.0.0/8, 1.2.3}", 24,
	       "expected an IPv4 address or CIDR for ip.dst, not '1.2.3'");
	err_at("ip6.src == 2001:db8::g", 12,
	       "expected an IPv6 address or CIDR for ip6.src, not '2001:db8::g'");
	err_at("ip6.src == 2001:db8::/129", 12, "not '2001:db8::/129'");
	err_at("ip6.src == 10.0.0.1", 12, "expected an IPv6 address or CIDR");
	err_at("ip6.dst == 1:2:3:4:5:6:7:8:9", 12, "expected an IPv6 address or CIDR for ip6.dst");
	err_at("eth.src == 02:00:00:00:00", 12,
	       "expected a MAC address (aa:bb:cc:dd:ee:ff) for eth.src");
	err_at("eth.src == 02:00:00:00:00:0g", 12, "not '02:00:00:00:00:0g'");
	err_at("eth.dst == 2:0:0:0:0:1", 12, "expected a MAC address");
	err_at("eth.dst == 02:00:00:00:00:01/8", 12, "expected a MAC address");
}

static void test_err_empty_range(void **state)
{
	(void)state;
	err_at("tcp.dport in 5..1", 14, "empty range 5..1");
	err_at("tcp.dport in {1, 10..9}", 18, "empty range 10..9");
	err_at("icmp6.type in na..rs", 15, "empty range na..rs");
}

static void test_err_parens_and_trailing(void **state)
{
	(void)state;
	err_at("(tcp.dport == 80", 17, "expected ')' to close the '(' at column 1, found the end");
	err_at("(tcp.dport == 80 or (udp", 25,
	       "expected ')' to close the '(' at column 21, found the end");
	err_at("(tcp udp)", 6, "expected ')' to close the '(' at column 1, found 'udp'");
	err_at("tcp.dport == 80 80", 17, "expected 'and', 'or' or the end, found '80'");
	err_at("tcp.dport == 80)", 16, "expected 'and', 'or' or the end, found ')'");
	err_at("tcp udp", 5, "expected 'and', 'or' or the end, found 'udp'");
	err_at("tcp in 5", 5, "found 'in'");
}

static void test_err_operator_types(void **state)
{
	(void)state;
	err_at("ip.src has 1", 8, "'has' needs a number or flags field, ip.src is not one");
	err_at("ip6.dst any 1", 9, "'any' needs a number or flags field, ip6.dst is not one");
	err_at("eth.src has 1", 9, "'has' needs a number or flags field");
	err_at("ip.df has 1", 7, "'has' needs a number or flags field, ip.df is not one");
	err_at("ip.src < 10.0.0.1", 8, "ip.src can only be compared with == or != (or 'in')");
	err_at("ip6.src >= ::1", 9, "ip6.src can only be compared with == or !=");
	err_at("eth.dst > 00:00:00:00:00:00", 9, "eth.dst can only be compared with == or !=");
	err_at("ip.src + 1 == 2", 8, "ip.src can only be compared");
	err_at("tcp.dport == ip.src", 14, "ip.src cannot be added or compared with a field");
	err_at("ip.tot_len > eth.src", 14, "eth.src cannot be added or compared with a field");
	err_at("ip.src == ip.dst", 11, "expected an IPv4 address or CIDR for ip.src, not 'ip.dst'");
}

static void test_err_linear_fields(void **state)
{
	(void)state;
	err_at("tcp.dport + tcp.sport + udp.len + udp.sport > 3", 35,
	       "at most 3 fields in one comparison");
	err_at("tcp.dport + tcp.sport > udp.len + udp.sport", 1,
	       "at most 3 fields in one comparison");
	err_at("tcp.win > tcp.dport + tcp.sport + ip.ttl", 1, "at most 3 fields");
	/* 3 is fine, on either side */
	{
		struct xf_match m;

		compile_ok("tcp.dport + tcp.sport > udp.len", &m);
		compile_ok("tcp.dport - tcp.sport - udp.len + 7 > 0", &m);
	}
}

static void test_err_nesting(void **state)
{
	char text[512];
	struct xf_match m;
	int n = 0;

	(void)state;
	/* 40 levels are fine */
	for (int i = 0; i < 40; i++)
		text[n++] = '(';
	n += snprintf(text + n, sizeof(text) - (size_t)n, "tcp");
	for (int i = 0; i < 40; i++)
		text[n++] = ')';
	text[n] = 0;
	compile_ok(text, &m);
	/* 100 are not: the error at the 65th level */
	n = 0;
	for (int i = 0; i < 100; i++)
		text[n++] = '(';
	n += snprintf(text + n, sizeof(text) - (size_t)n, "tcp");
	for (int i = 0; i < 100; i++)
		text[n++] = ')';
	text[n] = 0;
	err_at(text, 65, "nested too deeply");
	n = 0;
	for (int i = 0; i < 100; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "not ");
	snprintf(text + n, sizeof(text) - (size_t)n, "tcp");
	err_at(text, 257, "nested too deeply");
	n = 0;
	for (int i = 0; i < 100; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "!");
	snprintf(text + n, sizeof(text) - (size_t)n, "tcp");
	err_at(text, 65, "nested too deeply");
}

static void test_err_too_complex(void **state)
{
	struct xf_match m;

	(void)state;
	/* 3 * 3 * 3 * 3 = 81 alternatives: stopped while expanding, at the 'and' */
	err_at("tcp.dport in {1,2,3} and tcp.sport in {1,2,3} and udp.dport in {1,2,3} and "
	       "udp.sport in {1,2,3}", 72, "too complex: more than 64 alternatives");
	/* 9 alternatives: over the compiled form's 8 */
	err_at("tcp.dport in {1,2,3} and tcp.sport in {1,2,3}", 1,
	       "too complex: 9 alternatives after expansion (at most 8): "
	       "split it into several rules");
	err_at("tcp.dport in {1,2,3,4,5,6,7,8,9}", 1, "too complex: 9 alternatives");
	compile_ok("tcp.dport in {1,2,3,4,5,6,7,8}", &m);
	assert_int_equal(m.nconj, 8);
	compile_ok("tcp.dport in {1,2} and tcp.sport in {1,2} and udp.dport in {1,2}", &m);
	assert_int_equal(m.nconj, 8);
	/* not over a set is one alternative of negated tests */
	compile_ok("not tcp.dport in {1,2,3,4,5,6,7,8}", &m);
	assert_int_equal(m.nconj, 1);
	assert_int_equal(m.nterms[0], 8);
	/* not (a or b) and (c or d): 1 x 2 */
	compile_ok("not (tcp.dport == 1 or tcp.dport == 2) and (udp or icmp)", &m);
	assert_int_equal(m.nconj, 2);
	/* not over 9 sets of 2: one alternative of 18 negated tests, stopped at
	 * 16 while negating (the column of the 'not') */
	err_at("not (tcp.dport in {1,2} or tcp.sport in {1,2} or udp.dport in {1,2} or "
	       "udp.sport in {1,2} or ip.ttl in {1,2} or ip.id in {1,2} or ip.tos in {1,2} or "
	       "icmp.type in {1,2} or icmp.code in {1,2})", 1,
	       "too complex: more than 16 tests in one alternative");
	err_at("tcp and not (tcp.dport in {1,2} or tcp.sport in {1,2} or udp.dport in {1,2} or "
	       "udp.sport in {1,2} or ip.ttl in {1,2} or ip.id in {1,2} or ip.tos in {1,2} or "
	       "icmp.type in {1,2} or icmp.code in {1,2})", 9,
	       "too complex: more than 16 tests in one alternative");
}

static void test_err_too_many_terms(void **state)
{
	struct xf_match m;

	(void)state;
	compile_ok("tcp and udp and icmp and icmp6 and ip and ip6 and vlan and eth", &m);
	assert_int_equal(m.nterms[0], 8);
	err_at("tcp and udp and icmp and icmp6 and ip and ip6 and vlan and eth and ip.df", 1,
	       "too complex: 9 tests in one alternative (at most 8)");
	{
		static const char t17[] =
			"tcp and udp and icmp and icmp6 and ip and ip6 and vlan and eth and ip.df "
			"and ip.mf and ip.rf and frag and frag.first and ip.opt and tcp.flags.syn "
			"and tcp.flags.ack and tcp.flags.fin";

		/* stopped at the 'and' that brings the 17th test */
		err_at(t17, (int)(strstr(t17, "and tcp.flags.fin") - t17) + 1,
		       "too complex: more than 16 tests in one alternative");
	}
	/* != costs a presence test: 4 of them are 8 tests */
	compile_ok("tcp.dport != 1 and tcp.sport != 2 and udp.dport != 3 and udp.sport != 4", &m);
	assert_int_equal(m.nterms[0], 8);
	err_at("tcp.dport != 1 and tcp.sport != 2 and udp.dport != 3 and udp.sport != 4 and ip", 1,
	       "too complex: 9 tests in one alternative");
}

/* Numbers in sums stay far from 64-bit overflow: either rejected, or the
 * result is exact arithmetic. */
static void test_huge_constants(void **state)
{
	static const struct {
		const char *text;
		bool yes;       /* the exact answer with dport 80, sport 1 */
	} cases[] = {
		{ "9223372036854775807 + 9223372036854775807 == tcp.dport", false },
		{ "0 - 9223372036854775808 == tcp.dport", false },
		{ "tcp.dport + tcp.sport > 0 - 9223372036854775807", true },
		{ "tcp.dport + tcp.sport < 9223372036854775807 + 9223372036854775807", true },
		{ "tcp.dport + tcp.sport > 18446744073709551615", false },
	};
	struct xf_summary s;

	(void)state;
	tcp4(&s, 1, 80, 0x02);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xf_match m;
		struct xf_error e;

		if (xf_compile(cases[i].text, &m, &e)) {
			assert_true(e.col > 0 && e.msg[0]);
			continue;
		}
		if (xf_match_eval(&m, &s, NULL, 0) != cases[i].yes)
			fail_msg("'%s' compiled to a wrong answer", cases[i].text);
	}
}

static void test_error_state(void **state)
{
	struct xf_match m;
	struct xf_error e;

	(void)state;
	/* success clears a previous error */
	assert_int_equal(xf_compile("tcp.dport ==", &m, &e), -EINVAL);
	assert_true(e.col > 0);
	assert_int_equal(xf_compile("tcp.dport == 80", &m, &e), 0);
	assert_int_equal(e.col, 0);
	assert_string_equal(e.msg, "");
	/* the first error wins: '$' is reported, not what follows */
	err_at("tcp.dport == $ 80", 14, "unexpected character '$'");
	err_at("tcp.dport in {$}", 15, "unexpected character '$'");
}

/* ---- formatting ------------------------------------------------------------------ */

/* A test of fi that holds for the value *v (and *v2 for the low half). */
static void field_test(const struct xf_field_info *fi, char *text, size_t len,
		       unsigned long long *v, unsigned long long *v2)
{
	*v2 = 0;
	switch (fi->type) {
	case XT_PROTO:
		snprintf(text, len, "%s", fi->name);
		*v = 0;
		break;
	case XT_BOOL:
		snprintf(text, len, "%s", fi->name);
		*v = fi->mask ? fi->mask : 1;
		break;
	case XT_FLAGS:
		snprintf(text, len, "%s has 0x41", fi->name);
		*v = 0x41;
		break;
	case XT_IP4:
		snprintf(text, len, "%s == 1.2.3.4", fi->name);
		*v = 0x01020304;
		break;
	case XT_IP6:
		snprintf(text, len, "%s == 2001:db8::1", fi->name);
		*v = 0x20010db800000000ull;
		*v2 = 1;
		break;
	case XT_MAC:
		snprintf(text, len, "%s == 02:00:00:00:00:01", fi->name);
		*v = 0x020000000001ull;
		break;
	default:
		*v = (fi->bits >= 64 ? ~0ull : (1ull << fi->bits) - 1) - 1;
		snprintf(text, len, "%s == %llu", fi->name, *v);
		break;
	}
}

/* Every field compiles to a test of its own summary slot: true with only
 * that field set, false without it. */
static void test_every_field(void **state)
{
	(void)state;
	assert_true(xf_nfields > 50);
	for (size_t i = 0; i < xf_nfields; i++) {
		const struct xf_field_info *fi = &xf_fields[i];
		unsigned long long v, v2;
		struct xf_summary s;
		char text[96];

		assert_true(fi->field > XF_NONE && fi->field < XF_FIELD_MAX);
		assert_non_null(fi->doc);
		assert_ptr_equal(xf_field_find(fi->name, strlen(fi->name)), fi);
		field_test(fi, text, sizeof(text), &v, &v2);
		memset(&s, 0, sizeof(s));
		NO(text, &s);
		put(&s, fi->field, v);
		if (fi->type == XT_IP6)
			put(&s, fi->field + 1, v2);
		YES(text, &s);
		if (fi->type != XT_PROTO) {
			s.v[fi->field] ^= fi->type == XT_BOOL && fi->mask ? fi->mask : 1;
			NO(text, &s);
		}
	}
	assert_null(xf_field_find("tcp.dpor", 8));
	assert_null(xf_field_find("tcp.dportx", 10));
	assert_non_null(xf_field_find("tcp.dport == 80", 9));
}

/* The formatted form names every field it tests. */
static void test_format_names_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < xf_nfields; i++) {
		const struct xf_field_info *fi = &xf_fields[i];
		unsigned long long v, v2;
		char text[96], name[64], out[1024];
		struct xf_match m;

		field_test(fi, text, sizeof(text), &v, &v2);
		compile_ok(text, &m);
		xf_match_format(&m, out, sizeof(out));
		snprintf(name, sizeof(name), "%s", fi->name);
		if (fi->type == XT_BOOL && fi->mask) /* tcp.flags.syn: the field, tcp.flags */
			*strrchr(name, '.') = 0;
		if (fi->type == XT_PROTO)
			snprintf(name, sizeof(name), "present(");
		if (strchr(out, '?') || !strstr(out, name))
			fail_msg("'%s' formats as '%s'", text, out);
	}
}

static void test_format(void **state)
{
	struct xf_match m;
	char out[1024], small[16];

	(void)state;
	compile_ok("tcp.dport in {22, 80} and not ip.tot_len > l3.len", &m);
	xf_match_format(&m, out, sizeof(out));
	assert_non_null(strstr(out, "tcp.dport"));
	assert_non_null(strstr(out, "ip.tot_len"));
	assert_non_null(strstr(out, "l3.len"));
	assert_non_null(strstr(out, "\nor  ")); /* one alternative a line */
	assert_null(strchr(out, '?'));
	compile_ok("ip6.dst == 2001:db8::/65", &m);
	xf_match_format(&m, out, sizeof(out));
	assert_non_null(strstr(out, "ip6.dst.hi"));
	assert_non_null(strstr(out, "ip6.dst.lo"));
	compile_ok("tcp.dport != 80", &m);
	xf_match_format(&m, out, sizeof(out));
	assert_non_null(strstr(out, "present(tcp.dport)"));
	assert_non_null(strstr(out, "not tcp.dport"));
	/* truncated, not overrun, and terminated */
	compile_ok("tcp.dport in {22, 80, 443, 8080}", &m);
	xf_match_format(&m, out, sizeof(out));
	memset(small, 'x', sizeof(small));
	xf_match_format(&m, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, out, sizeof(small) - 1);
	small[0] = 'x';
	xf_match_format(&m, small, 0);
	assert_int_equal(small[0], 'x');
	xf_match_format(&m, small, 1);
	assert_int_equal(small[0], 0);
}

/* ---- randomized: the compiled DNF against a direct evaluation ------------------- */

enum { N_LEAF, N_NOT, N_AND, N_OR };
enum { L_CMP, L_SET, L_BOOL, L_BIT, L_FLAGS, L_CIDR4, L_CIDR6, L_LIN, L_LIN2, L_RAW, L_PROTO,
       L_KINDS };

struct rnode {
	int kind, a, b;          /* N_*; children */
	int lk, f, op, form;     /* a leaf: L_*, field (L_RAW: layer), XF_OP_* or form */
	int n;                   /* items */
	unsigned int off, width; /* L_RAW */
	unsigned long long lo[3], hi[3], k, mask, net, net2, mask2;
	char text[160];
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned int pick(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

#define PICK(a) ((a)[pick(sizeof(a) / sizeof((a)[0]))])

static const unsigned long long dport_vals[] = { 0, 1, 79, 80, 81, 443, 65534, 65535 };
static const unsigned long long ttl_vals[] = { 0, 1, 63, 64, 65, 255 };
static const unsigned long long flag_vals[] = { 0, 0x02, 0x12, 0x10, 0x03, 0x11, 0x29, 0xc2 };
static const unsigned long long src_vals[] = { 0x0a000001, 0x0a0000ff, 0xc0a80001, 0x7f000001, 0 };
static const unsigned long long hi_vals[] = { 0x20010db800000000ull, 0x20010db800000001ull,
					      0xfe80000000000000ull };
static const unsigned long long lo_vals[] = { 0, 1, 0x8000000000000000ull, 0x8000000000000001ull };
static const unsigned long long totlen_vals[] = { 20, 40, 46, 60, 1500 };
static const unsigned long long l3_vals[] = { 20, 40, 46, 1500 };
static const unsigned long long fragoff_vals[] = { 0, 8, 65480, 65528 };

static const unsigned long long *vals_of(int f, size_t *n)
{
#define V(a) (*n = sizeof(a) / sizeof((a)[0]), (a))
	switch (f) {
	case XF_TCP_DPORT: case XF_TCP_SPORT: return V(dport_vals);
	case XF_IP_TTL: return V(ttl_vals);
	case XF_TCP_FLAGS: return V(flag_vals);
	case XF_IP_SRC: return V(src_vals);
	case XF_IP6_SRC_HI: return V(hi_vals);
	case XF_IP6_SRC_LO: return V(lo_vals);
	case XF_IP_TOT_LEN: return V(totlen_vals);
	case XF_L3_LEN: return V(l3_vals);
	case XF_IP_FRAG_OFFSET: return V(fragoff_vals);
	default: *n = 0; return NULL;
	}
#undef V
}

static const int rfields[] = { XF_TCP_DPORT, XF_TCP_SPORT, XF_IP_TTL, XF_IP_DF, XF_FRAG,
			       XF_TCP_FLAGS, XF_IP_SRC, XF_IP6_SRC_HI, XF_IP_TOT_LEN, XF_L3_LEN,
			       XF_IP_FRAG_OFFSET, XF_IP_PROTO };

/* The frame of the random summary: bytes of a small alphabet, so that
 * constants built of the same bytes are often equal to them. */
static const unsigned char raw_bytes[] = { 0x00, 0x01, 0x35, 0xff };
static unsigned char rframe[64];
static size_t rframe_len;

static void random_frame(struct xf_summary *s)
{
	static const size_t lens[] = { 0, 8, 20, 33, 48, 64 };
	static const unsigned long long l3[] = { 0, 14, 18, 30 }, l4[] = { 14, 20, 34, 60 };

	rframe_len = PICK(lens);
	for (size_t i = 0; i < sizeof(rframe); i++)
		rframe[i] = PICK(raw_bytes);
	if (pick(4))
		put(s, XF_L3_OFF, PICK(l3));
	if (pick(4))
		put(s, XF_L4_OFF, PICK(l4));
}

static void random_summary(struct xf_summary *s)
{
	memset(s, 0, sizeof(*s));
	random_frame(s);
	for (size_t i = 0; i < sizeof(rfields) / sizeof(rfields[0]); i++) {
		int f = rfields[i];
		size_t n;
		const unsigned long long *v = vals_of(f, &n);

		if (pick(4) == 0)
			continue; /* absent */
		put(s, f, v ? v[pick((unsigned int)n)] : pick(2));
		if (f == XF_IP6_SRC_HI) {
			v = vals_of(XF_IP6_SRC_LO, &n);
			put(s, XF_IP6_SRC_LO, v[pick((unsigned int)n)]);
		}
		if (f == XF_IP_PROTO)
			put(s, f, 6);
	}
}

static const char *const bit_names[] = { "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr" };

/* Append to a leaf's text. */
static void add(struct rnode *l, const char *fmt, ...)
{
	size_t o = strlen(l->text);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->text + o, sizeof(l->text) - o, fmt, ap);
	va_end(ap);
}

/* Flag bits as "a|b|0x8" or "{a,b}": their mask. */
static unsigned long long random_bits(struct rnode *l, bool brace)
{
	unsigned long long bits = 0;
	int n = 1 + (int)pick(3);

	add(l, "%s", brace ? "{" : "");
	for (int i = 0; i < n; i++) {
		int b = (int)pick(8);

		bits |= 1ull << b;
		add(l, "%s", i ? (brace ? "," : "|") : "");
		if (pick(4) == 0 && !brace)
			add(l, "%#x", 1u << b);
		else
			add(l, "%s", bit_names[b]);
	}
	add(l, "%s", brace ? "}" : "");
	return bits;
}

static const char *const cidr4[] = {
	"10.0.0.0/8", "10.0.0.1/32", "10.0.0.0/24", "0.0.0.0/0", "192.168.0.0/16", "127.0.0.1",
};

/* IPv6 prefixes: text, the two halves and the length */
static const struct {
	const char *text;
	unsigned long long hi, lo;
	unsigned int plen;
} cidr6[] = {
	{ "2001:db8::/32", 0x20010db800000000ull, 0, 32 },
	{ "2001:db8::/64", 0x20010db800000000ull, 0, 64 },
	{ "2001:db8::8000:0:0:0/65", 0x20010db800000000ull, 0x8000000000000000ull, 65 },
	{ "::/0", 0, 0, 0 },
	{ "2001:db8::1/128", 0x20010db800000000ull, 1, 128 },
	{ "fe00::/8", 0xfe00000000000000ull, 0, 8 },
	{ "2001:db8:0:1::/64", 0x20010db800000001ull, 0, 64 },
	{ "2001:db8::8000:0:0:1", 0x20010db800000000ull, 0x8000000000000001ull, 128 },
};

static const int flip[] = { XF_OP_EQ, XF_OP_NE, XF_OP_GT, XF_OP_GE, XF_OP_LT, XF_OP_LE };

static bool ucmp(unsigned long long a, int op, unsigned long long b)
{
	switch (op) {
	case XF_OP_EQ: return a == b;
	case XF_OP_NE: return a != b;
	case XF_OP_LT: return a < b;
	case XF_OP_LE: return a <= b;
	case XF_OP_GT: return a > b;
	default: return a >= b;
	}
}

/* A constant of width bytes from the frame's alphabet. */
static unsigned long long raw_const(unsigned int width)
{
	unsigned long long k = 0;

	for (unsigned int i = 0; i < width; i++)
		k = k << 8 | PICK(raw_bytes);
	return k;
}

/* lN[OFF], lN[OFF:W] or lN[0xOFF:W] OP k, k OP lN[...] (widths up to 4:
 * a constant on the left is a sum's, within 48 bits), in a set, has, any. */
static void random_raw(struct rnode *l)
{
	static const unsigned int offs[] = { 0, 1, 2, 6, 12, 20, 30 }, widths[] = { 1, 2, 4, 8 };
	static const char *const forms[] = { "", "", " in {", " has ", " any " };
	char ref[32];

	l->f = (int)pick(3);
	l->off = PICK(offs);
	l->width = PICK(widths);
	l->form = (int)pick(5);
	if (l->form == 1 && l->width == 8)
		l->width = 4;
	if (l->width == 1 && pick(2))
		snprintf(ref, sizeof(ref), "l%d[%u]", l->f + 2, l->off);
	else
		snprintf(ref, sizeof(ref), pick(3) ? "l%d[%u:%u]" : "l%d[%#x:%u]", l->f + 2, l->off,
			 l->width);
	l->op = (int)pick(6);
	l->k = raw_const(l->width);
	if (l->form == 1) {
		add(l, "%#llx %s %s", l->k, op_text[flip[l->op]], ref);
		return;
	}
	add(l, "%s%s", ref, forms[l->form]);
	if (l->form == 0) {
		add(l, " %s %#llx", op_text[l->op], l->k);
	} else if (l->form == 2) {
		l->n = 1 + (int)pick(3);
		for (int j = 0; j < l->n; j++) {
			unsigned long long a = raw_const(l->width), b = pick(2) ? a : raw_const(l->width);

			l->lo[j] = a < b ? a : b;
			l->hi[j] = a < b ? b : a;
			add(l, "%s%#llx", j ? ", " : "", l->lo[j]);
			if (l->hi[j] != l->lo[j])
				add(l, "..%#llx", l->hi[j]);
		}
		add(l, "}");
	} else {
		l->mask = l->k ? l->k : 1;
		add(l, "%#llx", l->mask);
	}
}

/* The bytes of a raw leaf, read directly from the frame. */
static bool raw_value(const struct rnode *l, const struct xf_summary *s, unsigned long long *v)
{
	unsigned long long at = 0;

	if (l->f) {
		int f = l->f == 1 ? XF_L3_OFF : XF_L4_OFF;

		if (!xf_present(s, f))
			return false;
		at = s->v[f];
	}
	at += l->off;
	if (at + l->width > rframe_len)
		return false;
	*v = 0;
	for (unsigned int i = 0; i < l->width; i++)
		*v = *v << 8 | rframe[at + i];
	return true;
}

static bool raw_eval(const struct rnode *l, const struct xf_summary *s)
{
	unsigned long long v;

	if (!raw_value(l, s, &v))
		return false;
	switch (l->form) {
	case 2:
		for (int i = 0; i < l->n; i++)
			if (v >= l->lo[i] && v <= l->hi[i])
				return true;
		return false;
	case 3: return (v & l->mask) == l->mask;
	case 4: return (v & l->mask) != 0;
	default: return ucmp(v, l->op, l->k);
	}
}

/* A number field of the random trees: tcp.dport or ip.ttl, and a value. */
static const char *random_number_field(struct rnode *l, unsigned long long *val)
{
	const unsigned long long *v;
	size_t n;

	l->f = pick(2) ? XF_TCP_DPORT : XF_IP_TTL;
	v = vals_of(l->f, &n);
	*val = v[pick((unsigned int)n)];
	return l->f == XF_TCP_DPORT ? "tcp.dport" : "ip.ttl";
}

static void random_leaf(struct rnode *l)
{
	static const char *const bool_forms[] = { "", " == 1", " == 0", " != 0", " == true",
						  " == false", " != true", " in 1" };
	static const int bool_want[] = { 1, 1, 0, 1, 1, 0, 0, 1 };
	static const char *const bit_forms[] = { "", " == 1", " == 0", " != 1", " == false" };
	static const int bit_want[] = { 1, 1, 0, 0, 0 };
	static const char *const flag_ops[] = { "has", "any", "==", "!=" };
	static const char *const addr_ops[] = { "==", "!=", "in" };
	static const unsigned long long lin_k[] = { 0, 1, 6, 14, 20 };
	static const unsigned long long lin2_k[] = { 65535, 65535, 1500, 60, 0 };
	unsigned long long k1, k2;
	const char *name;
	unsigned int i, plen, a, b, c, d;

	l->kind = N_LEAF;
	l->lk = (int)pick(L_KINDS);
	l->text[0] = 0;
	switch (l->lk) {
	case L_CMP: /* name OP k, or k FLIP(OP) name; k decimal or hex */
		name = random_number_field(l, &l->k);
		l->op = (int)pick(6);
		if (pick(3) == 0)
			add(l, pick(3) ? "%llu %s %s" : "%#llx %s %s", l->k, op_text[flip[l->op]],
			    name);
		else
			add(l, pick(3) ? "%s %s %llu" : "%s %s %#llx", name, op_text[l->op], l->k);
		break;
	case L_SET: /* name in {v, lo..hi, ...} */
		name = random_number_field(l, &k1);
		l->n = 1 + (int)pick(3);
		add(l, "%s in {", name);
		for (int j = 0; j < l->n; j++) {
			size_t n;
			const unsigned long long *v = vals_of(l->f, &n);

			k1 = v[pick((unsigned int)n)];
			k2 = pick(2) ? k1 : v[pick((unsigned int)n)];
			l->lo[j] = k1 < k2 ? k1 : k2;
			l->hi[j] = k1 < k2 ? k2 : k1;
			add(l, "%s%llu", j ? ", " : "", l->lo[j]);
			if (l->hi[j] != l->lo[j])
				add(l, "..%llu", l->hi[j]);
		}
		add(l, "}");
		break;
	case L_BOOL: /* ip.df or frag, bare or compared */
		l->f = pick(2) ? XF_IP_DF : XF_FRAG;
		l->form = (int)pick(8);
		l->k = (unsigned long long)bool_want[l->form];
		add(l, "%s%s", l->f == XF_IP_DF ? "ip.df" : "frag", bool_forms[l->form]);
		break;
	case L_BIT: /* tcp.flags.X, bare or compared */
		i = pick(8);
		l->f = XF_TCP_FLAGS;
		l->mask = 1ull << i;
		l->form = (int)pick(5);
		l->k = (unsigned long long)bit_want[l->form];
		add(l, "tcp.flags.%s%s", bit_names[i], bit_forms[l->form]);
		break;
	case L_FLAGS: /* has, any, ==, != bits; == 0 */
		l->f = XF_TCP_FLAGS;
		l->form = (int)pick(5);
		if (l->form == 4) {
			l->mask = 0;
			add(l, "tcp.flags == 0");
			break;
		}
		add(l, "tcp.flags %s ", flag_ops[l->form]);
		l->mask = random_bits(l, l->form < 2 && pick(2));
		break;
	case L_CIDR4:
		i = pick(sizeof(cidr4) / sizeof(cidr4[0]));
		l->f = XF_IP_SRC;
		plen = 32;
		sscanf(cidr4[i], "%u.%u.%u.%u/%u", &a, &b, &c, &d, &plen);
		l->mask = plen ? (0xffffffffull << (32 - plen)) & 0xffffffffull : 0;
		l->net = ((unsigned long long)a << 24 | b << 16 | c << 8 | d) & l->mask;
		l->form = (int)pick(3);
		add(l, "ip.src %s %s", addr_ops[l->form], cidr4[i]);
		break;
	case L_CIDR6:
		i = pick(sizeof(cidr6) / sizeof(cidr6[0]));
		l->f = XF_IP6_SRC_HI;
		plen = cidr6[i].plen;
		l->mask = plen >= 64 ? ~0ull : plen ? ~0ull << (64 - plen) : 0;
		l->mask2 = plen >= 128 ? ~0ull : plen > 64 ? ~0ull << (128 - plen) : 0;
		l->net = cidr6[i].hi & l->mask;
		l->net2 = cidr6[i].lo & l->mask2;
		l->form = (int)pick(3);
		add(l, "ip6.src %s %s", addr_ops[l->form], cidr6[i].text);
		break;
	case L_LIN: /* ip.tot_len [+ k1] OP l3.len [+- k2]: tot_len + k OP l3.len */
		k1 = PICK(lin_k);
		k2 = PICK(lin_k);
		l->op = (int)pick(6);
		add(l, "ip.tot_len");
		if (k1)
			add(l, " + %llu", k1);
		add(l, " %s l3.len", op_text[l->op]);
		l->k = k1 - k2;
		if (k2 && pick(2)) {
			add(l, " - %llu", k2);
			l->k = k1 + k2;
		} else if (k2) {
			add(l, " + %llu", k2);
		}
		break;
	case L_LIN2: /* ip.frag.offset + ip.tot_len OP k */
		l->op = (int)pick(6);
		l->k = PICK(lin2_k);
		add(l, "ip.frag.offset + ip.tot_len %s %llu", op_text[l->op], l->k);
		break;
	case L_RAW:
		random_raw(l);
		break;
	default:
		l->lk = L_PROTO;
		l->f = pick(2) ? XF_TCP_SPORT : XF_IP_PROTO;
		add(l, "%s", l->f == XF_TCP_SPORT ? "tcp" : "ip");
		break;
	}
}

static bool leaf_eval(const struct rnode *l, const struct xf_summary *s)
{
	unsigned long long v = s->v[l->f];
	bool p = xf_present(s, l->f), r;

	switch (l->lk) {
	case L_CMP:
		return p && cmp((long long)v, l->op, (long long)l->k);
	case L_SET:
		for (int i = 0; i < l->n; i++)
			if (p && v >= l->lo[i] && v <= l->hi[i])
				return true;
		return false;
	case L_BOOL:
		return p && v == l->k;
	case L_BIT:
		return p && ((v & l->mask) != 0) == (l->k != 0);
	case L_FLAGS:
		switch (l->form) {
		case 0: return p && (v & l->mask) == l->mask;
		case 1: return p && (v & l->mask);
		case 3: return p && v != l->mask;
		default: return p && v == l->mask;
		}
	case L_CIDR4:
		r = (v & l->mask) == l->net;
		return p && (l->form == 1 ? !r : r);
	case L_CIDR6:
		r = (v & l->mask) == l->net && (s->v[XF_IP6_SRC_LO] & l->mask2) == l->net2;
		return p && (l->form == 1 ? !r : r);
	case L_LIN:
		return xf_present(s, XF_IP_TOT_LEN) && xf_present(s, XF_L3_LEN) &&
		       cmp((long long)(s->v[XF_IP_TOT_LEN] + l->k), l->op,
			   (long long)s->v[XF_L3_LEN]);
	case L_LIN2:
		return xf_present(s, XF_IP_TOT_LEN) && xf_present(s, XF_IP_FRAG_OFFSET) &&
		       cmp((long long)(s->v[XF_IP_TOT_LEN] + s->v[XF_IP_FRAG_OFFSET]), l->op,
			   (long long)l->k);
	case L_RAW:
		return raw_eval(l, s);
	default:
		return p;
	}
}

static bool tree_eval(const struct rnode *t, int i, const struct xf_summary *s)
{
	switch (t[i].kind) {
	case N_NOT: return !tree_eval(t, t[i].a, s);
	case N_AND: return tree_eval(t, t[i].a, s) && tree_eval(t, t[i].b, s);
	case N_OR: return tree_eval(t, t[i].a, s) || tree_eval(t, t[i].b, s);
	default: return leaf_eval(&t[i], s);
	}
}

static int tree_gen(struct rnode *t, int *n, int depth)
{
	int i = (*n)++;
	unsigned int r = pick(10);

	if (depth == 0 || r < 3) {
		random_leaf(&t[i]);
		return i;
	}
	t[i].kind = r < 5 ? N_NOT : r < 8 ? N_AND : N_OR;
	t[i].a = tree_gen(t, n, depth - 1);
	if (t[i].kind != N_NOT)
		t[i].b = tree_gen(t, n, depth - 1);
	return i;
}

static void out_str(char *buf, size_t len, size_t *o, const char *s)
{
	size_t n = strlen(s);

	assert_true(*o + n < len);
	memcpy(buf + *o, s, n + 1);
	*o += n;
}

/* As text: and inside or needs no parentheses (precedence does it); or
 * inside and does; some parentheses are added for nothing. */
static void tree_text(const struct rnode *t, int i, char *buf, size_t len, size_t *o)
{
	const struct rnode *x = &t[i];

	if (x->kind == N_LEAF) {
		out_str(buf, len, o, x->text);
		return;
	}
	if (x->kind == N_NOT) {
		bool paren = t[x->a].kind == N_AND || t[x->a].kind == N_OR || pick(4) == 0;

		out_str(buf, len, o, pick(2) ? "not " : "!");
		out_str(buf, len, o, paren ? "(" : "");
		tree_text(t, x->a, buf, len, o);
		out_str(buf, len, o, paren ? ")" : "");
		return;
	}
	for (int side = 0; side < 2; side++) {
		int c = side ? x->b : x->a;
		bool paren = (x->kind == N_AND && t[c].kind == N_OR) || pick(5) == 0;

		if (side)
			out_str(buf, len, o, x->kind == N_AND ? (pick(2) ? " and " : " && ")
							       : (pick(2) ? " or " : " || "));
		out_str(buf, len, o, paren ? "(" : "");
		tree_text(t, c, buf, len, o);
		out_str(buf, len, o, paren ? ")" : "");
	}
}

static void test_random_against_tree(void **state)
{
	int compiled = 0, complex = 0, raw_true = 0, raw_false = 0;

	(void)state;
	for (int e = 0; e < 400; e++) {
		struct rnode t[64];
		char text[4096];
		struct xf_match m;
		struct xf_error err;
		size_t o = 0;
		int n = 0, root;

		memset(t, 0, sizeof(t));
		root = tree_gen(t, &n, 4);
		text[0] = 0;
		tree_text(t, root, text, sizeof(text), &o);
		if (xf_compile(text, &m, &err)) {
			if (!strstr(err.msg, "too complex"))
				fail_msg("'%s': column %d: %s", text, err.col, err.msg);
			complex++;
			continue;
		}
		compiled++;
		for (int k = 0; k < 80; k++) {
			struct xf_summary s;
			unsigned char *frame;
			bool got, want;

			random_summary(&s);
			/* exactly the frame's bytes: an over-read shows under ASan */
			frame = malloc(rframe_len ? rframe_len : 1);
			assert_non_null(frame);
			memcpy(frame, rframe, rframe_len);
			got = xf_match_eval(&m, &s, frame, rframe_len);
			free(frame);
			want = tree_eval(t, root, &s);
			for (int i = 0; i < n; i++)
				if (t[i].kind == N_LEAF && t[i].lk == L_RAW)
					*(raw_eval(&t[i], &s) ? &raw_true : &raw_false) += 1;
			if (got != want) {
				char f[8192];

				xf_match_format(&m, f, sizeof(f));
				fail_msg("'%s' (compiled:\n%s\n) says %d, the tree %d", text, f, got,
					 want);
			}
		}
	}
	print_message("random: %d compiled, %d too complex; raw tests %d true, %d false\n",
		      compiled, complex, raw_true, raw_false);
	assert_true(compiled >= 250);
	assert_true(raw_true > 1000 && raw_false > 1000); /* both outcomes exercised */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_number_ops),
		cmocka_unit_test(test_number_reversed),
		cmocka_unit_test(test_number_literals),
		cmocka_unit_test(test_out_of_range_rejected),
		cmocka_unit_test(test_out_of_range_on_the_left),
		cmocka_unit_test(test_width_edges),
		cmocka_unit_test(test_sets_and_ranges),
		cmocka_unit_test(test_named_constants),
		cmocka_unit_test(test_every_named_constant),
		cmocka_unit_test(test_bool_bare),
		cmocka_unit_test(test_bool_compare),
		cmocka_unit_test(test_bit_view_compare),
		cmocka_unit_test(test_tcp_flags),
		cmocka_unit_test(test_has_any_on_numbers),
		cmocka_unit_test(test_ipv4_cidr),
		cmocka_unit_test(test_ipv6_cidr),
		cmocka_unit_test(test_address_ne_needs_layer),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_layer_words),
		cmocka_unit_test(test_linear_tot_len),
		cmocka_unit_test(test_linear_ping_of_death),
		cmocka_unit_test(test_linear_udp_len),
		cmocka_unit_test(test_linear_ops_and_land),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_symbol_operators),
		cmocka_unit_test(test_de_morgan),
		cmocka_unit_test(test_absent_layers),
		cmocka_unit_test(test_raw_l4_dns),
		cmocka_unit_test(test_raw_l3),
		cmocka_unit_test(test_raw_l2),
		cmocka_unit_test(test_raw_out_of_frame),
		cmocka_unit_test(test_raw_absent_layer),
		cmocka_unit_test(test_raw_negation),
		cmocka_unit_test(test_raw_catalog_rules),
		cmocka_unit_test(test_raw_compiled),
		cmocka_unit_test(test_err_raw),
		cmocka_unit_test(test_err_empty),
		cmocka_unit_test(test_err_unknown_field),
		cmocka_unit_test(test_err_unknown_character),
		cmocka_unit_test(test_err_bare_number_field),
		cmocka_unit_test(test_err_missing_value),
		cmocka_unit_test(test_err_addresses),
		cmocka_unit_test(test_err_empty_range),
		cmocka_unit_test(test_err_parens_and_trailing),
		cmocka_unit_test(test_err_operator_types),
		cmocka_unit_test(test_err_linear_fields),
		cmocka_unit_test(test_err_nesting),
		cmocka_unit_test(test_err_too_complex),
		cmocka_unit_test(test_err_too_many_terms),
		cmocka_unit_test(test_huge_constants),
		cmocka_unit_test(test_error_state),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_format_names_fields),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_random_against_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
