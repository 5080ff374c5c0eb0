/* kwatch: list + watch informers on libcurl, one thread per resource. */
#include "kwatch.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hbuf.h"
#include "kube.h"
#include "log.h"

#define LIST_PAGE        500
#define BACKOFF_MIN_MS   200
#define BACKOFF_MAX_MS   10000
#define OPTIONAL_RETRY_MS 30000
#define DEFAULT_WATCH_S  300

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- the cache ------------------------------------------------------------- */

static size_t key_hash(const char *s)
{
	size_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static int cache_grow(struct kitem ***b, size_t *nb)
{
	size_t nnb = *nb ? *nb * 2 : 256;
	struct kitem **nbk = calloc(nnb, sizeof(*nbk));

	if (!nbk)
		return -ENOMEM;
	for (size_t i = 0; i < *nb; i++) {
		for (struct kitem *it = (*b)[i], *next; it; it = next) {
			size_t j = key_hash(it->key) & (nnb - 1);

			next = it->next;
			it->next = nbk[j];
			nbk[j] = it;
		}
	}
	free(*b);
	*b = nbk;
	*nb = nnb;
	return 0;
}

/* The item slot for key in b (its link, *slot NULL when absent). */
static struct kitem **cache_slot(struct kitem **b, size_t nb, const char *key)
{
	struct kitem **p = &b[key_hash(key) & (nb - 1)];

	while (*p && strcmp((*p)->key, key))
		p = &(*p)->next;
	return p;
}

static void grave_add(struct kwatch *w, const struct kres *r, void *val)
{
	struct kgrave *g;

	if (!val)
		return;
	g = malloc(sizeof(*g));
	if (!g) { /* leak rather than free a value a policy set may point into */
		log_warn("k8s", "out of memory parking a cache value", NULL);
		return;
	}
	g->val = val;
	g->free = r->free;
	g->next = w->grave;
	w->grave = g;
}

/* Under the lock. val NULL removes. 0 or -ENOMEM. */
static int cache_put(struct kwatch_res *c, const char *key, void *val)
{
	struct kitem **slot, *it;

	if (c->n + 1 > c->nb && cache_grow(&c->b, &c->nb))
		return -ENOMEM;
	slot = cache_slot(c->b, c->nb, key);
	it = *slot;
	if (it) {
		grave_add(c->w, c->r, it->val);
		if (val) {
			it->val = val;
			return 0;
		}
		*slot = it->next;
		free(it->key);
		free(it);
		c->n--;
		return 0;
	}
	if (!val)
		return 0;
	it = calloc(1, sizeof(*it));
	if (!it || !(it->key = strdup(key))) {
		free(it);
		return -ENOMEM;
	}
	it->val = val;
	*slot = it;
	c->n++;
	return 0;
}

/* Every item of b[nb] to the graveyard, and b freed. */
static void cache_clear(struct kwatch *w, const struct kres *r, struct kitem **b, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		for (struct kitem *it = b[i], *next; it; it = next) {
			next = it->next;
			grave_add(w, r, it->val);
			free(it->key);
			free(it);
		}
	}
	free(b);
}

void kwatch_lock(struct kwatch *w)
{
	pthread_mutex_lock(&w->mu);
}

void kwatch_unlock(struct kwatch *w)
{
	pthread_mutex_unlock(&w->mu);
}

void kwatch_foreach(struct kwatch *w, int i, void (*fn)(const char *key, void *val, void *ctx),
		    void *ctx)
{
	struct kwatch_res *c = &w->res[i];

	for (size_t j = 0; j < c->nb; j++)
		for (struct kitem *it = c->b[j]; it; it = it->next)
			fn(it->key, it->val, ctx);
}

void *kwatch_get(struct kwatch *w, int i, const char *key)
{
	struct kwatch_res *c = &w->res[i];
	struct kitem *it = c->nb ? *cache_slot(c->b, c->nb, key) : NULL;

	return it ? it->val : NULL;
}

struct kgrave *kwatch_grave_take(struct kwatch *w)
{
	struct kgrave *g = w->grave;

