/* reconcile: endpoint records -> xdp_endpoints, from_pod, cleanup. */
#include "reconcile.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "endpoint.h"
#include "log.h"
#include "xdpath/datapath.h"

struct keyvec {
	struct xdp_ep_key *v;
	int n, cap;
};

static int keyvec_add(struct keyvec *kv, const struct xdp_ep_key *k)
{
	if (kv->n == kv->cap) {
		int cap = kv->cap ? kv->cap * 2 : 256;
		struct xdp_ep_key *v = realloc(kv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		kv->v = v;
		kv->cap = cap;
	}
	kv->v[kv->n++] = *k;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct xdp_ep_key));
}

/* qsort/bsearch over n items of base; base may be NULL when n is 0 (which
 * libc's declarations do not allow). */
static void sort_keys(void *base, int n, size_t size)
{
	if (n > 0)
		qsort(base, n, size, key_cmp);
}

static void *find_key(const void *k, const void *base, int n, size_t size)
{
	return n > 0 ? bsearch(k, base, n, size, key_cmp) : NULL;
}

/* ---- one record ----------------------------------------------------------- */

enum veth { VETH_OK, VETH_GONE, VETH_OTHER };

/* Is the record's host veth there, under its name and with its ifindex?
 * A different ifindex means a re-ADD re-created the pair and has not
 * rewritten the record yet: not ours to judge until it has. */
static enum veth veth_state(const struct endpoint *ep)
{
	unsigned int idx = if_nametoindex(ep->host_ifname);

	if (!idx)
		return VETH_GONE;
	return (int)idx == ep->host_ifindex ? VETH_OK : VETH_OTHER;
}

static int record_path(const char *dir, const struct endpoint *ep, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s:%s.json", dir, ep->container_id, ep->ifname) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The veth is gone (the pod's netns was deleted, or DEL is under way): the
 * record goes too. Read it again first: a re-ADD may have replaced it with
 * one for a new veth since we read it. */
static int remove_record(struct agent *a, const struct endpoint *ep)
{
	struct endpoint now;
	char path[PATH_MAX];
	int err;

	if (endpoint_read(a->cfg.endpoint_dir, ep->container_id, ep->ifname, &now) ||
	    now.host_ifindex != ep->host_ifindex || strcmp(now.host_ifname, ep->host_ifname) ||
	    veth_state(&now) != VETH_GONE)
		return 0;
	err = record_path(a->cfg.endpoint_dir, ep, path, sizeof(path));
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	log_info("reconcile", "host veth gone, endpoint record removed",
		 "pod=%s/%s container=%.12s ifname=%s host_ifname=%s", ep->pod_namespace,
		 ep->pod_name, ep->container_id, ep->ifname, ep->host_ifname);
	return 1;
}

/* Map entries first, then the program: from_pod needs the entries to
 * accept the pod's packets. */
static int apply(struct agent *a, const struct endpoint *ep, bool force)
{
	int err, id;

	err = dp_endpoint_add(&a->dp, ep, XDP_EP_F_READY);
	if (err) {
		log_error("reconcile", "cannot write endpoint map entries",
			  "pod=%s/%s host_ifname=%s err=\"%s\"", ep->pod_namespace, ep->pod_name,
			  ep->host_ifname, strerror(-err));
		return err;
	}
	id = force ? 0 : dp_tc_prog_id(ep->host_ifindex, true);
	if (id > 0 && (uint32_t)id == a->from_pod_id)
		return 0;
	err = dp_tc_attach(ep->host_ifindex, a->dp.from_pod_fd, true);
	if (err) {
		log_error("reconcile", "cannot attach from_pod", "pod=%s/%s host_ifname=%s err=\"%s\"",
			  ep->pod_namespace, ep->pod_name, ep->host_ifname, strerror(-err));
		return err;
	}
	log_debug("reconcile", "endpoint in datapath", "pod=%s/%s host_ifname=%s ifindex=%d",
		  ep->pod_namespace, ep->pod_name, ep->host_ifname, ep->host_ifindex);
	return 0;
}

/* ---- full pass ------------------------------------------------------------ */

struct walk {
	struct agent *a;
	bool force;
	struct keyvec keys;       /* every xdp_endpoints key a live record wants */
	struct reconcile_stats *st;
};

static int walk_record(const struct endpoint *ep, void *ctx)
{
	struct walk *w = ctx;
	struct xdp_ep_key k;
	struct xdp_ep_info v;
	enum veth vs = veth_state(ep);
	int err;

	if (vs == VETH_GONE) {
		err = remove_record(w->a, ep);
		w->st->removed_records += err > 0;
		return 0;
	}
	if (vs == VETH_OTHER) {
		log_debug("reconcile", "record names a veth with another ifindex, waiting for the CNI",
			  "host_ifname=%s ifindex=%d", ep->host_ifname, ep->host_ifindex);
		return 0;
	}
	for (int i = 0; i < ep->nips; i++) {
		endpoint_to_map(ep, i, &k, &v);
		if (keyvec_add(&w->keys, &k))
			return -ENOMEM;
	}
	if (apply(w->a, ep, w->force))
		w->st->failed++;
	else
		w->st->live++;
	return 0;
}

/* An entry of a live veth that no record wants is not deleted at once: the
 * CNI plugin writes a pod's entries (and attaches from_pod) before it writes
 * the record, and a pass in between must not undo its ADD. */
struct orphan {
	struct xdp_ep_key key;
	long since_ms;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct orphans {
	struct orphan *v;      /* sorted by key (key_cmp reads the leading key) */
	int n, cap;
};

static struct orphans waiting; /* from the previous pass */

static long orphan_since(const struct xdp_ep_key *k)
{
	const struct orphan *o = find_key(k, waiting.v, waiting.n, sizeof(*o));

	return o ? o->since_ms : -1;
}

static int orphan_add(struct orphans *os, const struct xdp_ep_key *k, long since)
{
	if (os->n == os->cap) {
		int cap = os->cap ? os->cap * 2 : 16;
		struct orphan *v = realloc(os->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		os->v = v;
		os->cap = cap;
	}
	os->v[os->n].key = *k;
	os->v[os->n++].since_ms = since;
	return 0;
}

/* Unwanted entry k: delete it now (its veth is gone, or its grace is
 * over), or keep it in next for another pass. */
static bool doomed_now(int fd, const struct xdp_ep_key *k, struct orphans *next)
{
	struct xdp_ep_info v;
	char name[IF_NAMESIZE];
	long since, now = now_ms();

	if (bpf_map_lookup_elem(fd, k, &v) || !if_indextoname(v.host_ifindex, name))
		return true;
	since = orphan_since(k);
	if (since < 0)
		since = now;
	if (now - since >= RECONCILE_GRACE_MS)
		return true;
	return orphan_add(next, k, since) < 0; /* no memory to wait: delete */
}

/* Entries no live record wants: the veth is gone, the record was deleted,
 * or the record no longer has that address. */
static int sweep_endpoints(int fd, const struct keyvec *keys, int *pending)
{
	struct xdp_ep_key k, next;
	struct keyvec doomed = { 0 };
	struct orphans kept = { 0 };
	void *prev = NULL;
	int n = 0;

	/* Collect first: deleting while walking restarts the walk. */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (find_key(&k, keys->v, keys->n, sizeof(k)) || !doomed_now(fd, &k, &kept))
			continue;
		if (keyvec_add(&doomed, &k))
			break;
	}
	for (int i = 0; i < doomed.n; i++)
		n += !bpf_map_delete_elem(fd, &doomed.v[i]);
	free(doomed.v);
	free(waiting.v);
	sort_keys(kept.v, kept.n, sizeof(*kept.v));
	waiting = kept;
	*pending = kept.n;
	return n;
}

/* Counters of endpoints whose veth no longer exists (ep_id = host ifindex). */
static void sweep_stats(int fd)
{
	__u32 k, next, doomed[256];
	char name[IF_NAMESIZE];
	void *prev = NULL;
	int n = 0;

	while (n < 256 && !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!if_indextoname(k, name))
			doomed[n++] = k;
	}
	/* At most 256 per pass: the next pass takes the rest. */
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &doomed[i]);
}

