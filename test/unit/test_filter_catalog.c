/* Unit tests for filter/catalog.c: the patch catalog of the emergency XDP
 * filters. The table must be complete (every field, every rule compiles,
 * unique ids and aliases, the sanity set is exactly the Linux receive-path
 * checks), lookups must work by id and alias in any case, and the rules must
 * do what their titles say: each case below builds a malicious frame by hand,
 * byte by byte, and its well-formed twin (the same frame with the one field
 * fixed), and runs the entry's rule on both through the reference summarizer
 * and evaluator. test/integration/filter_frames.py has a frame pair for every
 * entry; these are the ones whose lie is easiest to see in bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "catalog.h"
#include "eval.h"
#include "lang.h"
#include "summary.h"

/* ---- the table ----------------------------------------------------------- */

static void test_every_rule_compiles(void **state)
{
	(void)state;
	for (size_t i = 0; i < xf_catalog_len; i++) {
		struct xf_match m;
		struct xf_error e = { 0 };
		int err = xf_compile(xf_catalog[i].rule, &m, &e);

		if (err)
			fail_msg("%s: column %d: %s", xf_catalog[i].id, e.col, e.msg);
		assert_true(m.nconj >= 1 && m.nconj <= XF_MAX_CONJ);
	}
}

static void nonempty(const char *id, const char *what, const char *s)
{
	if (!s || !*s)
		fail_msg("%s: empty %s", id, what);
}

/* Aliases: NULL, or ids separated by single commas, no spaces. */
static void check_aliases(const struct xf_catalog_entry *e)
{
	const char *p = e->aliases;

	if (!p)
		return;
	nonempty(e->id, "aliases", p);
	assert_null(strchr(p, ' '));
	assert_true(p[0] != ',' && p[strlen(p) - 1] != ',');
	assert_null(strstr(p, ",,"));
}

static void test_every_field_is_filled_in(void **state)
{
	(void)state;
	for (size_t i = 0; i < xf_catalog_len; i++) {
		const struct xf_catalog_entry *e = &xf_catalog[i];

		nonempty(e->id, "id", e->id);
		nonempty(e->id, "title", e->title);
		nonempty(e->id, "rule", e->rule);
		nonempty(e->id, "source", e->source);
		nonempty(e->id, "risk", e->risk);
		check_aliases(e);
		assert_null(strchr(e->title, '\n'));
		assert_true((int)e->action >= 0 && e->action < XF_ACT_MAX);
		assert_true(e->scope && !(e->scope & ~(XF_SCOPE_UPLINK | XF_SCOPE_PODS)));
		assert_string_not_equal(xf_catalog_action_name(e->action), "?");
	}
}

/* Every id and alias of the table, as separate strings. */
static size_t all_ids(char ids[][64], size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < xf_catalog_len; i++) {
		const char *p = xf_catalog[i].aliases;

		assert_true(n < max && strlen(xf_catalog[i].id) < 64);
		strcpy(ids[n++], xf_catalog[i].id);
		while (p && *p) {
			size_t k = strcspn(p, ",");

			assert_true(n < max && k < 64);
			memcpy(ids[n], p, k);
			ids[n++][k] = 0;
			p += k + (p[k] == ',');
		}
	}
	return n;
}

static void test_ids_and_aliases_are_unique(void **state)
{
	static char ids[256][64];
	size_t n = all_ids(ids, 256);

	(void)state;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (!strcasecmp(ids[i], ids[j]))
				fail_msg("%s appears twice", ids[i]);
}

static void test_size(void **state)
{
	size_t sanity = 0;

	(void)state;
	assert_true(xf_catalog_len >= 24);
	for (size_t i = 0; i < xf_catalog_len; i++)
		sanity += xf_catalog[i].sanity;
	assert_true(sanity >= 6);
}

/* Sanity mode must drop only what a Linux receiver drops itself: exactly
 * these entries, no more (a new one needs a receive-path check to cite). */
