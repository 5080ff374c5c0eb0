/* filters: named emergency drop filters (see filters.h). */
#include "filters.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "catalog.h"
#include "endpoint.h"
#include "filtermap.h"
#include "filtersrc.h"
#include "fsutil.h"
#include "lang.h"
#include "log.h"
#include "summary.h"

#define NAME_MAX_LEN 64
#define EXPR_MAX_LEN 2048
#define EVENTS_KEEP 256
#define STATE_FILE "filters.json"
#define SANITY_PREFIX "sanity:"
#define RATE_MAX 10000000u

enum origin { ORIGIN_CLI, ORIGIN_CATALOG, ORIGIN_SANITY, ORIGIN_CRD };
static const char *const origin_names[] = { "cli", "catalog", "sanity", "xdpfilter" };
static const char *const action_names[XF_ACT_MAX] = { "drop", "pass", "count", "rate-limit" };
static const char *const per_names[] = { "rule", "src", "dst" };

struct fentry {
	bool used;
	char name[NAME_MAX_LEN];
	char expr[EXPR_MAX_LEN];
	int origin;
	uint8_t action, per, scope;
	uint32_t rate;
	char pod[320];           /* "NS/NAME" for a rule on one pod's veth */
	int64_t created, expires;/* unix seconds; expires 0: never */
	uint32_t slot, gen;      /* gen 0: not in the datapath */
	uint32_t ifindex;
	const char *status;      /* why not in the datapath */
};

struct filters {
	struct filtermap fm;
	struct fentry e[XF_MAX_RULES];
	bool sanity;
	struct ring_buffer *rb;
	struct xf_event ev[EVENTS_KEEP];
	uint64_t seq;
	int64_t mono_to_real_ns;
	bool uplink, uplink_changed;
	struct filter_specs src;     /* the last XdpFilter objects read (filterDir) */
	uint64_t src_sig;            /* of the problems last logged */
};

static int64_t clock_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_s(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000000;
}

static struct json_object *err_obj(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct json_object *err_obj(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

/* dir/name into buf; -ENAMETOOLONG if it does not fit. */
static int path_in(char *buf, size_t len, const char *dir, const char *name)
{
	return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

/* ---- the table ------------------------------------------------------------ */

static struct fentry *find(struct filters *f, const char *name)
{
	for (int i = 0; i < XF_MAX_RULES; i++)
		if (f->e[i].used && !strcmp(f->e[i].name, name))
			return &f->e[i];
	return NULL;
}

static struct fentry *new_entry(struct filters *f)
{
	for (int i = 0; i < XF_MAX_RULES; i++)
		if (!f->e[i].used) {
			memset(&f->e[i], 0, sizeof(f->e[i]));
			f->e[i].used = true;
			return &f->e[i];
		}
	return NULL;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._:/-", *s))
			return false;
	return true;
}

struct pod_find {
	const char *ns, *name;
	int ifindex;
};

static int pod_match(const struct endpoint *ep, void *ctx)
{
	struct pod_find *p = ctx;

	if (strcmp(ep->pod_namespace, p->ns) || strcmp(ep->pod_name, p->name))
		return 0;
	p->ifindex = ep->host_ifindex;
	return 1; /* found: stop the walk */
}

/* *ifindex: the host veth of pod "NS/NAME" on this node, or 0. -errno when
 * the records could not be read: the caller keeps what it has. */
static int pod_ifindex(struct agent *a, const char *pod, uint32_t *ifindex)
{
	char ns[256];
	const char *slash = strchr(pod, '/');
	struct pod_find p = { ns, slash ? slash + 1 : "", 0 };
	int err;

	*ifindex = 0;
	if (!slash || (size_t)(slash - pod) >= sizeof(ns))
		return 0;
	memcpy(ns, pod, (size_t)(slash - pod));
	ns[slash - pod] = '\0';
	err = endpoint_foreach(a->cfg.endpoint_dir, pod_match, &p);
	if (err < 0)
		return err;
	*ifindex = p.ifindex > 0 ? (uint32_t)p.ifindex : 0;
	return 0;
}

static void note_uplink(struct filters *f)
{
	bool want = false;

	for (int i = 0; i < XF_MAX_RULES; i++)
		if (f->e[i].used && f->e[i].gen && (f->e[i].scope & XF_SCOPE_UPLINK))
			want = true;
	if (want != f->uplink)
		f->uplink_changed = true;
	f->uplink = want;
}

/* Into the datapath; on failure e->status says why (and 0 is returned for
 * states that are not errors of the request: expired, pod not here). */
static int install(struct agent *a, struct fentry *e, struct xf_error *xe)
{
	struct filters *f = a->filters;
	struct xf_rule rule = { 0 };
	int64_t now = now_s();
	int err;

	e->gen = 0;
	e->status = NULL;
	err = xf_compile(e->expr, &rule.m, xe);
	if (err) {
		e->status = "does not compile";
		return err;
	}
	if (e->expires && e->expires <= now) {
		e->status = "expired";
		return 0;
	}
	e->ifindex = 0;
	if (e->pod[0]) {
		err = pod_ifindex(a, e->pod, &e->ifindex);
		if (err) {
			e->status = "cannot read endpoint records";
			return err;
		}
		if (!e->ifindex) {
			e->status = "pod not on this node";
			return 0;
		}
	}
	rule.action = e->action;
	rule.scope = e->scope;
	rule.rate_per = e->per;
	rule.rate_pps = e->rate;
	rule.ifindex = e->ifindex;
	if (e->expires)
		rule.expire_ns = (uint64_t)(clock_ns(CLOCK_BOOTTIME) +
					    (e->expires - now) * 1000000000LL);
	err = filtermap_add(&f->fm, &rule, &e->slot, &e->gen);
	if (err) {
		e->status = err == -ENOSPC ? "filter table full" : "map write failed";
		return err;
	}
	return 0;
}

static void uninstall(struct agent *a, struct fentry *e)
{
	if (e->gen && filtermap_del(&a->filters->fm, e->slot, e->gen))
		log_warn("filter", "cannot unlink rule", "name=%s slot=%u", e->name, e->slot);
	e->gen = 0;
}

/* ---- the state file ------------------------------------------------------ */

static struct json_object *entry_state(const struct fentry *e)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(e->name));
	json_object_object_add(o, "expr", json_object_new_string(e->expr));
	json_object_object_add(o, "origin", json_object_new_string(origin_names[e->origin]));
	json_object_object_add(o, "action", json_object_new_string(action_names[e->action]));
	json_object_object_add(o, "rate", json_object_new_int64(e->rate));
	json_object_object_add(o, "per", json_object_new_string(per_names[e->per]));
	json_object_object_add(o, "scope", json_object_new_int(e->scope));
	json_object_object_add(o, "pod", json_object_new_string(e->pod));
	json_object_object_add(o, "created", json_object_new_int64(e->created));
	json_object_object_add(o, "expires", json_object_new_int64(e->expires));
	json_object_object_add(o, "slot", json_object_new_int64(e->slot));
	json_object_object_add(o, "gen", json_object_new_int64(e->gen));
	return o;
}

/* Written to a temporary file and renamed over: a crash leaves the old
 * state or the new one. */
static int save(struct agent *a)
{
	struct filters *f = a->filters;
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char path[PATH_MAX];
	const char *text;
	int err;

	for (int i = 0; i < XF_MAX_RULES; i++)
		if (f->e[i].used)
			json_object_array_add(arr, entry_state(&f->e[i]));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "sanity", json_object_new_boolean(f->sanity));
	json_object_object_add(o, "filters", arr);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	if (path_in(path, sizeof(path), a->cfg.state_dir, STATE_FILE)) {
		json_object_put(o);
		return -ENAMETOOLONG;
	}
	err = write_atomic(path, text, strlen(text), true);
	if (err)
		log_error("filter", "cannot write the filter state", "file=%s err=\"%s\"", path,
			  strerror(-err));
	json_object_put(o);
	return err;
}