	w->grave = NULL;
	return g;
}

void kwatch_grave_return(struct kwatch *w, struct kgrave *g)
{
	struct kgrave *last = g;

	if (!g)
		return;
	while (last->next)
		last = last->next;
	kwatch_lock(w);
	last->next = w->grave;
	w->grave = g;
	kwatch_unlock(w);
}

void kwatch_grave_free(struct kgrave *g)
{
	while (g) {
		struct kgrave *next = g->next;

		g->free(g->val);
		free(g);
		g = next;
	}
}

static void notify(struct kwatch *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("k8s", "eventfd write failed", "err=\"%s\"", strerror(errno));
}

void kwatch_ack(struct kwatch *w)
{
	uint64_t n;

	while (read(w->efd, &n, sizeof(n)) > 0)
		;
}

/* ---- objects ------------------------------------------------------------- */

static const char *meta_str(struct json_object *obj, const char *key)
{
	return kube_str(kube_obj(obj, "metadata"), key);
}

/* "ns/name" or "name"; -EINVAL without a name. */
static int obj_key(struct json_object *obj, char *buf, size_t len)
{
	const char *ns = meta_str(obj, "namespace"), *name = meta_str(obj, "name");

	if (!name)
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s%s%s", ns ? ns : "", ns ? "/" : "", name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

static void res_path(const struct kres *r, char *buf, size_t len, const char *query)
{
	if (r->group[0])
		snprintf(buf, len, "/apis/%s/%s/%s?%s", r->group, r->version, r->resource, query);
	else
		snprintf(buf, len, "/api/%s/%s?%s", r->version, r->resource, query);
}

static int progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct kwatch *w = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return atomic_load(&w->stop) ? 1 : 0;
}

static void no_stall(struct kwatch *w, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
}

/* ---- list ---------------------------------------------------------------- */

/* One page into the new cache nb/b; *cont the next continue token (or ""),
 * rv the list's resourceVersion. 0, -EAGAIN (continue expired: list again
 * from the start), -ENOENT (404), or -EIO. */
static int list_page(struct kwatch_res *c, CURL *h, const char *cont, struct kitem ***b,
		     size_t *nb, size_t *n, char *next, size_t nextlen, char *rv, size_t rvlen)
{
	const struct kres *r = c->r;
	struct curl_slist *hdrs = NULL;
	struct json_object *doc = NULL, *items, *meta, *v;
	struct hbuf pg = { 0 };
	char query[1024], path[1280], key[512];
	char *esc = NULL;
	long status = 0;
	CURLcode cc;
	int err;

	if (cont[0] && !(esc = curl_easy_escape(h, cont, 0)))
		return -ENOMEM;
	snprintf(query, sizeof(query), "limit=%d%s%s", LIST_PAGE, esc ? "&continue=" : "",
		 esc ? esc : "");
	curl_free(esc);
	res_path(r, path, sizeof(path), query);
	err = kube_setup(c->w->k, h, path, &hdrs);
	if (err)
		goto out;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &pg);
	no_stall(c->w, h);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	err = -EIO;
	if (cc != CURLE_OK) {
		log_kv(c->st.errors ? LOG_DEBUG : LOG_WARN, "k8s", "list failed",
		       "resource=%s err=\"%s\"", r->resource, curl_easy_strerror(cc));
		goto out;
	}
	doc = pg.buf ? json_tokener_parse(pg.buf) : NULL;
	if (status == 410) {
		err = -EAGAIN;
		goto out;
	}
	if (status == 404 && r->optional) {
		err = -ENOENT;
		goto out;
	}
	if (status != 200 || !json_object_object_get_ex(doc, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		log_kv(c->st.errors ? LOG_DEBUG : LOG_WARN, "k8s", "list refused",
		       "resource=%s status=%ld message=\"%s\"", r->resource, status,
		       kube_status_message(doc));
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		struct json_object *it = json_object_array_get_idx(items, i);
		struct kitem **slot, *item;
		void *val;

		if (obj_key(it, key, sizeof(key)))
			continue;
		val = r->decode(it, r->kind);
		if (!val)
			continue;
		if (*n + 1 > *nb && cache_grow(b, nb)) {
			r->free(val);
			err = -ENOMEM;
			goto out;
		}
		slot = cache_slot(*b, *nb, key);
		if (*slot) { /* a duplicate across pages: the later one wins */
			r->free((*slot)->val);
			(*slot)->val = val;
			continue;
		}
		item = calloc(1, sizeof(*item));
		if (!item || !(item->key = strdup(key))) {
			free(item);
			r->free(val);
			err = -ENOMEM;
			goto out;
		}
		item->val = val;
		*slot = item;
		(*n)++;
	}
	next[0] = rv[0] = '\0';
	if (json_object_object_get_ex(doc, "metadata", &meta)) {
		if (json_object_object_get_ex(meta, "continue", &v))
			snprintf(next, nextlen, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(meta, "resourceVersion", &v))
			snprintf(rv, rvlen, "%s", json_object_get_string(v));
	}
	err = 0;
out:
	json_object_put(doc);
	curl_slist_free_all(hdrs);
	free(pg.buf);
	return err;
}

