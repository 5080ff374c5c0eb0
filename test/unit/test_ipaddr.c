/* Unit tests for cni/ipaddr.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "ipaddr.h"


static void assert_addr(const struct ipaddr *a, const char *want)
{
	char buf[IPADDR_STRLEN];

	assert_string_equal(ipaddr_fmt(a, buf), want);
}

static void test_parse_v4(void **state)
{
	struct ipaddr a;

	(void)state;
	assert_int_equal(ipaddr_parse("10.1.2.3", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.b[0], 10);
	assert_int_equal(a.b[3], 3);
	assert_int_equal(ipaddr_len(&a), 4);
	assert_int_equal(ipaddr_bits(&a), 32);
	assert_addr(&a, "10.1.2.3");
	assert_int_equal(ipaddr_parse("0.0.0.0", &a), 0);
	assert_int_equal(ipaddr_parse("255.255.255.255", &a), 0);

	assert_int_equal(ipaddr_parse("10.1.2", &a), -1);
	assert_int_equal(ipaddr_parse("10.1.2.256", &a), -1);
	assert_int_equal(ipaddr_parse("10.1.2.3/24", &a), -1);
	assert_int_equal(ipaddr_parse(" 10.1.2.3", &a), -1);
	assert_int_equal(ipaddr_parse("", &a), -1);
	assert_int_equal(ipaddr_parse(NULL, &a), -1);
	assert_int_equal(ipaddr_parse("foo", &a), -1);
}

static void test_parse_v6(void **state)
{
	struct ipaddr a;

	(void)state;
	assert_int_equal(ipaddr_parse("fd00::1", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.b[0], 0xfd);
	assert_int_equal(a.b[15], 1);
	assert_int_equal(ipaddr_len(&a), 16);
	assert_int_equal(ipaddr_bits(&a), 128);
	/* Formatting is the normal (RFC 5952) text form. */
	a = A("FD00:0:0:0:0:0:0:00AB");
	assert_addr(&a, "fd00::ab");
	a = A("::");
	assert_addr(&a, "::");
	a = A("2001:db8:0:1:1:1:1:1");
	assert_addr(&a, "2001:db8:0:1:1:1:1:1");

	assert_int_equal(ipaddr_parse("fd00:::1", &a), -1);
	assert_int_equal(ipaddr_parse("fd00::1%eth0", &a), -1);
	assert_int_equal(ipaddr_parse("fd00::g", &a), -1);
}

static void test_parse_cidr(void **state)
{
	char buf[CIDR_STRLEN];
	struct ipnet n;

	(void)state;
	assert_int_equal(ipnet_parse("10.1.0.0/24", &n), 0);
	assert_int_equal(n.prefix, 24);
	assert_string_equal(ipnet_fmt(&n, buf), "10.1.0.0/24");
	/* Host bits are kept as given. */
	assert_int_equal(ipnet_parse("10.1.0.7/24", &n), 0);
	assert_string_equal(ipnet_fmt(&n, buf), "10.1.0.7/24");
	assert_true(ipnet_has_host_bits(&n));
	assert_int_equal(ipnet_parse("0.0.0.0/0", &n), 0);
	assert_int_equal(n.prefix, 0);
	assert_int_equal(ipnet_parse("10.0.0.1/32", &n), 0);
	assert_int_equal(ipnet_parse("fd00::/64", &n), 0);
	assert_string_equal(ipnet_fmt(&n, buf), "fd00::/64");
	assert_int_equal(ipnet_parse("::1/128", &n), 0);
	assert_int_equal(n.prefix, 128);

	assert_int_equal(ipnet_parse("10.0.0.0/33", &n), -1);
	assert_int_equal(ipnet_parse("fd00::/129", &n), -1);
	assert_int_equal(ipnet_parse("10.0.0.0/-1", &n), -1);
	assert_int_equal(ipnet_parse("10.0.0.0/+8", &n), -1);
	assert_int_equal(ipnet_parse("10.0.0.0/", &n), -1);
	assert_int_equal(ipnet_parse("10.0.0.0", &n), -1);
	assert_int_equal(ipnet_parse("/24", &n), -1);
	assert_int_equal(ipnet_parse("10.0.0.0/24x", &n), -1);
	assert_int_equal(ipnet_parse("10.0.0.0/2 4", &n), -1);
	assert_int_equal(ipnet_parse("x/24", &n), -1);
	assert_int_equal(ipnet_parse(NULL, &n), -1);
	assert_int_equal(ipnet_parse("1111:2222:3333:4444:5555:6666:7777:8888:9999/64", &n), -1);
}