static void test_the_sanity_set(void **state)
{
	static const char *const want[] = {
		"MALF-IPV4-IHL-LT5", "MALF-IPV4-VERSION", "MALF-IPV4-TOTLEN-LT-HLEN",
		"MALF-IPV4-TOTLEN-GT-FRAME", "MALF-IPV6-PLEN", "MALF-TCP-DOFF-LT5",
		"MALF-TCP-DOFF-PAST-END", "MALF-UDP-LEN",
	};
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < xf_catalog_len; i++)
		n += xf_catalog[i].sanity;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct xf_catalog_entry *e = xf_catalog_find(want[i]);

		assert_non_null(e);
		if (!e->sanity)
			fail_msg("%s is not marked sanity", want[i]);
		assert_int_equal(e->action, XF_ACT_DROP);
	}
}

/* Rogue RAs come from pods: on the uplink the node's routers send them. */
static void test_scopes(void **state)
{
	(void)state;
	for (size_t i = 0; i < xf_catalog_len; i++) {
		const struct xf_catalog_entry *e = &xf_catalog[i];
		unsigned want = strcmp(e->id, "CVE-2020-10749") ? XF_SCOPE_UPLINK | XF_SCOPE_PODS
							       : XF_SCOPE_PODS;

		if (e->scope != want)
			fail_msg("%s: scope %s", e->id, xf_catalog_scope_name(e->scope));
	}
	assert_string_equal(xf_catalog_scope_name(XF_SCOPE_PODS), "pods");
	assert_string_equal(xf_catalog_scope_name(XF_SCOPE_UPLINK | XF_SCOPE_PODS), "uplink,pods");
}

static void test_find(void **state)
{
	const struct xf_catalog_entry *sack = xf_catalog_find("CVE-2019-11477");

	(void)state;
	assert_non_null(sack);
	assert_string_equal(sack->id, "CVE-2019-11477");
	assert_ptr_equal(xf_catalog_find("cve-2019-11477"), sack);
	assert_ptr_equal(xf_catalog_find("CVE-2019-11478"), sack);
	assert_ptr_equal(xf_catalog_find("cve-2019-11479"), sack);
	assert_ptr_equal(xf_catalog_find("malf-ipv4-ihl-lt5"), xf_catalog_find("MALF-IPV4-IHL-LT5"));
	assert_non_null(xf_catalog_find("Malf-Tcp-Opt-Overrun"));
	assert_string_equal(xf_catalog_find("Malf-Tcp-Opt-Overrun")->id, "CVE-2020-24337");
	/* Neither prefixes nor pieces of the alias list. */
	assert_null(xf_catalog_find("CVE-2019-1147"));
	assert_null(xf_catalog_find("CVE-2019-114777"));
	assert_null(xf_catalog_find("CVE-2019-11478,CVE-2019-11479"));
	assert_null(xf_catalog_find(""));
	assert_null(xf_catalog_find(NULL));
	/* Every id and alias finds its own entry. */
	for (size_t i = 0; i < xf_catalog_len; i++)
		assert_ptr_equal(xf_catalog_find(xf_catalog[i].id), &xf_catalog[i]);
}

/* ---- frames -------------------------------------------------------------- */

#include "testframe.h"

static void eth(struct fr *f, unsigned type)
{
	static const unsigned char macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };

	memset(f, 0, sizeof(*f));
	put(f, macs, sizeof(macs));
	put16(f, type);
}

/* 10.200.0.1 -> dst, no options, no fragment bits, ttl 64. */
static void ip4_to(struct fr *f, unsigned proto, uint32_t dst)
{
	eth(f, 0x0800);
	f->l3 = f->n;
	put8(f, 0x45);
	put8(f, 0);
	put16(f, 0);                /* total length: done() */
	put16(f, 0x4242);
	put16(f, 0);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, 0x0ac80001);
	put32(f, dst);
	f->l4 = f->n;
}

static void ip4(struct fr *f, unsigned proto)
{
	ip4_to(f, proto, 0x0ac80002);
}

