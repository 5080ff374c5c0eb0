/* testutil: helpers shared by the cmocka unit tests (include after cmocka.h). */
#ifndef XDPATH_TEST_TESTUTIL_H
#define XDPATH_TEST_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>

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

/* Write text to dir/name (created or truncated); the test fails if it cannot. */
static inline void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static inline int testutil_rm_entry(const char *path, const struct stat *sb, int type,
				    struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* rm -r path (a test's temporary directory), in teardowns that run even
 * when the test failed. */
static inline void remove_tree(const char *path)
{
	nftw(path, testutil_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