static int index_of(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (s && !strcmp(names[i], s))
			return i;
	return -1;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static void load_entry(struct filters *f, struct json_object *o)
{
	const char *name = jstr(o, "name"), *expr = jstr(o, "expr");
	int origin = index_of(origin_names, 4, jstr(o, "origin"));
	int action = index_of(action_names, XF_ACT_MAX, jstr(o, "action"));
	int per = index_of(per_names, 3, jstr(o, "per"));
	struct fentry *e;

	if (!name || !expr || !name_ok(name) || strlen(expr) >= EXPR_MAX_LEN || origin < 0 ||
	    action < 0 || per < 0 || find(f, name) || !(e = new_entry(f))) {
		log_warn("filter", "state file: entry skipped", "name=%s", name ? name : "?");
		return;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->expr, sizeof(e->expr), "%s", expr);
	snprintf(e->pod, sizeof(e->pod), "%s", jstr(o, "pod") ? jstr(o, "pod") : "");
	e->origin = origin;
	e->action = (uint8_t)action;
	e->per = (uint8_t)per;
	e->scope = (uint8_t)jint(o, "scope");
	e->rate = (uint32_t)jint(o, "rate");
	e->created = jint(o, "created");
	e->expires = jint(o, "expires");
	e->slot = (uint32_t)jint(o, "slot");
	e->gen = (uint32_t)jint(o, "gen");
}

/* The file's rules, reconciled with what the maps hold. */
static void load(struct agent *a)
{
	struct filters *f = a->filters;
	struct json_object *o = NULL, *arr;
	char path[PATH_MAX], *text = NULL;
	bool mine[XF_MAX_RULES] = { false };
	struct xf_error xe;
	size_t len;

	if (!path_in(path, sizeof(path), a->cfg.state_dir, STATE_FILE) &&
	    !read_all_at(AT_FDCWD, path, &text, &len) && text)
		o = json_tokener_parse(text);
	free(text);
	if (o && json_object_object_get_ex(o, "filters", &arr) &&
	    json_object_is_type(arr, json_type_array))
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			load_entry(f, json_object_array_get_idx(arr, i));
	if (o)
		f->sanity = jint(o, "sanity") != 0;
	json_object_put(o);
	for (int i = 0; i < XF_MAX_RULES; i++) {
		struct fentry *e = &f->e[i];

		if (!e->used)
			continue;
		if (filtermap_has(&f->fm, e->slot, e->gen)) {
			mine[e->slot] = true;  /* in the datapath all along */
			continue;
		}
		if (install(a, e, &xe))
			log_warn("filter", "cannot restore rule", "name=%s status=\"%s\"", e->name,
				 e->status ? e->status : "");
		else if (e->gen)
			mine[e->slot] = true;
	}
	for (uint32_t s = 0; s < XF_MAX_RULES; s++)
		if (f->fm.slot[s].gen && !mine[s]) {
			log_info("filter", "removing a rule no state names", "slot=%u", s);
			filtermap_del(&f->fm, s, f->fm.slot[s].gen);
		}
	note_uplink(f);
	save(a);
}

/* ---- sampled drops -------------------------------------------------------- */

static int on_sample(void *ctx, void *data, size_t len)
{
	struct filters *f = ctx;

	if (len < sizeof(struct xf_event))
		return 0;
	memcpy(&f->ev[f->seq % EVENTS_KEEP], data, sizeof(struct xf_event));
	f->seq++;
	return 0;
}

static int open_ring(struct agent *a)
{
	struct filters *f = a->filters;
	int fd = loader_map_fd(&a->ld, XDP_PIN_FILTER_EVENTS);

	if (fd < 0)
		return fd;
	f->rb = ring_buffer__new(fd, on_sample, f, NULL);
	if (!f->rb)
		return -errno;
	f->mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	return ring_buffer__epoll_fd(f->rb);
}

/* The filter maps, as the loader has them (pinned; loaded at start). */
static int open_maps(struct agent *a)
{
	struct filtermap_fds fds = {
		.rules = loader_map_fd(&a->ld, XDP_PIN_FILTER_RULES),
		.index = loader_map_fd(&a->ld, XDP_PIN_FILTER_INDEX),
		.scan = loader_map_fd(&a->ld, XDP_PIN_FILTER_SCAN),
		.cfg = loader_map_fd(&a->ld, XDP_PIN_FILTER_CFG),
		.stats = loader_map_fd(&a->ld, XDP_PIN_FILTER_STATS),
		.ports = loader_map_fd(&a->ld, XDP_PIN_FILTER_PORTS),
	};

	if (fds.rules < 0 || fds.index < 0 || fds.scan < 0 || fds.cfg < 0 || fds.stats < 0 ||
	    fds.ports < 0)
		return -ENOENT;
	return filtermap_init(&a->filters->fm, &fds);
}

void filters_consume(struct agent *a)
{
	if (a->filters && a->filters->rb)
		ring_buffer__consume(a->filters->rb);
}

/* ---- life cycle ----------------------------------------------------------- */

int filters_open(struct agent *a)
{
	int err;

	a->filters = calloc(1, sizeof(*a->filters));
	if (!a->filters)
		return -ENOMEM;
	err = open_maps(a);
	if (err) {
		log_error("filter", "cannot open the filter maps", "err=\"%s\"", strerror(-err));
		free(a->filters);
		a->filters = NULL;
		return err;
	}
	load(a);
	filters_sync_dir(a);
	a->filters->uplink_changed = false; /* the first attach reads filters_want_uplink */
	log_info("filter", "filters loaded", "rules=%u sanity=%s", a->filters->fm.nrules,
		 a->filters->sanity ? "on" : "off");
	return 0;
}

int filters_ring(struct agent *a)
{
	int err;

	if (!a->filters)
		return -ENOENT;
	err = open_ring(a);
	if (err < 0)
		log_warn("filter", "no sampled drops", "err=\"%s\"", strerror(-err));
	return err;
}

void filters_close(struct agent *a)
{
	if (!a->filters)
		return;
	ring_buffer__free(a->filters->rb);
	filtersrc_free(&a->filters->src);
	free(a->filters);
	a->filters = NULL;
}

void filters_resync(struct agent *a)
{
	struct filters *f = a->filters;
	int64_t now = now_s();
	bool changed = false;
	struct xf_error xe;
	uint32_t ifindex;

	if (!f)
		return;
	for (int i = 0; i < XF_MAX_RULES; i++) {
		struct fentry *e = &f->e[i];

		if (!e->used)
			continue;
		if (e->expires && e->expires <= now && e->origin == ORIGIN_CRD) {
			/* Listed while its object exists; the datapath stopped already. */
			if (e->gen) {
				uninstall(a, e);
				e->status = "expired";
				changed = true;
			}
			continue;
		}
		if (e->expires && e->expires <= now) {
			/* The datapath stopped matching it already. */
			log_info("filter", "rule expired, removed", "name=%s", e->name);
			uninstall(a, e);
			e->used = false;
			changed = true;
			continue;
		}
		if (e->pod[0] && !pod_ifindex(a, e->pod, &ifindex) &&
		    ifindex != (e->gen ? e->ifindex : 0)) {
			uninstall(a, e);
			install(a, e, &xe);
			changed = true;
		}
	}
	if (changed) {
		note_uplink(f);
		save(a);
	}
}

bool filters_want_uplink(const struct agent *a)
{
	return a->filters && a->filters->uplink;
}

bool filters_uplink_changed(struct agent *a)
{
	bool c = a->filters && a->filters->uplink_changed;

	if (c)
		a->filters->uplink_changed = false;
	return c;
}

/* ---- requests -------------------------------------------------------------- */

struct add_req {
	const char *name, *expr;
	int origin;
	int action, per;
	uint32_t rate;
	const char *scope;       /* "uplink", "pods", "all", "NS/POD" (default all) */
	int64_t expire_s;        /* from now; or */
	int64_t expires;         /* absolute, unix seconds (XdpFilter) */
	bool keep_inactive;      /* a pod not on this node is listed, not refused */
};

static int parse_scope(const char *s, struct fentry *e)
{
	if (!s || !strcmp(s, "all"))
		e->scope = XF_SCOPE_UPLINK | XF_SCOPE_PODS;
	else if (!strcmp(s, "uplink"))
		e->scope = XF_SCOPE_UPLINK;
	else if (!strcmp(s, "pods"))
		e->scope = XF_SCOPE_PODS;
	else if (strchr(s, '/') && strlen(s) < sizeof(e->pod) && s[0] != '/' &&
		 s[strlen(s) - 1] != '/') {
		e->scope = XF_SCOPE_PODS;
		snprintf(e->pod, sizeof(e->pod), "%s", s);
	} else {
		return -EINVAL;
	}
	return 0;
}

static struct json_object *compile_error(const char *expr, const struct xf_error *xe)
{
	struct json_object *o = err_obj("filter: column %d: %s", xe->col, xe->msg);

	json_object_object_add(o, "column", json_object_new_int(xe->col));
	json_object_object_add(o, "expr", json_object_new_string(expr));
	return o;
}

static struct json_object *entry_json(struct agent *a, const struct fentry *e);

static struct json_object *add(struct agent *a, const struct add_req *r)
{
	struct filters *f = a->filters;
	struct xf_match m;
	struct xf_error xe;
	struct fentry *e;
	int err;

	if (!r->name || !name_ok(r->name))
		return err_obj("filter name must be 1-63 characters of A-Z a-z 0-9 . _ : / -");
	if (!r->expr || !r->expr[0] || strlen(r->expr) >= EXPR_MAX_LEN)
		return err_obj("filter %s: a rule expression of at most %d bytes is required",
			       r->name, EXPR_MAX_LEN - 1);
	if (r->action < 0 || r->per < 0)
		return err_obj("action must be drop, pass, count or rate-limit; per rule, src or dst");
	if (r->action == XF_ACT_RATE && (!r->rate || r->rate > RATE_MAX))
		return err_obj("rate-limit needs a rate of 1..%u packets/s", RATE_MAX);
	if (r->action != XF_ACT_RATE && r->per != XF_RATE_RULE)
		return err_obj("per src|dst applies to rate-limit only");
	if (r->expire_s < 0)
		return err_obj("expiry must be positive");
	if (r->origin == ORIGIN_CLI && (!strncmp(r->name, FILTER_CRD_PREFIX, strlen(FILTER_CRD_PREFIX)) ||
					!strncmp(r->name, SANITY_PREFIX, strlen(SANITY_PREFIX))))
		return err_obj("names starting with " FILTER_CRD_PREFIX " or " SANITY_PREFIX
			       " are the agent's (XdpFilter objects, sanity mode)");
	if (find(f, r->name))
		return err_obj("filter %s exists (xdpathctl filter del %s first)", r->name, r->name);
	if (xf_compile(r->expr, &m, &xe))
		return compile_error(r->expr, &xe);
	e = new_entry(f);
	if (!e)
		return err_obj("filter table full (%d rules)", XF_MAX_RULES);
	snprintf(e->name, sizeof(e->name), "%s", r->name);
	snprintf(e->expr, sizeof(e->expr), "%s", r->expr);
	if (parse_scope(r->scope, e)) {
		e->used = false;
		return err_obj("scope must be uplink, pods, all or NAMESPACE/POD, not \"%s\"", r->scope);
	}
	e->origin = r->origin;
	e->action = (uint8_t)r->action;
	e->per = (uint8_t)r->per;
	e->rate = r->action == XF_ACT_RATE ? r->rate : 0;
	e->created = now_s();
	e->expires = r->expires ? r->expires : r->expire_s ? e->created + r->expire_s : 0;
	err = install(a, e, &xe);
	if (err) {
		e->used = false;
		return err_obj("filter %s: %s (%s)", r->name, e->status ? e->status : "failed",
			       strerror(-err));
	}
	if (e->pod[0] && !e->gen && !r->keep_inactive) {
		e->used = false;
		return err_obj("filter %s: no pod %s on this node", r->name, e->pod);
	}
	log_info("filter", "rule added", "name=%s action=%s scope=%u slot=%u expr=\"%s\"", e->name,
		 action_names[e->action], e->scope, e->slot, e->expr);
	note_uplink(f);
	save(a);
	return entry_json(a, e);
}

static int parse_action(const char *s)
{
	int i = index_of(action_names, XF_ACT_MAX, s);

	if (i >= 0)
		return i;
	return s && !strcmp(s, "rate") ? XF_ACT_RATE : -1;
}

static struct json_object *api_add(struct agent *a, struct json_object *req)
{
	struct add_req r = {
		.name = jstr(req, "name"),
		.expr = jstr(req, "expr"),
		.origin = ORIGIN_CLI,
		.action = jstr(req, "action") ? parse_action(jstr(req, "action")) : XF_ACT_DROP,
		.per = jstr(req, "per") ? index_of(per_names, 3, jstr(req, "per")) : XF_RATE_RULE,
		.rate = (uint32_t)jint(req, "rate"),
		.scope = jstr(req, "scope"),
		.expire_s = jint(req, "expireSeconds"),
	};

	return add(a, &r);
}

static struct json_object *ok_obj(const char *what, const char *name)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, what, json_object_new_string(name));
	return o;
}