static void test_cmp(void **state)
{
	struct ipaddr a = A("10.0.0.1"), b = A("10.0.0.2"), c = A("10.0.0.1"), d = A("::1");

	(void)state;
	assert_true(ipaddr_cmp(&a, &b) < 0);
	assert_true(ipaddr_cmp(&b, &a) > 0);
	assert_int_equal(ipaddr_cmp(&a, &c), 0);
	assert_true(ipaddr_equal(&a, &c));
	assert_false(ipaddr_equal(&a, &b));
	/* Different families never compare equal. */
	assert_true(ipaddr_cmp(&a, &d) != 0);
	assert_false(ipaddr_equal(&a, &d));
	a = A("9.255.255.255");
	b = A("10.0.0.0");
	assert_true(ipaddr_cmp(&a, &b) < 0);
}

static void test_inc_dec(void **state)
{
	struct ipaddr a;

	(void)state;
	a = A("10.0.0.1");
	assert_int_equal(ipaddr_inc(&a), 0);
	assert_addr(&a, "10.0.0.2");
	a = A("10.0.0.255");
	assert_int_equal(ipaddr_inc(&a), 0);
	assert_addr(&a, "10.0.1.0");
	a = A("10.255.255.255");
	assert_int_equal(ipaddr_inc(&a), 0);
	assert_addr(&a, "11.0.0.0");
	a = A("255.255.255.255");
	assert_int_equal(ipaddr_inc(&a), -1);
	assert_addr(&a, "0.0.0.0");

	a = A("fd00::ffff");
	assert_int_equal(ipaddr_inc(&a), 0);
	assert_addr(&a, "fd00::1:0");
	a = A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(ipaddr_inc(&a), -1);
	assert_addr(&a, "::");

	a = A("10.0.1.0");
	assert_int_equal(ipaddr_dec(&a), 0);
	assert_addr(&a, "10.0.0.255");
	a = A("0.0.0.0");
	assert_int_equal(ipaddr_dec(&a), -1);
	assert_addr(&a, "255.255.255.255");
	a = A("fd00::1:0");
	assert_int_equal(ipaddr_dec(&a), 0);
	assert_addr(&a, "fd00::ffff");
	a = A("::");
	assert_int_equal(ipaddr_dec(&a), -1);
	assert_addr(&a, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_first_last(void **state)
{
	struct ipaddr a;
	struct ipnet n;

	(void)state;
	n = N("10.1.2.3/24");
	ipnet_first(&n, &a);
	assert_addr(&a, "10.1.2.0");
	ipnet_last(&n, &a);
	assert_addr(&a, "10.1.2.255");
	n = N("10.1.2.3/21");
	ipnet_first(&n, &a);
	assert_addr(&a, "10.1.0.0");
	ipnet_last(&n, &a);
	assert_addr(&a, "10.1.7.255");
	n = N("10.1.2.3/32");
	ipnet_first(&n, &a);
	assert_addr(&a, "10.1.2.3");
	ipnet_last(&n, &a);
	assert_addr(&a, "10.1.2.3");
	n = N("10.1.2.3/0");
	ipnet_first(&n, &a);
	assert_addr(&a, "0.0.0.0");
	ipnet_last(&n, &a);
	assert_addr(&a, "255.255.255.255");

	n = N("fd00:1:2:3::5/64");
	ipnet_first(&n, &a);
	assert_addr(&a, "fd00:1:2:3::");
	ipnet_last(&n, &a);
	assert_addr(&a, "fd00:1:2:3:ffff:ffff:ffff:ffff");
	n = N("fd00::1:2/120");
	ipnet_last(&n, &a);
	assert_addr(&a, "fd00::1:ff");
	n = N("fd00::5/128");
	ipnet_first(&n, &a);
	assert_addr(&a, "fd00::5");
	ipnet_last(&n, &a);
	assert_addr(&a, "fd00::5");
	n = N("fd00::5/0");
	ipnet_first(&n, &a);
	assert_addr(&a, "::");
	ipnet_last(&n, &a);
	assert_addr(&a, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_host_bits(void **state)
{
	struct ipnet n;

	(void)state;
	n = N("10.1.0.0/24");
	assert_false(ipnet_has_host_bits(&n));
	n = N("10.1.0.128/24");
	assert_true(ipnet_has_host_bits(&n));
	n = N("10.1.0.128/25");
	assert_false(ipnet_has_host_bits(&n));
	n = N("10.1.0.1/32");
	assert_false(ipnet_has_host_bits(&n));
	n = N("0.0.0.0/0");
	assert_false(ipnet_has_host_bits(&n));
	n = N("1.0.0.0/0");
	assert_true(ipnet_has_host_bits(&n));
	n = N("fd00::/64");
	assert_false(ipnet_has_host_bits(&n));
	n = N("fd00::1/64");
	assert_true(ipnet_has_host_bits(&n));
	n = N("fd00::1/128");
	assert_false(ipnet_has_host_bits(&n));
}

static void test_contains(void **state)
{
	struct ipnet n;
	struct ipaddr a;

	(void)state;
	n = N("10.1.0.0/24");
	a = A("10.1.0.0");
	assert_true(ipnet_contains(&n, &a));
	a = A("10.1.0.255");
	assert_true(ipnet_contains(&n, &a));
	a = A("10.1.1.0");
	assert_false(ipnet_contains(&n, &a));
	a = A("10.0.255.255");
	assert_false(ipnet_contains(&n, &a));
	a = A("::ffff:10.1.0.1");
	assert_false(ipnet_contains(&n, &a));

	n = N("0.0.0.0/0");
	a = A("255.255.255.255");
	assert_true(ipnet_contains(&n, &a));
	a = A("::");
	assert_false(ipnet_contains(&n, &a));
	n = N("10.1.0.5/32");
	a = A("10.1.0.5");
	assert_true(ipnet_contains(&n, &a));
	a = A("10.1.0.6");
	assert_false(ipnet_contains(&n, &a));

	n = N("fd00::/120");
	a = A("fd00::ff");
	assert_true(ipnet_contains(&n, &a));
	a = A("fd00::100");
	assert_false(ipnet_contains(&n, &a));
	a = A("10.0.0.1");
	assert_false(ipnet_contains(&n, &a));
	n = N("::/0");
	a = A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_true(ipnet_contains(&n, &a));
	n = N("fd00::7/128");
	a = A("fd00::7");
	assert_true(ipnet_contains(&n, &a));
	a = A("fd00::8");
	assert_false(ipnet_contains(&n, &a));
}

static void test_overlap(void **state)
{
	struct ipnet a, b;

	(void)state;
	a = N("10.1.0.0/24");
	b = N("10.1.0.128/25");
	assert_true(ipnet_overlap(&a, &b));
	assert_true(ipnet_overlap(&b, &a));
	b = N("10.1.1.0/24");
	assert_false(ipnet_overlap(&a, &b));
	b = N("10.0.0.0/8");
	assert_true(ipnet_overlap(&a, &b));
	assert_true(ipnet_overlap(&b, &a));
	b = N("0.0.0.0/0");
	assert_true(ipnet_overlap(&a, &b));
	b = N("10.1.0.255/32");
	assert_true(ipnet_overlap(&a, &b));
	b = N("10.1.1.0/32");
	assert_false(ipnet_overlap(&a, &b));
	/* Families never overlap, even ::/0 with 0.0.0.0/0. */
	a = N("0.0.0.0/0");
	b = N("::/0");
	assert_false(ipnet_overlap(&a, &b));

	a = N("fd00::/64");
	b = N("fd00::1:0/112");
	assert_true(ipnet_overlap(&a, &b));
	b = N("fd00:0:0:1::/64");
	assert_false(ipnet_overlap(&a, &b));
	b = N("fd00::5/128");
	assert_true(ipnet_overlap(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_cidr),
		cmocka_unit_test(test_cmp),
		cmocka_unit_test(test_inc_dec),
		cmocka_unit_test(test_first_last),
		cmocka_unit_test(test_host_bits),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_overlap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
