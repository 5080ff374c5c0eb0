/* kwatch: informers. One thread per API resource lists it (paginated:
 * limit/continue; an expired continue token restarts the list) and then
 * watches from the list's resourceVersion with bookmarks, keeping a local
 * cache of decoded objects keyed by "namespace/name". A watch that ends is
 * resumed from the last resourceVersion seen; "410 Gone" (the version is
 * older than the server keeps) relists; connection failures retry with
 * exponential backoff and jitter. Every change bumps the resource's
 * generation and wakes the agent's event loop through an eventfd.
 *
 * The cache owns decoded values; a value replaced or removed is not freed
 * at once but parked in a graveyard, because the agent's last good policy
 * set may still point into it (policy_set.borrowed): the consumer takes the
 * graveyard with its snapshot and frees it once the snapshot has replaced
 * the previous one (kwatch_grave_*). */
#ifndef XDPATH_AGENT_KWATCH_H
#define XDPATH_AGENT_KWATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct json_object;
struct kube;

/* One watched resource. */
struct kres {
	const char *resource;        /* "pods" */
	const char *group;           /* "" (core) or "networking.k8s.io" */
	const char *version;         /* "v1" */
	const char *kind;            /* "Pod": list items carry no kind */
	bool optional;               /* a 404 (CRD not installed) is an empty list, re-listed later */
	/* obj -> a cached value (NULL: nothing to cache, e.g. a pod that ended). */
	void *(*decode)(struct json_object *obj, const char *kind);
	void (*free)(void *val);
};

struct kitem {
	char *key;                   /* "namespace/name" or "name" */
	void *val;
	struct kitem *next;
};

struct kgrave {
	void *val;
	void (*free)(void *val);
	struct kgrave *next;
};

struct kstats {
	uint64_t events;             /* ADDED, MODIFIED, DELETED applied */
	uint64_t bookmarks;
	uint64_t relists;            /* full lists (the first included) */
	uint64_t expired;            /* 410 Gone: relist forced */
	uint64_t errors;             /* failed requests / broken streams */
	bool synced;                 /* listed at least once */
	long list_ms;                /* the last full list */
	double last_seen;            /* CLOCK_MONOTONIC s of the last event or bookmark */
};

#define KWATCH_MAX 8

struct kwatch;

struct kwatch_res {
	struct kwatch *w;
	const struct kres *r;
	struct kitem **b;            /* the cache: hash chains */
	size_t nb, n;
	uint64_t gen;                /* bumped by every change */
	struct kstats st;
	pthread_t th;
	bool started;
};

struct kwatch {
	const struct kube *k;
	pthread_mutex_t mu;          /* guards every kwatch_res's cache, gen, st and grave */
	struct kwatch_res res[KWATCH_MAX];
	int nres;
	struct kgrave *grave;
	int efd;                     /* eventfd: readable after a change */
	atomic_bool stop;
	long watch_timeout_s;        /* the server ends a watch after this (randomised +-25 %) */
};

/* Start one informer thread per resource of r[n]. 0 or -errno. */
int kwatch_start(struct kwatch *w, const struct kube *k, const struct kres *r, int n);
/* Ask the threads to stop (they end within about a second). */
void kwatch_stop(struct kwatch *w);

void kwatch_lock(struct kwatch *w);
void kwatch_unlock(struct kwatch *w);
/* Under the lock: every cached value of resource i. */
void kwatch_foreach(struct kwatch *w, int i, void (*fn)(const char *key, void *val, void *ctx),
		    void *ctx);
/* Under the lock: the cached value for key, or NULL. */
void *kwatch_get(struct kwatch *w, int i, const char *key);

/* Under the lock: take the graveyard (values no longer cached). */
struct kgrave *kwatch_grave_take(struct kwatch *w);
/* Give back what was taken (the snapshot was not used). Takes the lock. */
void kwatch_grave_return(struct kwatch *w, struct kgrave *g);
void kwatch_grave_free(struct kgrave *g);

/* Drain the eventfd (after it polled readable). */
void kwatch_ack(struct kwatch *w);

#endif