static void remove_entry(struct agent *a, struct fentry *e)
{
	uninstall(a, e);
	log_info("filter", "rule removed", "name=%s", e->name);
	e->used = false;
	note_uplink(a->filters);
}

static struct json_object *api_del(struct agent *a, struct json_object *req)
{
	const char *name = jstr(req, "name");
	struct fentry *e = name ? find(a->filters, name) : NULL;
	struct json_object *o;

	if (!e)
		return err_obj("no filter %s", name ? name : "(no name given)");
	if (e->origin == ORIGIN_CRD)
		return err_obj("filter %s comes from XdpFilter %s: delete that object instead", e->name,
			       e->name + strlen(FILTER_CRD_PREFIX));
	o = ok_obj("deleted", e->name);
	remove_entry(a, e);
	save(a);
	return o;
}

static struct json_object *api_enable(struct agent *a, struct json_object *req)
{
	const char *id = jstr(req, "id");
	const struct xf_catalog_entry *c = id ? xf_catalog_find(id) : NULL;
	struct add_req r;
	char scope[16];

	if (!c)
		return err_obj("no catalog entry %s (xdpathctl filter catalog lists them)",
			       id ? id : "(no id given)");
	snprintf(scope, sizeof(scope), "%s",
		 c->scope == (XF_SCOPE_UPLINK | XF_SCOPE_PODS) ? "all" :
		 c->scope == XF_SCOPE_UPLINK ? "uplink" : "pods");
	r = (struct add_req){
		.name = c->id,
		.expr = c->rule,
		.origin = ORIGIN_CATALOG,
		.action = jstr(req, "action") ? parse_action(jstr(req, "action")) : (int)c->action,
		.per = jstr(req, "per") ? index_of(per_names, 3, jstr(req, "per")) : XF_RATE_RULE,
		.rate = (uint32_t)jint(req, "rate"),
		.scope = jstr(req, "scope") ? jstr(req, "scope") : scope,
		.expire_s = jint(req, "expireSeconds"),
	};
	return add(a, &r);
}