int reconcile_all(struct agent *a, bool force, struct reconcile_stats *st)
{
	struct walk w = { a, force, { 0 }, st };
	int err;

	memset(st, 0, sizeof(*st));
	err = endpoint_foreach(a->cfg.endpoint_dir, walk_record, &w);
	if (!err) {
		sort_keys(w.keys.v, w.keys.n, sizeof(*w.keys.v));
		st->removed_keys = sweep_endpoints(a->dp.endpoints_fd, &w.keys, &st->waiting_keys);
		sweep_stats(loader_map_fd(&a->ld, XDP_PIN_EP_STATS));
	}
	free(w.keys.v);
	if (err)
		log_error("reconcile", "cannot read endpoint records", "dir=%s err=\"%s\"",
			  a->cfg.endpoint_dir, strerror(-err));
	return err;
}

/* ---- one record after an event ---------------------------------------------- */

/* "<id>:<ifname>.json" -> id, ifname; an ifname never holds ':'. */
static int split_name(const char *name, char *id, size_t idlen, char *ifname, size_t iflen)
{
	size_t n = strlen(name);
	const char *colon;

	if (n < 6 || strcmp(name + n - 5, ".json"))
		return -EINVAL;
	colon = memrchr(name, ':', n - 5);
	if (!colon || (size_t)(colon - name) >= idlen || (size_t)(name + n - 5 - colon - 1) >= iflen)
		return -EINVAL;
	snprintf(id, idlen, "%.*s", (int)(colon - name), name);
	snprintf(ifname, iflen, "%.*s", (int)(name + n - 5 - colon - 1), colon + 1);
	return 0;
}

int reconcile_one(struct agent *a, const char *filename)
{
	static struct endpoint ep;
	char id[sizeof(ep.container_id)], ifname[sizeof(ep.ifname)];
	int err;

	if (split_name(filename, id, sizeof(id), ifname, sizeof(ifname)))
		return 0;
	err = endpoint_read(a->cfg.endpoint_dir, id, ifname, &ep);
	if (err == -ENOENT)
		return 0; /* gone again already */
	if (err) {
		log_warn("reconcile", "unreadable endpoint record", "file=%s err=\"%s\"", filename,
			 strerror(-err));
		return err;
	}
	switch (veth_state(&ep)) {
	case VETH_GONE:
		return remove_record(a, &ep) < 0 ? -EIO : 0;
	case VETH_OTHER:
		return 0;
	default:
		return apply(a, &ep, false);
	}
}
