/* ipam: the built-in address allocator ("ipam": {"type": "xdpath"}).
 *
 * Owns the ipam config section (host-local compatible range sets) and the
 * on-disk reservation store under <dataDir>/<network>/:
 *   lock                      flock(2) taken for every operation, bounded wait
 *   <ip>                      one file per reserved address: "<id>\n<ifname>\n"
 *   last_reserved_ip.<set>    round-robin cursor per range set
 *   attachments/<id>:<ifname> the addresses of one attachment, one per line;
 *                             written (atomically) before the <ip> files, so a
 *                             process killed mid-allocation leaves a record that
 *                             release() can undo without scanning.
 * Every call is O(1) in the number of reservations except gc() and status(). */
#ifndef XDPATH_CNI_IPAM_H
#define XDPATH_CNI_IPAM_H

#include <limits.h>
#include <stdbool.h>

#include "ipaddr.h"

struct json_object;

#define IPAM_MAX_SETS    4
#define IPAM_MAX_RANGES  8
#define IPAM_MAX_ROUTES  16
#define IPAM_NAME_MAX    128

struct ipam_range {
	struct ipnet subnet;      /* canonical: host bits clear */
	struct ipaddr start, end; /* inclusive, inside subnet */
	struct ipaddr gateway;    /* reserved, never allocated */
	bool has_gateway;
};

struct ipam_rangeset {
	struct ipam_range r[IPAM_MAX_RANGES];
	int n;
};

struct ipam_route {
	struct ipnet dst;
	struct ipaddr gw;
	bool has_gw;
};

struct ipam_config {
	char network[IPAM_NAME_MAX]; /* the config's "name" */
	char data_dir[PATH_MAX];     /* default IPAM_DEFAULT_DATA_DIR */
	struct ipam_rangeset sets[IPAM_MAX_SETS];
	int nsets;
	struct ipam_route routes[IPAM_MAX_ROUTES];
	int nroutes;
};

#define IPAM_DEFAULT_DATA_DIR "/run/xdpath/ipam"

struct ipam_lease {
	struct ipnet addr;        /* the address with its range's subnet prefix */
	struct ipaddr gateway;
	bool has_gateway;
	int set;                  /* index of the range set it came from */
};

struct ipam_store {
	int dirfd;                /* <dataDir>/<network> */
	int lockfd;
};

struct ipam_attachment {
	const char *id;
	const char *ifname;
};

/* Parse and validate the "ipam" object (type already known to be "xdpath").
 * Applies host-local's defaults (gateway = network+1, rangeStart = network+1,
 * rangeEnd = broadcast-1 / last address) and checks: subnet too small (> /30,
 * > /126), host bits set, start/end/gateway outside the subnet, start > end,
 * mixed families in a set, overlapping ranges. Returns 0, or -1 with a message
 * naming the offending field and value in err. */
int ipam_config_parse(struct json_object *ipam, const char *network, struct ipam_config *out,
		      char *err, size_t errlen);

/* Create the store directory if needed and take its lock, waiting at most
 * timeout_ms. -EAGAIN on timeout, other -errno on I/O failure. */
int ipam_open(const struct ipam_config *cfg, struct ipam_store *st, int timeout_ms);
void ipam_close(struct ipam_store *st);

/* One address per range set for (id, ifname). If that attachment already has
 * a reservation, the same addresses are returned. Allocation is round-robin
 * after last_reserved_ip, skipping gateways and reserved addresses.
 * -ENOSPC with "no IP addresses available in range set: A-B" in err. */
int ipam_alloc(struct ipam_store *st, const struct ipam_config *cfg, const char *id,
	       const char *ifname, struct ipam_lease *out, int *nout, char *err, size_t errlen);
/* The existing reservation, -ENOENT if none. */
int ipam_lookup(struct ipam_store *st, const struct ipam_config *cfg, const char *id,
		const char *ifname, struct ipam_lease *out, int *nout);
/* Free the attachment's addresses; 0 when there is nothing to free. */
int ipam_release(struct ipam_store *st, const char *id, const char *ifname);
/* Release every attachment not in valid[]. For each one released, calls
 * freed(id, ifname, ctx) (may be NULL). Continues past errors; returns the
 * first error or 0. */
int ipam_gc(struct ipam_store *st, const struct ipam_attachment *valid, int nvalid,
	    void (*freed)(const char *id, const char *ifname, void *ctx), void *ctx);
/* 0 if every range set still has a free address; -ENOSPC (message in err)
 * if one is exhausted; -errno if the store is unusable. */
int ipam_status(struct ipam_store *st, const struct ipam_config *cfg, char *err, size_t errlen);

#endif