/* fd00:200::1 -> fd00:200::2 (or ff02::1 for ND), hop limit 255. */
static void ip6(struct fr *f, unsigned nh, bool all_nodes)
{
	eth(f, 0x86dd);
	f->l3 = f->n;
	f->v6 = 1;
	put32(f, 0x60000000);
	put16(f, 0);                /* payload length: done() */
	put8(f, nh);
	put8(f, 255);
	put32(f, 0xfd000200);
	fill(f, 0, 11);
	put8(f, 1);
	put32(f, all_nodes ? 0xff020000 : 0xfd000200);
	fill(f, 0, 11);
	put8(f, all_nodes ? 1 : 2);
	f->l4 = f->n;
}

/* 40000 -> 80, options of optlen bytes (a multiple of 4). */
static void tcp(struct fr *f, unsigned flags, const unsigned char *opt, size_t optlen)
{
	f->l4 = f->n;
	put16(f, 40000);
	put16(f, 80);
	put32(f, 1);
	put32(f, flags & 0x10 ? 1 : 0);
	put8(f, (5 + optlen / 4) << 4);
	put8(f, flags);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
	if (optlen)
		put(f, opt, optlen);
}

/* 40000 -> 53 with n payload bytes; length and a checksum filled in. */
static void udp(struct fr *f, size_t n)
{
	f->l4 = f->n;
	put16(f, 40000);
	put16(f, 53);
	put16(f, 8 + n);
	put16(f, 0x1234);
	fill(f, 'x', n);
}

/* The IP length field from the bytes so far: the frame is well formed. */
static void done(struct fr *f)
{
	if (f->v6)
		set16(f, f->l3 + 4, f->n - f->l3 - 40);
	else
		set16(f, f->l3 + 2, f->n - f->l3);
}

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };

/* Each builder makes the well-formed twin, or with bad the malicious frame:
 * the same bytes with one field changed. */

static void f_sack(struct fr *f, bool bad)
{
	unsigned mss = bad ? 48 : 1460;
	const unsigned char opt[8] = { 2, 4, mss >> 8, mss & 0xff, 4, 2, 1, 1 };

	ip4(f, 6);
	tcp(f, TCP_SYN, opt, sizeof(opt));
	done(f);
}

static void f_udp4(struct fr *f)
{
	ip4(f, 17);
	udp(f, 8);
	done(f);
}

static void f_ihl(struct fr *f, bool bad)
{
	f_udp4(f);
	if (bad)
		f->b[f->l3] = 0x44;
}

static void f_version(struct fr *f, bool bad)
{
	f_udp4(f);
	if (bad)
		f->b[f->l3] = 0x65;
}

static void f_totlen_short(struct fr *f, bool bad)
{
	f_udp4(f);
	if (bad)
		set16(f, f->l3 + 2, 16);
}

static void f_totlen_long(struct fr *f, bool bad)
{
	f_udp4(f);
	if (bad)
		set16(f, f->l3 + 2, 1400);
}

static void f_fragbits(struct fr *f, bool bad)
{
	f_udp4(f);
	set16(f, f->l3 + 6, bad ? 0x6000 : 0x4000);   /* DF+MF : DF */
}

/* The last fragment of an echo request, 100 bytes of data at offset
 * 8189 * 8 (ends at 65632) or 8000 * 8 (ends at 64120). */
static void f_pod(struct fr *f, bool bad)
{
	ip4(f, 1);
	fill(f, 'A', 100);
	done(f);
	set16(f, f->l3 + 6, bad ? 8189 : 8000);
}

/* UDP after a routing header with one address: type 0 or 2. */
static void f_rh0(struct fr *f, bool bad)
{
	ip6(f, 43, false);
	put8(f, 17);
	put8(f, 2);
	put8(f, bad ? 0 : 2);
	put8(f, 1);
	fill(f, 0, 4);
	put32(f, 0xfd000200);
	fill(f, 0, 11);
	put8(f, 9);
	udp(f, 8);
	done(f);
}