static struct json_object *api_disable(struct agent *a, struct json_object *req)
{
	const char *id = jstr(req, "id");
	const struct xf_catalog_entry *c = id ? xf_catalog_find(id) : NULL;
	struct fentry *e = c ? find(a->filters, c->id) : NULL;
	struct json_object *o;

	if (!e || e->origin != ORIGIN_CATALOG)
		return err_obj("catalog entry %s is not enabled", id ? id : "(no id given)");
	o = ok_obj("disabled", e->name);
	remove_entry(a, e);
	save(a);
	return o;
}

/* Sanity mode: the catalog's sanity entries, as rules "sanity:ID". */
static struct json_object *set_sanity(struct agent *a, bool on)
{
	struct filters *f = a->filters;
	char name[NAME_MAX_LEN];
	struct json_object *o;

	for (size_t i = 0; i < xf_catalog_len; i++) {
		const struct xf_catalog_entry *c = &xf_catalog[i];
		struct fentry *e;

		if (!c->sanity)
			continue;
		snprintf(name, sizeof(name), SANITY_PREFIX "%s", c->id);
		e = find(f, name);
		if (!on && e)
			remove_entry(a, e);
		if (on && !e) {
			struct add_req r = { .name = name, .expr = c->rule, .origin = ORIGIN_SANITY,
					     .action = XF_ACT_DROP, .per = XF_RATE_RULE,
					     .scope = "all" };

			o = add(a, &r);
			if (json_object_object_get_ex(o, "error", NULL)) {
				set_sanity(a, false);
				return o;
			}
			json_object_put(o);
		}
	}
	f->sanity = on;
	log_info("filter", "sanity mode", "on=%s", on ? "yes" : "no");
	save(a);
	return NULL;
}

