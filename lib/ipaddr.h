/* ipaddr: one IPv4/IPv6 address type for the CNI plugin and IPAM.
 * Owns parsing and formatting of addresses and CIDRs, and the arithmetic the
 * allocator needs (increment, compare, prefix containment). No allocation. */
#ifndef XDPATH_CNI_IPADDR_H
#define XDPATH_CNI_IPADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define IPADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define CIDR_STRLEN   50

struct ipaddr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t b[16];       /* network byte order; IPv4 uses b[0..3] */
};

struct ipnet {
	struct ipaddr ip;
	int prefix;          /* 0..32 or 0..128 */
};

static inline int ipaddr_len(const struct ipaddr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

static inline int ipaddr_bits(const struct ipaddr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

/* Parse "10.0.0.1" or "fd00::1". Returns 0 or -1. */
int ipaddr_parse(const char *s, struct ipaddr *out);
/* Parse "10.0.0.0/24". Host bits are kept as given. Returns 0 or -1. */
int ipnet_parse(const char *s, struct ipnet *out);
/* Format into buf (at least IPADDR_STRLEN / CIDR_STRLEN bytes); returns buf. */
const char *ipaddr_fmt(const struct ipaddr *a, char *buf);
const char *ipnet_fmt(const struct ipnet *n, char *buf);

int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b);
bool ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b);
/* a += 1; returns -1 on wrap past the all-ones address. */
int ipaddr_inc(struct ipaddr *a);
/* a -= 1; returns -1 on wrap below the all-zeros address. */
int ipaddr_dec(struct ipaddr *a);
/* The network address (host bits cleared) and the last address of n. */
void ipnet_first(const struct ipnet *n, struct ipaddr *out);
void ipnet_last(const struct ipnet *n, struct ipaddr *out);
bool ipnet_has_host_bits(const struct ipnet *n);
bool ipnet_contains(const struct ipnet *n, const struct ipaddr *a);
bool ipnet_overlap(const struct ipnet *a, const struct ipnet *b);

#endif