static void f_plen(struct fr *f, bool bad)
{
	ip6(f, 17, false);
	udp(f, 8);
	done(f);
	if (bad)
		set16(f, f->l3 + 4, 1000);
}

/* A Router Advertisement with one RDNSS server: length 3 (8 + 16 bytes),
 * or 4 with 8 bytes more, the Bad Neighbor shape. */
static void f_rdnss(struct fr *f, bool bad)
{
	ip6(f, 58, true);
	f->l4 = f->n;
	put8(f, 134);
	put8(f, 0);
	put16(f, 0);
	put32(f, 64 << 24);         /* hop limit 64, flags 0, lifetime 0 */
	fill(f, 0, 8);              /* reachable, retrans */
	put8(f, 25);
	put8(f, bad ? 4 : 3);
	put16(f, 0);
	put32(f, 3600);
	put32(f, 0xfd000200);
	fill(f, 0, 10);
	put16(f, 0x53);
	if (bad)
		fill(f, 0, 8);
	done(f);
}

static void f_tcp4(struct fr *f, unsigned flags)
{
	ip4(f, 6);
	tcp(f, flags, NULL, 0);
	done(f);
}

static void f_doff_lt5(struct fr *f, bool bad)
{
	f_tcp4(f, TCP_SYN);
	if (bad)
		f->b[f->l4 + 12] = 4 << 4;
}

static void f_doff_past(struct fr *f, bool bad)
{
	f_tcp4(f, TCP_SYN);
	if (bad)
		f->b[f->l4 + 12] = 15 << 4;
}

/* Option kind 0xfd (experimental) with length 0: the zero-length loop. */
static void f_zero_opt(struct fr *f, bool bad)
{
	static const unsigned char zero_len[4] = { 0xfd, 0, 0, 0 };
	static const unsigned char nops[4] = { 1, 1, 1, 0 };

	ip4(f, 6);
	tcp(f, TCP_SYN, bad ? zero_len : nops, 4);
	done(f);
}

static void f_flags(struct fr *f, bool bad)
{
	f_tcp4(f, bad ? TCP_SYN | TCP_FIN : TCP_SYN);
}

static void f_port0(struct fr *f, bool bad)
{
	f_tcp4(f, TCP_SYN);
	if (bad)
		set16(f, f->l4 + 2, 0);
}

static void f_udp_len(struct fr *f, bool bad)
{
	f_udp4(f);
	if (bad)
		set16(f, f->l4 + 4, 4);
}

static void f_udp6_csum(struct fr *f, bool bad)
{
	ip6(f, 17, false);
	udp(f, 8);
	done(f);
	if (bad)
		set16(f, f->l4 + 6, 0);
}

static void f_proto0(struct fr *f, bool bad)
{
	ip4(f, bad ? 0 : 17);
	udp(f, 8);
	done(f);
}

static void f_localnet(struct fr *f, bool bad)
{
	ip4_to(f, 6, bad ? 0x7f000001 : 0x0ac80002);
	tcp(f, TCP_SYN, NULL, 0);
	done(f);
	set16(f, f->l4 + 2, 10248);
}

static const struct frame_case {
	const char *id;
	void (*build)(struct fr *f, bool bad);
} frame_cases[] = {
	{ "CVE-2019-11477", f_sack },
	{ "MALF-IPV4-IHL-LT5", f_ihl },
	{ "MALF-IPV4-VERSION", f_version },
	{ "MALF-IPV4-TOTLEN-LT-HLEN", f_totlen_short },
	{ "MALF-IPV4-TOTLEN-GT-FRAME", f_totlen_long },
	{ "MALF-IPV4-FRAGBITS", f_fragbits },
	{ "CVE-1999-0128", f_pod },
	{ "CVE-2007-2242", f_rh0 },
	{ "MALF-IPV6-PLEN", f_plen },
	{ "CVE-2020-16898", f_rdnss },
	{ "MALF-TCP-DOFF-LT5", f_doff_lt5 },
	{ "MALF-TCP-DOFF-PAST-END", f_doff_past },
	{ "CVE-2020-24337", f_zero_opt },
	{ "MALF-TCP-FLAGS", f_flags },
	{ "MALF-L4-PORT0", f_port0 },
	{ "MALF-UDP-LEN", f_udp_len },
	{ "MALF-UDP6-ZERO-CSUM", f_udp6_csum },
	{ "CVE-2023-1668", f_proto0 },
	{ "CVE-2020-8558", f_localnet },
};

