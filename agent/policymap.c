/* policymap: compiled policy -> pinned maps, as a delta. */
#include "policymap.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "agent.h"
#include "log.h"

struct mapdesc {
	const char *pin;
	const char *hash_pin;    /* the hash holding the exact keys, NULL if none */
	size_t esize, ksize;
};

/* The compiled result's four arrays; the ipcache is split over a hash
 * (pod addresses) and an LPM (include/xdpath/policy.h:
 * xdp_ipcache_key_host). */
static const struct mapdesc maps[4] = {
	{ XDP_PIN_IPCACHE, XDP_PIN_IPCACHE_HOST, sizeof(struct ipcache_entry),
	  sizeof(struct xdp_cidr_key) },
	{ XDP_PIN_POLICY, NULL, sizeof(struct pol_entry), sizeof(struct xdp_pol_key) },
	{ XDP_PIN_POL_CIDR, NULL, sizeof(struct cidr_entry), sizeof(struct xdp_polcidr_key) },
	{ XDP_PIN_EP_POL, NULL, sizeof(struct ep_pol_entry), sizeof(uint32_t) },
};

struct mapfd {
	int lpm;                 /* maps[i].pin */
	int hash;                /* maps[i].hash_pin, or -1 */
};

/* The map that holds key (an entry of maps[i]). */
static int fd_for(const struct mapfd *f, int i, const void *key)
{
	if (i == 0 && xdp_ipcache_key_host(key))
		return f->hash;
	return f->lpm;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void arrays_free(struct compiled *c)
{
	free(c->ipcache);
	free(c->pol);
	free(c->cidr);
	free(c->eps);
	memset(c, 0, sizeof(*c));
}

void policymap_free(struct policymap *pm)
{
	arrays_free(&pm->cur);
	pm->synced = false;
	pm->nfailed = 0;
}

static void *dup_arr(const void *p, size_t n, size_t size, size_t extra)
{
	void *d = malloc((n + extra) * size + 1);

	if (d && n)
		memcpy(d, p, n * size);
	return d;
}

/* Host entries sort before a pod entry with the same key (and win). */
static int ipc_host_cmp(const void *a, const void *b)
{
	const struct ipcache_entry *x = a, *y = b;
	int r = memcmp(&x->key, &y->key, sizeof(x->key));

	if (r)
		return r;
	return (y->val.identity == XDP_ID_HOST) - (x->val.identity == XDP_ID_HOST);
}

static void host_entry(struct ipcache_entry *e, const struct ipaddr *ip)
{
	memset(e, 0, sizeof(*e));
	e->key.prefixlen = XDP_CIDR_PREFIX(ip->family == AF_INET ? 32 : 128);
	e->key.family = ip->family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(e->key.addr, ip->b, ip->family == AF_INET ? 4 : 16);
	e->val.identity = XDP_ID_HOST;
}

/* comp's four arrays plus the node's addresses, sorted. */
static int build_wanted(const struct agent *a, const struct compiled *comp, struct compiled *w)
{
	const struct ipaddr *ips[2] = { &a->cfg.node_ip4, &a->cfg.node_ip6 };
	size_t n;

	memset(w, 0, sizeof(*w));
	w->ipcache = dup_arr(comp->ipcache, comp->nipcache, sizeof(*w->ipcache), 2);
	w->pol = dup_arr(comp->pol, comp->npol, sizeof(*w->pol), 0);
	w->cidr = dup_arr(comp->cidr, comp->ncidr, sizeof(*w->cidr), 0);
	w->eps = dup_arr(comp->eps, comp->neps, sizeof(*w->eps), 0);
	if (!w->ipcache || !w->pol || !w->cidr || !w->eps)
		return -ENOMEM;
	w->npol = comp->npol;
	w->ncidr = comp->ncidr;
	w->neps = comp->neps;
	n = comp->nipcache;
	for (int i = 0; i < 2; i++)
		if (ips[i]->family == AF_INET || ips[i]->family == AF_INET6)
			host_entry(&w->ipcache[n++], ips[i]);
	if (n != comp->nipcache) {
		qsort(w->ipcache, n, sizeof(*w->ipcache), ipc_host_cmp);
		/* one entry per key: the first (host) wins */
		size_t o = 0;

		for (size_t i = 0; i < n; i++)
			if (!o || memcmp(&w->ipcache[o - 1].key, &w->ipcache[i].key,
					 sizeof(w->ipcache[i].key)))
				w->ipcache[o++] = w->ipcache[i];
		n = o;
	}
	w->nipcache = n;
	return 0;
}

static bool has_key(const struct mapdesc *m, const void *arr, size_t n, const void *key)
{
	return compiled_find(arr, n, m->esize, m->ksize, key) != NULL;
}

/* Delete every key of the map that arr (sorted entries) does not have.
 * Returns how many, or -errno. */
static int sweep(int fd, const struct mapdesc *m, const void *arr, size_t n)
{
	unsigned char k[64], next[64];
	unsigned char *doomed = NULL;
	size_t nd = 0, cap = 0;
	void *prev = NULL;
	int err = 0;

	/* Collect first: deleting while walking restarts the walk. */
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, m->ksize);
		prev = k;
		if (has_key(m, arr, n, k))
			continue;
		if (nd == cap) {
			unsigned char *d = realloc(doomed, (cap = cap * 2 + 64) * m->ksize);

			if (!d) {
				free(doomed);
				return -ENOMEM;
			}
			doomed = d;
		}
		memcpy(doomed + nd * m->ksize, k, m->ksize);
		nd++;
	}
	for (size_t i = 0; i < nd && !err; i++)
		if (bpf_map_delete_elem(fd, doomed + i * m->ksize) && errno != ENOENT)
			err = -errno;
	free(doomed);
	return err ? err : (int)nd;
}

