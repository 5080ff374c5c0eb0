/* ipaddr: parsing, formatting and arithmetic on IPv4/IPv6 addresses. */
#include "ipaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ipaddr_parse(const char *s, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return -1;
	if (inet_pton(AF_INET, s, out->b) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->b) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

int ipnet_parse(const char *s, struct ipnet *out)
{
	char buf[CIDR_STRLEN + 1];
	const char *slash;
	char *end;
	long p;

	memset(out, 0, sizeof(*out));
	if (!s || strlen(s) > CIDR_STRLEN)
		return -1;
	slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1])
		return -1;
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	if (ipaddr_parse(buf, &out->ip))
		return -1;
	p = strtol(slash + 1, &end, 10);
	if (*end || p < 0 || p > ipaddr_bits(&out->ip) || !(slash[1] >= '0' && slash[1] <= '9'))
		return -1;
	out->prefix = (int)p;
	return 0;
}

const char *ipaddr_fmt(const struct ipaddr *a, char *buf)
{
	if (!inet_ntop(a->family, a->b, buf, IPADDR_STRLEN))
		strcpy(buf, "?");
	return buf;
}

const char *ipnet_fmt(const struct ipnet *n, char *buf)
{
	char ip[IPADDR_STRLEN];

	snprintf(buf, CIDR_STRLEN, "%s/%d", ipaddr_fmt(&n->ip, ip), n->prefix);
	return buf;
}

int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->b, b->b, ipaddr_len(a));
}

bool ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b)
{
	return ipaddr_cmp(a, b) == 0;
}

int ipaddr_inc(struct ipaddr *a)
{
	for (int i = ipaddr_len(a) - 1; i >= 0; i--) {
		if (++a->b[i] != 0)
			return 0;
	}
	return -1;
}

int ipaddr_dec(struct ipaddr *a)
{
	for (int i = ipaddr_len(a) - 1; i >= 0; i--) {
		if (a->b[i]-- != 0)
			return 0;
	}
	return -1;
}

static void apply_mask(const struct ipnet *n, struct ipaddr *out, bool ones)
{
	int len = ipaddr_len(&n->ip);

	*out = n->ip;
	for (int i = 0; i < len; i++) {
		int bits = n->prefix - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));

		out->b[i] = ones ? (out->b[i] | (uint8_t)~mask) : (out->b[i] & mask);
	}
}

void ipnet_first(const struct ipnet *n, struct ipaddr *out)
{
	apply_mask(n, out, false);
}

void ipnet_last(const struct ipnet *n, struct ipaddr *out)
{
	apply_mask(n, out, true);
}

bool ipnet_has_host_bits(const struct ipnet *n)
{
	struct ipaddr first;

	ipnet_first(n, &first);
	return !ipaddr_equal(&first, &n->ip);
}

bool ipnet_contains(const struct ipnet *n, const struct ipaddr *a)
{
	struct ipaddr lo, hi;

	if (a->family != n->ip.family)
		return false;
	ipnet_first(n, &lo);
	ipnet_last(n, &hi);
	return ipaddr_cmp(a, &lo) >= 0 && ipaddr_cmp(a, &hi) <= 0;
}

bool ipnet_overlap(const struct ipnet *a, const struct ipnet *b)
{
	struct ipaddr a0, b0;

	if (a->ip.family != b->ip.family)
		return false;
	ipnet_first(a, &a0);
	ipnet_first(b, &b0);
	return ipnet_contains(a, &b0) || ipnet_contains(b, &a0);
}