static void free_items(const struct kres *r, struct kitem **b, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		for (struct kitem *it = b[i], *next; it; it = next) {
			next = it->next;
			r->free(it->val);
			free(it->key);
			free(it);
		}
	}
	free(b);
}

/* The whole list replaces the cache (a relist also drops objects deleted
 * while no watch ran). rv: where the watch continues. */
static int list_all(struct kwatch_res *c, CURL *h, char *rv, size_t rvlen)
{
	struct kitem **b = NULL;
	size_t nb = 0, n = 0;
	char cont[2048] = "", next[2048];
	double t0 = mono_s();
	int err, restarts = 0;

	for (;;) {
		err = list_page(c, h, cont, &b, &nb, &n, next, sizeof(next), rv, rvlen);
		if (err == -EAGAIN && restarts++ < 3) { /* continue token expired */
			free_items(c->r, b, nb);
			b = NULL;
			nb = n = 0;
			cont[0] = '\0';
			continue;
		}
		if (err == -ENOENT)
			rv[0] = '\0';
		if (err && err != -ENOENT) {
			free_items(c->r, b, nb);
			return err;
		}
		if (err || !next[0])
			break;
		snprintf(cont, sizeof(cont), "%s", next);
	}
	kwatch_lock(c->w);
	cache_clear(c->w, c->r, c->b, c->nb);
	c->b = b;
	c->nb = nb;
	c->n = n;
	c->gen++;
	c->st.relists++;
	c->st.synced = true;
	c->st.list_ms = (long)((mono_s() - t0) * 1000);
	c->st.last_seen = mono_s();
	kwatch_unlock(c->w);
	log_info("k8s", "listed", "resource=%s objects=%zu resourceVersion=%s ms=%ld%s",
		 c->r->resource, n, rv[0] ? rv : "-", c->st.list_ms,
		 err == -ENOENT ? " (not served: CRD not installed?)" : "");
	notify(c->w);
	return err;
}

/* ---- watch --------------------------------------------------------------- */

enum wend { W_END, W_EXPIRED, W_FAIL, W_STOP };

struct stream {
	struct kwatch_res *c;
	CURL *h;
	struct json_tokener *tok;
	char *rv;
	size_t rvlen;
	enum wend end;
	bool checked;               /* the status code was looked at */
};

static void apply_event(struct stream *s, const char *type, struct json_object *obj)
{
	struct kwatch_res *c = s->c;
	const char *rv = meta_str(obj, "resourceVersion");
	char key[512];
	void *val = NULL;
	bool del = !strcmp(type, "DELETED");

	if (rv)
		snprintf(s->rv, s->rvlen, "%s", rv);
	if (!strcmp(type, "BOOKMARK")) {
		kwatch_lock(c->w);
		c->st.bookmarks++;
		c->st.last_seen = mono_s();
		kwatch_unlock(c->w);
		return;
	}
	if ((!del && strcmp(type, "ADDED") && strcmp(type, "MODIFIED")) ||
	    obj_key(obj, key, sizeof(key)))
		return;
	if (!del)
		val = c->r->decode(obj, c->r->kind); /* NULL: not cached (removed if it was) */
	kwatch_lock(c->w);
	if (cache_put(c, key, val)) {
		c->r->free(val);
		c->st.errors++;
	}
	c->gen++;
	c->st.events++;
	c->st.last_seen = mono_s();
	kwatch_unlock(c->w);
	notify(c->w);
}