static struct json_object *api_sanity(struct agent *a, struct json_object *req)
{
	struct json_object *v, *o;

	if (json_object_object_get_ex(req, "on", &v)) {
		o = set_sanity(a, json_object_get_boolean(v));
		if (o)
			return o;
	}
	o = json_object_new_object();
	json_object_object_add(o, "sanity", json_object_new_boolean(a->filters->sanity));
	return o;
}

/* ---- XdpFilter objects ----------------------------------------------------- */

static const char *scope_name(const struct fentry *e);

static bool spec_same(const struct fentry *e, const struct filter_spec *sp)
{
	return !strcmp(e->expr, sp->expr) && e->action == sp->action && e->per == sp->per &&
	       e->rate == sp->rate && e->expires == sp->expires && !strcmp(scope_name(e), sp->scope);
}

/* The object changed: the new rule in first (a new slot), then the old one
 * out, so the name never matches nothing in between. */
static void replace_entry(struct agent *a, struct fentry *e, const struct filter_spec *sp)
{
	struct fentry n = *e;
	struct xf_error xe;
	int err;

	snprintf(n.expr, sizeof(n.expr), "%s", sp->expr);
	n.action = (uint8_t)sp->action;
	n.per = (uint8_t)sp->per;
	n.rate = sp->rate;
	n.expires = sp->expires;
	n.pod[0] = '\0';
	parse_scope(sp->scope, &n);  /* validated by filtersrc.c */
	err = install(a, &n, &xe);
	if (err) {
		log_warn("filter", "cannot apply the changed XdpFilter, keeping the old rule",
			 "name=%s status=\"%s\"", e->name, n.status ? n.status : "");
		return;
	}
	uninstall(a, e);
	*e = n;
	log_info("filter", "rule changed by its XdpFilter", "name=%s", e->name);
}

