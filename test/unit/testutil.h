/* testutil: helpers shared by the cmocka unit tests (include after cmocka.h). */
#ifndef XDPATH_TEST_TESTUTIL_H
#define XDPATH_TEST_TESTUTIL_H

#include "ipaddr.h"

/* An address or CIDR literal that must parse. */
static inline struct ipaddr A(const char *s)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(s, &a), 0);
	return a;
}

static inline struct ipnet N(const char *s)
{
	struct ipnet n;

	assert_int_equal(ipnet_parse(s, &n), 0);
	return n;
}

#endif