static bool is_full(int err)
{
	return err == -ENOSPC || err == -E2BIG || err == -ENOMEM;
}

/* The ep_id an entry of map i is for (maps[0], the ipcache, has none). */
static uint32_t entry_ep(int i, const void *e)
{
	if (i == 1)
		return ((const struct pol_entry *)e)->key.ep_id;
	if (i == 2)
		return ((const struct cidr_entry *)e)->key.ep_id;
	if (i == 3)
		return ((const struct ep_pol_entry *)e)->ep_id;
	return 0;
}

static bool failed_has(const struct policymap *pm, uint32_t ep)
{
	for (size_t i = 0; i < pm->nfailed; i++)
		if (pm->failed[i] == ep)
			return true;
	return false;
}

/* Put every entry of arr into map i. A full policy or CIDR map fails the
 * entry's endpoint (pm->failed), not the apply; with retry, only the
 * entries of failed endpoints are put. */
static int put_all(const struct mapfd *f, int i, const void *arr, size_t n, struct policymap *pm,
		   bool retry, size_t *full)
{
	const struct mapdesc *m = &maps[i];

	for (size_t k = 0; k < n; k++) {
		const char *e = (const char *)arr + k * m->esize;
		uint32_t ep = entry_ep(i, e);

		if (retry && !failed_has(pm, ep))
			continue;
		if (!retry && (i == 1 || i == 2) && failed_has(pm, ep))
			continue; /* already failed: do not fill the map further */
		if (!bpf_map_update_elem(fd_for(f, i, e), e, e + m->ksize, BPF_ANY))
			continue;
		if ((i != 1 && i != 2) || !is_full(-errno))
			return -errno;
		(*full)++;
		if (!failed_has(pm, ep) && pm->nfailed < POLICYMAP_FAILED_MAX)
			pm->failed[pm->nfailed++] = ep;
		else if (!failed_has(pm, ep))
			return -ENOSPC; /* too many failures to track: fail the apply */
	}
	return 0;
}