static void add_spec_rule(struct agent *a, const struct filter_spec *sp)
{
	struct add_req r = {
		.name = sp->name, .expr = sp->expr, .origin = ORIGIN_CRD, .action = sp->action,
		.per = sp->per, .rate = sp->rate, .scope = sp->scope, .expires = sp->expires,
		.keep_inactive = true,
	};
	struct json_object *o = add(a, &r);
	struct json_object *err;

	if (json_object_object_get_ex(o, "error", &err))
		log_warn("filter", "cannot apply an XdpFilter", "name=%s err=\"%s\"", sp->name,
			 json_object_get_string(err));
	json_object_put(o);
}

static uint64_t problems_sig(const struct filter_specs *sp)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sp->nbad; i++)
		for (const char *c = sp->bad[i].msg; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return h ^ sp->nbad;
}

/* Make the XdpFilter rules (origin xdpfilter) what specs says: new objects
 * added, changed ones replaced, deleted ones removed. Invalid objects are
 * logged (once per change) and kept for `filter list`. Takes specs. */
void filters_sync(struct agent *a, struct filter_specs *specs)
{
	struct filters *f = a->filters;
	uint64_t sig;

	if (!f) {
		filtersrc_free(specs);
		return;
	}
	for (size_t i = 0; i < specs->n; i++) {
		struct fentry *e = find(f, specs->v[i].name);

		if (!e)
			add_spec_rule(a, &specs->v[i]);
		else if (e->origin == ORIGIN_CRD && !spec_same(e, &specs->v[i]))
			replace_entry(a, e, &specs->v[i]);
	}
	for (int i = 0; i < XF_MAX_RULES; i++) {
		struct fentry *e = &f->e[i];
		bool wanted = false;

		if (!e->used || e->origin != ORIGIN_CRD)
			continue;
		for (size_t j = 0; j < specs->n && !wanted; j++)
			wanted = !strcmp(specs->v[j].name, e->name);
		if (!wanted)
			remove_entry(a, e);
	}
	sig = problems_sig(specs);
	if (sig != f->src_sig)
		for (size_t i = 0; i < specs->nbad; i++)
			log_warn("filter", "invalid XdpFilter skipped", "at=\"%s\" err=\"%s\"",
				 specs->bad[i].where, specs->bad[i].msg);
	f->src_sig = sig;
	filtersrc_free(&f->src);
	f->src = *specs;
	memset(specs, 0, sizeof(*specs));
	note_uplink(f);
	save(a);
}

void filters_sync_dir(struct agent *a)
{
	struct filter_specs specs = { 0 };
	int err;

	/* With the API server, XdpFilter objects come from its watch. */
	if (!a->filters || a->kube)
		return;
	if (a->cfg.filter_dir[0]) {
		err = filtersrc_load_dir(a->cfg.filter_dir, &specs);
		if (err) {
			/* Unreadable is not empty: the rules stay as they are. */
			log_warn("filter", "cannot read filterDir, the rules stay as they are",
				 "dir=%s err=\"%s\"", a->cfg.filter_dir, strerror(-err));
			filtersrc_free(&specs);
			return;
		}
	}
	filters_sync(a, &specs);
}

/* ---- answers -------------------------------------------------------------- */

static const char *scope_name(const struct fentry *e)
{
	if (e->pod[0])
		return e->pod;
	if (e->scope == (XF_SCOPE_UPLINK | XF_SCOPE_PODS))
		return "all";
	return e->scope == XF_SCOPE_UPLINK ? "uplink" : "pods";
}