/* Does entry id's rule match frame f? */
static bool matches(const char *id, const struct fr *f)
{
	const struct xf_catalog_entry *e = xf_catalog_find(id);
	struct xf_summary s;
	struct xf_match m;
	struct xf_error err;

	if (!e)
		fail_msg("no catalog entry %s", id);
	assert_int_equal(xf_compile(e->rule, &m, &err), 0);
	xf_summarize(f->b, f->n, &s);
	return xf_match_eval(&m, &s, f->b, f->n);
}

static void test_malicious_frames_match_twins_do_not(void **state)
{
	static struct fr f;

	(void)state;
	for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *c = &frame_cases[i];

		c->build(&f, true);
		if (!matches(c->id, &f))
			fail_msg("%s: the malicious frame does not match", c->id);
		c->build(&f, false);
		if (matches(c->id, &f))
			fail_msg("%s: the well-formed twin matches", c->id);
	}
}

/* ---- sanity mode leaves legal packets alone ------------------------------ */

/* The first fragment of a 2000-byte UDP datagram: its UDP length is beyond
 * this fragment's payload, which is legal (checked after reassembly). */
static void f_udp_first_frag(struct fr *f)
{
	ip4(f, 17);
	udp(f, 1000);
	set16(f, f->l4 + 4, 2000);
	done(f);
	set16(f, f->l3 + 6, 0x2000);    /* MF, offset 0 */
}

/* The same over IPv6, with a fragment header. */
static void f_udp6_first_frag(struct fr *f)
{
	ip6(f, 44, false);
	put8(f, 17);
	put8(f, 0);
	put16(f, 1);                     /* offset 0, M */
	put32(f, 0xcafe);
	udp(f, 1000);
	set16(f, f->l4 + 4, 2000);
	done(f);
}

/* IPv6 UDP with length 0: a jumbogram's UDP length, which Linux accepts. */
static void f_udp6_len0(struct fr *f)
{
	ip6(f, 17, false);
	udp(f, 8);
	set16(f, f->l4 + 4, 0);
	done(f);
}

/* A minimum-size Ethernet frame: 6 bytes of padding after a UDP packet. */
static void f_padded(struct fr *f)
{
	f_udp4(f);
	fill(f, 0, 60 - f->n);
}

/* A TCP first fragment with a whole header and a short payload. */
static void f_tcp_first_frag(struct fr *f)
{
	ip4(f, 6);
	tcp(f, TCP_ACK | TCP_PSH, NULL, 0);
	fill(f, 'y', 16);
	done(f);
	set16(f, f->l3 + 6, 0x2000);
}

static void test_sanity_rules_leave_legal_packets_alone(void **state)
{
	static void (*const legal[])(struct fr *f) = {
		f_udp_first_frag, f_udp6_first_frag, f_udp6_len0, f_padded, f_tcp_first_frag,
	};
	static struct fr f;

	(void)state;
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++) {
		legal[i](&f);
		for (size_t j = 0; j < xf_catalog_len; j++)
			if (xf_catalog[j].sanity && matches(xf_catalog[j].id, &f))
				fail_msg("legal frame %zu matches %s", i, xf_catalog[j].id);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_rule_compiles),
		cmocka_unit_test(test_every_field_is_filled_in),
		cmocka_unit_test(test_ids_and_aliases_are_unique),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_the_sanity_set),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_malicious_frames_match_twins_do_not),
		cmocka_unit_test(test_sanity_rules_leave_legal_packets_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
