/* endpoint: the plugin's record of one attachment, on disk for the node
 * agent (<endpointDir>/<containerID>:<ifname>.json), plus the names and MACs
 * derived from (containerID, ifname) so that DEL and GC can find the host veth
 * with no state at all. */
#ifndef XDPATH_CNI_ENDPOINT_H
#define XDPATH_CNI_ENDPOINT_H

#include <limits.h>
#include <stdint.h>

#include "ipaddr.h"
#include "xdpath/endpoint.h"

#define ENDPOINT_MAX_IPS  4
#define ENDPOINT_NAME_MAX 128

struct endpoint {
	char container_id[256];
	char ifname[16];
	char network[ENDPOINT_NAME_MAX];
	char netns[PATH_MAX];
	char pod_namespace[256];
	char pod_name[256];
	char pod_uid[64];
	char host_ifname[16];
	int host_ifindex;
	uint8_t host_mac[6];
	int pod_ifindex;
	uint8_t pod_mac[6];
	int mtu;
	struct ipnet ips[ENDPOINT_MAX_IPS]; /* /32 and /128 */
	int nips;
};

/* prefix + 11 hex digits of a 64-bit FNV-1a hash of "id\0ifname". */
void endpoint_host_ifname(const char *prefix, const char *id, const char *ifname, char out[16]);
/* Locally administered unicast MACs, stable per attachment. */
void endpoint_macs(const char *id, const char *ifname, uint8_t host_mac[6], uint8_t pod_mac[6]);

/* The pod-side routing table of interface ifname: every attachment routes its
 * own source addresses through its own table, so two attachments of one pod
 * do not take each other's routes. */
#define XDP_POD_TABLE_BASE 0x78640000u
#define XDP_POD_RULE_PRIO  1000u
uint32_t endpoint_pod_table(const char *ifname);

/* Write atomically (temp file + rename); 0 or -errno. */
int endpoint_write(const char *dir, const struct endpoint *ep);
/* 0 (also when absent) or -errno. */
int endpoint_remove(const char *dir, const char *id, const char *ifname);
/* 0, -ENOENT, -EINVAL (unparsable) or -errno. */
int endpoint_read(const char *dir, const char *id, const char *ifname, struct endpoint *ep);
/* Calls fn for every record in dir, skipping files that are not records;
 * 0, fn's error, or -errno when a record could not be read (out of
 * descriptors, I/O: the walk stops, so callers never act on a partial
 * view). An absent dir is empty. */
int endpoint_foreach(const char *dir, int (*fn)(const struct endpoint *ep, void *ctx), void *ctx);

/* The datapath's map entries for this endpoint (see include/xdpath/endpoint.h). */
void endpoint_to_map(const struct endpoint *ep, int i, struct xdp_ep_key *key,
		     struct xdp_ep_info *info);

#endif