static struct json_object *entry_json(struct agent *a, const struct fentry *e)
{
	struct json_object *o = json_object_new_object();
	struct xf_stats st = { 0 };
	int64_t now = now_s();

	if (e->gen)
		filtermap_stats(&a->filters->fm, e->slot, &st);
	json_object_object_add(o, "name", json_object_new_string(e->name));
	json_object_object_add(o, "expr", json_object_new_string(e->expr));
	json_object_object_add(o, "origin", json_object_new_string(origin_names[e->origin]));
	json_object_object_add(o, "action", json_object_new_string(action_names[e->action]));
	if (e->action == XF_ACT_RATE) {
		json_object_object_add(o, "rate", json_object_new_int64(e->rate));
		json_object_object_add(o, "per", json_object_new_string(per_names[e->per]));
	}
	json_object_object_add(o, "scope", json_object_new_string(scope_name(e)));
	json_object_object_add(o, "active", json_object_new_boolean(e->gen != 0));
	if (!e->gen && e->status)
		json_object_object_add(o, "status", json_object_new_string(e->status));
	json_object_object_add(o, "hits", json_object_new_uint64(st.packets));
	json_object_object_add(o, "bytes", json_object_new_uint64(st.bytes));
	json_object_object_add(o, "drops", json_object_new_uint64(st.drops));
	json_object_object_add(o, "created", json_object_new_int64(e->created));
	json_object_object_add(o, "expires", json_object_new_int64(e->expires));
	json_object_object_add(o, "expiresInSeconds",
			       json_object_new_int64(e->expires ? e->expires - now : 0));
	if (e->gen) {
		json_object_object_add(o, "slot", json_object_new_int64(e->slot));
		json_object_object_add(o, "indexed",
				       json_object_new_boolean(a->filters->fm.slot[e->slot].indexed));
	}
	return o;
}

static struct json_object *api_list(struct agent *a)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	struct filters *f = a->filters;

	for (int i = 0; i < XF_MAX_RULES; i++)
		if (f->e[i].used)
			json_object_array_add(arr, entry_json(a, &f->e[i]));
	json_object_object_add(o, "filters", arr);
	json_object_object_add(o, "sanity", json_object_new_boolean(f->sanity));
	json_object_object_add(o, "capacity", json_object_new_int(XF_MAX_RULES));
	json_object_object_add(o, "uplinkXdp", json_object_new_boolean(f->uplink));
	json_object_object_add(o, "filterDir", json_object_new_string(a->cfg.filter_dir));
	arr = json_object_new_array();
	for (size_t i = 0; i < f->src.nbad; i++) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "at", json_object_new_string(f->src.bad[i].where));
		json_object_object_add(p, "error", json_object_new_string(f->src.bad[i].msg));
		json_object_array_add(arr, p);
	}
	json_object_object_add(o, "invalid", arr);
	return o;
}

static const char *rule_name(struct filters *f, uint32_t slot, uint32_t gen)
{
	for (int i = 0; i < XF_MAX_RULES; i++)
		if (f->e[i].used && f->e[i].gen == gen && f->e[i].slot == slot)
			return f->e[i].name;
	return "(removed)";
}

static void summary_fields(struct json_object *o, const struct xf_event *v)
{
	struct xf_summary s;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int proto = -1;

	xf_summarize(v->data, v->caplen, &s);
	if (xf_present(&s, XF_IP_SRC)) {
		uint32_t x = htonl((uint32_t)s.v[XF_IP_SRC]), y = htonl((uint32_t)s.v[XF_IP_DST]);

		inet_ntop(AF_INET, &x, a, sizeof(a));
		inet_ntop(AF_INET, &y, b, sizeof(b));
		proto = (int)s.v[XF_IP_PROTO];
	} else if (xf_present(&s, XF_IP6_SRC_HI)) {
		uint8_t x[16], y[16];

		for (int i = 0; i < 8; i++) {
			x[i] = (uint8_t)(s.v[XF_IP6_SRC_HI] >> (56 - 8 * i));
			x[8 + i] = (uint8_t)(s.v[XF_IP6_SRC_LO] >> (56 - 8 * i));
			y[i] = (uint8_t)(s.v[XF_IP6_DST_HI] >> (56 - 8 * i));
			y[8 + i] = (uint8_t)(s.v[XF_IP6_DST_LO] >> (56 - 8 * i));
		}
		inet_ntop(AF_INET6, x, a, sizeof(a));
		inet_ntop(AF_INET6, y, b, sizeof(b));
		if (xf_present(&s, XF_IP6_UPPER))
			proto = (int)s.v[XF_IP6_UPPER];
	} else {
		return;
	}
	json_object_object_add(o, "src", json_object_new_string(a));
	json_object_object_add(o, "dst", json_object_new_string(b));
	json_object_object_add(o, "proto", json_object_new_int(proto));
	if (xf_present(&s, XF_TCP_DPORT)) {
		json_object_object_add(o, "srcPort", json_object_new_int64((int64_t)s.v[XF_TCP_SPORT]));
		json_object_object_add(o, "dstPort", json_object_new_int64((int64_t)s.v[XF_TCP_DPORT]));
	} else if (xf_present(&s, XF_UDP_DPORT)) {
		json_object_object_add(o, "srcPort", json_object_new_int64((int64_t)s.v[XF_UDP_SPORT]));
		json_object_object_add(o, "dstPort", json_object_new_int64((int64_t)s.v[XF_UDP_DPORT]));
	}
}

