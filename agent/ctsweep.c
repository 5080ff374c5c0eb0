/* ctsweep: removes expired connection-tracking entries. The datapath
 * already treats them as absent (xdp_ct_life_ns); removing them keeps the
 * LRU from evicting live connections to make room for dead ones. */
#include "ctsweep.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "xdpath/datapath.h"

#define CT_BATCH 4096

static __u64 mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (__u64)t.tv_sec * 1000000000ull + (__u64)t.tv_nsec;
}

/* Expired keys of one batch appended to doomed (room for n more). */
static size_t pick(const struct xdp_ct_key *k, const struct xdp_ct_entry *v, __u32 n, __u64 now,
		   struct xdp_ct_key *doomed)
{
	size_t d = 0;

	for (__u32 i = 0; i < n; i++)
		if (now - v[i].last_seen_ns > xdp_ct_life_ns(k[i].proto, v[i].flags))
			doomed[d++] = k[i];
	return d;
}

int ct_sweep(struct agent *a)
{
	int fd = loader_map_fd(&a->ld, XDP_PIN_CT);
	struct xdp_ct_key *keys = NULL, *doomed = NULL;
	struct xdp_ct_entry *vals = NULL;
	__u64 in = 0, out, now = mono_ns();
	void *inp = NULL;
	int removed = 0, err = 0;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	if (fd < 0)
		return fd;
	keys = calloc(CT_BATCH, sizeof(*keys));
	doomed = calloc(CT_BATCH, sizeof(*doomed));
	vals = calloc(CT_BATCH, sizeof(*vals));
	if (!keys || !doomed || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 n = CT_BATCH, nd;
		int r = bpf_map_lookup_batch(fd, inp, &out, keys, vals, &n, &opts);

		if (r && errno != ENOENT) {
			err = -errno;
			break;
		}
		nd = (__u32)pick(keys, vals, n, now, doomed);
		if (nd) {
			__u32 cnt = nd;

			/* An entry the datapath refreshed meanwhile is lost: it
			 * is re-created by its next packet's check. */
			if (bpf_map_delete_batch(fd, doomed, &cnt, &opts) && errno != ENOENT) {
				err = -errno;
				break;
			}
			removed += (int)cnt;
		}
		if (r) /* ENOENT: that was the last batch */
			break;
		in = out;
		inp = &in;
	}
out:
	free(keys);
	free(doomed);
	free(vals);
	if (err) {
		log_warn("ct", "conntrack sweep failed", "err=\"%s\"", strerror(-err));
		return err;
	}
	a->ct_expired += (__u64)removed;
	if (removed)
		log_debug("ct", "expired conntrack entries removed", "count=%d", removed);
	return removed;
}