/* Failed endpoints: their state without READY (the datapath denies them). */
static int put_failed_eps(int fd, const struct policymap *pm, struct compiled *w)
{
	for (size_t k = 0; k < w->neps; k++) {
		struct ep_pol_entry *e = &w->eps[k];

		if (!failed_has(pm, e->ep_id))
			continue;
		e->val.flags = XDP_EP_POL_INGRESS_ISOLATED | XDP_EP_POL_EGRESS_ISOLATED;
		if (bpf_map_update_elem(fd, &e->ep_id, &e->val, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int del_all(const struct mapfd *f, int i, const void *keys, size_t n)
{
	const struct mapdesc *m = &maps[i];

	for (size_t k = 0; k < n; k++) {
		const char *key = (const char *)keys + k * m->ksize;

		if (bpf_map_delete_elem(fd_for(f, i, key), key) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Endpoint states, except those of failed endpoints (pm NULL: all). */
static int put_eps(int fd, const struct ep_pol_entry *arr, size_t n, const struct policymap *pm)
{
	for (size_t k = 0; k < n; k++) {
		if (pm && failed_has(pm, arr[k].ep_id))
			continue;
		if (bpf_map_update_elem(fd, &arr[k].ep_id, &arr[k].val, BPF_ANY))
			return -errno;
	}
	return 0;
}

int policymap_apply(struct agent *a, struct policymap *pm, const struct compiled *comp)
{
	struct compiled empty = { 0 }, w;
	struct compiled_delta d;
	bool full_apply = !pm->synced;
	size_t full = 0;
	struct mapfd fd[4];
	int err, swept = 0;
	long t0 = now_ms();

	for (int i = 0; i < 4; i++) {
		const char *pin = maps[i].pin;

		fd[i].lpm = loader_map_fd(&a->ld, pin);
		fd[i].hash = maps[i].hash_pin ? loader_map_fd(&a->ld, (pin = maps[i].hash_pin)) : -1;
		if (fd[i].lpm < 0 || (maps[i].hash_pin && fd[i].hash < 0)) {
			err = fd[i].lpm < 0 ? fd[i].lpm : fd[i].hash;
			log_error("policy", "cannot find a policy map", "map=%s err=\"%s\"", pin,
				  strerror(-err));
			return err;
		}
	}
	err = build_wanted(a, comp, &w);
	if (!err)
		err = compiled_diff(full_apply ? &empty : &pm->cur, &w, &d);
	if (err) {
		arrays_free(&w);
		log_error("policy", "cannot apply policy", "err=\"%s\"", strerror(-err));
		return err;
	}
	pm->synced = false; /* until every write below succeeded */
	pm->nfailed = 0;
	err = put_all(&fd[0], 0, d.ipcache_put, d.nipcache_put, pm, false, &full);
	if (!err)
		err = put_all(&fd[1], 1, d.pol_put, d.npol_put, pm, false, &full);
	if (!err)
		err = put_all(&fd[2], 2, d.cidr_put, d.ncidr_put, pm, false, &full);
	/* Isolation state after the entries it relies on; failed endpoints
	 * are left out here and written not-READY below. */
	if (!err)
		err = put_eps(fd[3].lpm, d.eps_put, d.neps_put, pm);
	for (int i = 0; i < 4 && !err; i++) {
		const void *dels[4] = { d.ipcache_del, d.pol_del, d.cidr_del, d.eps_del };
		size_t ndels[4] = { d.nipcache_del, d.npol_del, d.ncidr_del, d.neps_del };

		err = del_all(&fd[i], i, dels[i], ndels[i]);
	}
	if (full_apply) {
		const void *arrs[4] = { w.ipcache, w.pol, w.cidr, w.eps };
		size_t ns[4] = { w.nipcache, w.npol, w.ncidr, w.neps };

		for (int i = 0; i < 4 && !err; i++) {
			int n = sweep(fd[i].lpm, &maps[i], arrs[i], ns[i]);

			if (n >= 0 && fd[i].hash >= 0) {
				int h = sweep(fd[i].hash, &maps[i], arrs[i], ns[i]);

				n = h < 0 ? h : n + h;
			}
			if (n < 0)
				err = n;
			else
				swept += n;
		}
		/* The sweep may have made room: the failed endpoints once more. */
		if (!err && pm->nfailed) {
			size_t again = 0;

			err = put_all(&fd[1], 1, w.pol, w.npol, pm, true, &again);
			if (!err)
				err = put_all(&fd[2], 2, w.cidr, w.ncidr, pm, true, &again);
			if (!err && !again) {
				pm->nfailed = 0;
				err = put_eps(fd[3].lpm, w.eps, w.neps, NULL);
				full = 0;
			}
		}
	}
	if (!err && pm->nfailed)
		err = put_failed_eps(fd[3].lpm, pm, &w);
	if (err) {
		log_error("policy", "cannot write the policy maps, next apply is a full one",
			  "err=\"%s\"", strerror(-err));
		compiled_delta_free(&d);
		arrays_free(&w);
		return err;
	}
	log_info("policy", "policy maps updated",
		 "full=%d ipcache_put=%zu ipcache_del=%zu policy_put=%zu policy_del=%zu "
		 "cidr_put=%zu cidr_del=%zu ep_put=%zu ep_del=%zu stale_removed=%d ms=%ld",
		 full_apply, d.nipcache_put, d.nipcache_del, d.npol_put, d.npol_del, d.ncidr_put,
		 d.ncidr_del, d.neps_put, d.neps_del, swept, now_ms() - t0);
	compiled_delta_free(&d);
	arrays_free(&pm->cur);
	pm->cur = w;
	if (pm->nfailed) {
		pm->map_full_total += full;
		log_error("policy", "policy map full: endpoints denied until their entries fit",
			  "endpoints=%zu first_ep=%u entries_not_written=%zu", pm->nfailed,
			  pm->failed[0], full);
		return 0; /* pm->synced stays false: the next apply is a full one */
	}
	pm->synced = true;
	return 0;
}