/* A 410 arrives as an ERROR event carrying a Status. */
static bool is_gone(struct json_object *status)
{
	struct json_object *code;

	return json_object_object_get_ex(status, "code", &code) && json_object_get_int(code) == 410;
}

static int one_event(struct stream *s, struct json_object *ev)
{
	struct json_object *t, *obj;
	const char *type;

	if (!json_object_object_get_ex(ev, "type", &t) || !json_object_object_get_ex(ev, "object", &obj))
		return 0;
	type = json_object_get_string(t);
	if (!strcmp(type, "ERROR")) {
		s->end = is_gone(obj) ? W_EXPIRED : W_FAIL;
		if (s->end == W_FAIL)
			log_warn("k8s", "watch error", "resource=%s message=\"%s\"", s->c->r->resource,
				 kube_status_message(obj));
		return -1;
	}
	apply_event(s, type, obj);
	return 0;
}

static size_t stream_write(char *data, size_t size, size_t n, void *arg)
{
	struct stream *s = arg;
	size_t len = size * n, off = 0;
	long status = 0;

	if (!s->checked) {
		s->checked = true;
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200) {
			/* 410: too old. 404 on an optional resource (its CRD
			 * deleted): the list then says "empty". Both relist. */
			s->end = status == 410 || (status == 404 && s->c->r->optional) ? W_EXPIRED
											 : W_FAIL;
			if (s->end != W_EXPIRED)
				log_warn("k8s", "watch refused", "resource=%s status=%ld",
					 s->c->r->resource, status);
			return 0;
		}
	}
	while (off < len) {
		struct json_object *ev;

		/* Newlines between events are white space to the tokener. */
		while (off < len && strchr(" \t\r\n", data[off]))
			off++;
		if (off == len)
			break;
		ev = json_tokener_parse_ex(s->tok, data + off, (int)(len - off));
		if (!ev) {
			if (json_tokener_get_error(s->tok) == json_tokener_continue)
				return len;
			s->end = W_FAIL;
			log_warn("k8s", "watch stream is not JSON", "resource=%s",
				 s->c->r->resource);
			return 0;
		}
		off += json_tokener_get_parse_end(s->tok);
		json_tokener_reset(s->tok);
		if (one_event(s, ev)) {
			json_object_put(ev);
			return 0;
		}
		json_object_put(ev);
	}
	return len;
}

static enum wend watch_once(struct kwatch_res *c, CURL *h, char *rv, size_t rvlen)
{
	struct stream s = { .c = c, .h = h, .rv = rv, .rvlen = rvlen, .end = W_END };
	struct curl_slist *hdrs = NULL;
	char query[256], path[512];
	long timeout = c->w->watch_timeout_s;
	CURLcode cc;

	/* Spread the watches' ends so that reconnections do not come in herds. */
	timeout = timeout * 3 / 4 + random() % (timeout / 2 + 1);
	snprintf(query, sizeof(query), "watch=1&allowWatchBookmarks=true&resourceVersion=%s"
		 "&timeoutSeconds=%ld", rv, timeout);
	res_path(c->r, path, sizeof(path), query);
	s.tok = json_tokener_new_ex(64);
	if (!s.tok || kube_setup(c->w->k, h, path, &hdrs)) {
		json_tokener_free(s.tok);
		curl_slist_free_all(hdrs);
		return W_FAIL;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	/* A silent peer (partition) is caught by TCP keepalive and this cap. */
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout + 30);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	no_stall(c->w, h);
	cc = curl_easy_perform(h);
	json_tokener_free(s.tok);
	curl_slist_free_all(hdrs);
	if (atomic_load(&c->w->stop))
		return W_STOP;
	if (cc != CURLE_OK && s.end == W_END) {
		log_kv(LOG_INFO, "k8s", "watch broken, resuming", "resource=%s resourceVersion=%s "
		       "err=\"%s\"", c->r->resource, rv, curl_easy_strerror(cc));
		s.end = W_FAIL;
	}
	if (!s.checked && s.end == W_END) { /* an empty 200 (timeout) or an empty error */
		long status = 0;

		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 410 || (status == 404 && c->r->optional))
			s.end = W_EXPIRED;
		else if (status != 200)
			s.end = W_FAIL;
	}
	return s.end;
}