static struct json_object *event_json(struct filters *f, const struct xf_event *v, uint64_t seq)
{
	struct json_object *o = json_object_new_object();
	time_t secs = (time_t)(((int64_t)v->ts_ns + f->mono_to_real_ns) / 1000000000);
	char ts[32], ifname[IF_NAMESIZE] = "", hex[2 * XF_SAMPLE_BYTES + 1];
	uint32_t cap = v->caplen > XF_SAMPLE_BYTES ? XF_SAMPLE_BYTES : v->caplen;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if_indextoname(v->ifindex, ifname);
	for (uint32_t i = 0; i < cap; i++)
		snprintf(hex + 2 * i, 3, "%02x", v->data[i]);
	hex[2 * cap] = '\0';
	json_object_object_add(o, "seq", json_object_new_uint64(seq));
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "rule", json_object_new_string(rule_name(f, v->slot, v->gen)));
	json_object_object_add(o, "at", json_object_new_string(v->at == XF_AT_UPLINK ? "uplink" : "pod"));
	json_object_object_add(o, "interface", json_object_new_string(ifname));
	json_object_object_add(o, "action", json_object_new_string(
				       v->action < XF_ACT_MAX ? action_names[v->action] : "?"));
	json_object_object_add(o, "len", json_object_new_int64(v->len));
	summary_fields(o, v);
	json_object_object_add(o, "hex", json_object_new_string(hex));
	return o;
}

static struct json_object *api_events(struct agent *a, struct json_object *req)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	struct filters *f = a->filters;
	int64_t since = jint(req, "since");
	uint64_t first;

	filters_consume(a);
	first = f->seq > EVENTS_KEEP ? f->seq - EVENTS_KEEP : 0;
	if (since > 0 && (uint64_t)since > first)
		first = (uint64_t)since;
	for (uint64_t s = first; s < f->seq; s++)
		json_object_array_add(arr, event_json(f, &f->ev[s % EVENTS_KEEP], s + 1));
	json_object_object_add(o, "events", arr);
	json_object_object_add(o, "last", json_object_new_uint64(f->seq));
	return o;
}

struct json_object *filters_metrics(struct agent *a)
{
	struct json_object *o = json_object_new_object(), *per = json_object_new_array();
	uint64_t hits = 0, drops = 0, rules = 0;
	struct xf_stats st;

	if (!a->filters) {
		json_object_put(per);
		return o;
	}
	for (int i = 0; i < XF_MAX_RULES; i++) {
		struct fentry *e = &a->filters->e[i];
		struct json_object *r;

		if (!e->used || !e->gen || filtermap_stats(&a->filters->fm, e->slot, &st))
			continue;
		rules++;
		hits += st.packets;
		drops += st.drops;
		/* Per rule, for /metrics (prom.c: xdpath_filter_*_total{rule,action}). */
		r = json_object_new_object();
		json_object_object_add(r, "name", json_object_new_string(e->name));
		json_object_object_add(r, "action", json_object_new_string(action_names[e->action]));
		json_object_object_add(r, "active", json_object_new_boolean(true));
		json_object_object_add(r, "hits", json_object_new_uint64(st.packets));
		json_object_object_add(r, "drops", json_object_new_uint64(st.drops));
		json_object_object_add(r, "bytes", json_object_new_uint64(st.bytes));
		json_object_array_add(per, r);
	}
	json_object_object_add(o, "rules", per);
	json_object_object_add(o, "activeRules", json_object_new_uint64(rules));
	json_object_object_add(o, "hits", json_object_new_uint64(hits));
	json_object_object_add(o, "drops", json_object_new_uint64(drops));
	json_object_object_add(o, "capacity", json_object_new_int(XF_MAX_RULES));
	return o;
}

struct json_object *filters_api(struct agent *a, const char *cmd, struct json_object *req)
{
	if (strncmp(cmd, "filter-", 7))
		return NULL;
	if (!a->filters)
		return err_obj("filters are unavailable on this node (see the agent log)");
	if (!strcmp(cmd, "filter-add"))
		return api_add(a, req);
	if (!strcmp(cmd, "filter-del"))
		return api_del(a, req);
	if (!strcmp(cmd, "filter-list"))
		return api_list(a);
	if (!strcmp(cmd, "filter-enable"))
		return api_enable(a, req);
	if (!strcmp(cmd, "filter-disable"))
		return api_disable(a, req);
	if (!strcmp(cmd, "filter-sanity"))
		return api_sanity(a, req);
	if (!strcmp(cmd, "filter-events"))
		return api_events(a, req);
	return NULL;
}