/* ---- the thread ------------------------------------------------------------ */

static void nap(struct kwatch *w, long ms)
{
	while (ms > 0 && !atomic_load(&w->stop)) {
		struct timespec t = { 0, (ms > 100 ? 100 : ms) * 1000000L };

		nanosleep(&t, NULL);
		ms -= 100;
	}
}

/* 200 ms doubling to 10 s, times 0.5..1.5 so that agents do not retry in step. */
static long backoff_ms(int fails)
{
	long ms = BACKOFF_MIN_MS << (fails > 6 ? 6 : fails);

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	return ms / 2 + random() % (ms + 1);
}

static void count_error(struct kwatch_res *c)
{
	kwatch_lock(c->w);
	c->st.errors++;
	kwatch_unlock(c->w);
}

static void *run(void *arg)
{
	struct kwatch_res *c = arg;
	struct kwatch *w = c->w;
	CURL *h = kube_handle();
	char rv[128] = "";
	int fails = 0, err;

	if (!h) {
		log_error("k8s", "cannot create a curl handle", "resource=%s", c->r->resource);
		return NULL;
	}
	while (!atomic_load(&w->stop)) {
		if (!rv[0]) {
			err = list_all(c, h, rv, sizeof(rv));
			if (err == -ENOENT) {
				nap(w, OPTIONAL_RETRY_MS);
				continue;
			}
			if (err) {
				rv[0] = '\0'; /* a page's version is not the whole list's */
				count_error(c);
				nap(w, backoff_ms(fails++));
				continue;
			}
		}
		switch (watch_once(c, h, rv, sizeof(rv))) {
		case W_END:
			fails = 0;
			break;
		case W_EXPIRED:
			log_info("k8s", "watch expired (410 Gone): relisting", "resource=%s "
				 "resourceVersion=%s", c->r->resource, rv);
			kwatch_lock(w);
			c->st.expired++;
			kwatch_unlock(w);
			rv[0] = '\0';
			fails = 0;
			break;
		case W_FAIL:
			count_error(c);
			nap(w, backoff_ms(fails++));
			break;
		case W_STOP:
			break;
		}
	}
	curl_easy_cleanup(h);
	return NULL;
}

int kwatch_start(struct kwatch *w, const struct kube *k, const struct kres *r, int n)
{
	struct timespec t;
	int err;

	if (n > KWATCH_MAX)
		return -EINVAL;
	w->k = k;
	w->nres = n;
	if (!w->watch_timeout_s)
		w->watch_timeout_s = DEFAULT_WATCH_S;
	atomic_store(&w->stop, false);
	pthread_mutex_init(&w->mu, NULL);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -errno;
	clock_gettime(CLOCK_REALTIME, &t);
	srandom((unsigned)(t.tv_nsec ^ getpid()));
	for (int i = 0; i < n; i++) {
		w->res[i].w = w;
		w->res[i].r = &r[i];
		err = -pthread_create(&w->res[i].th, NULL, run, &w->res[i]);
		if (err) {
			kwatch_stop(w);
			return err;
		}
		w->res[i].started = true;
	}
	return 0;
}

void kwatch_stop(struct kwatch *w)
{
	atomic_store(&w->stop, true);
	for (int i = 0; i < w->nres; i++) {
		if (w->res[i].started)
			pthread_join(w->res[i].th, NULL);
		w->res[i].started = false;
	}
}
