/* parse: Kubernetes manifests -> struct policy_set (see parse.h). Owns
 * every field the policy library reads from NetworkPolicy, Pod and
 * Namespace objects: its validation (the API server's rules, messages that
 * name the field and the value), its defaults, and apply semantics for
 * duplicates. Text -> documents is policy/load.c's business. */
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "load.h"

#define PATH_LEN       192      /* spec.egress[12].to[3].ipBlock.except[7] */
#define WHERE_LEN      256      /* source:line: items[3] */
#define SHOW_LEN       80       /* a value quoted in a message */
#define MSG_LEN        512
#define MAX_OBJ_ERRORS 10       /* per object; then one "N more" */
#define MAX_LIST_DEPTH 4        /* List in List in array ... */
#define NO_NS          ((size_t)-1)

#define LABEL_CHARS "must consist of alphanumeric characters, '-', '_' or '.', " \
		    "and must start and end with an alphanumeric character"

/* ---- freeing the model ------------------------------------------------- */

void labels_free(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void selector_free(struct selector *s)
{
	labels_free(&s->match_labels);
	for (size_t i = 0; i < s->nexprs; i++) {
		free(s->exprs[i].key);
		for (size_t j = 0; j < s->exprs[i].nvalues; j++)
			free(s->exprs[i].values[j]);
		free(s->exprs[i].values);
	}
	free(s->exprs);
	memset(s, 0, sizeof(*s));
}

static void rules_free(struct rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < r[i].npeers; j++) {
			selector_free(&r[i].peers[j].pod_sel);
			selector_free(&r[i].peers[j].ns_sel);
			free(r[i].peers[j].ip_block.except);
		}
		free(r[i].peers);
		for (size_t j = 0; j < r[i].nports; j++)
			free(r[i].ports[j].port_name);
		free(r[i].ports);
	}
	free(r);
}

static void netpol_free(void *v)
{
	struct netpol *p = v;

	free(p->ns);
	free(p->name);
	selector_free(&p->pod_sel);
	rules_free(p->ingress, p->ningress);
	rules_free(p->egress, p->negress);
	memset(p, 0, sizeof(*p));
}

void policy_netpol_free(struct netpol *p)
{
	netpol_free(p);
}

static void pod_free(void *v)
{
	struct pod *p = v;

	free(p->ns);
	free(p->name);
	labels_free(&p->labels);
	for (size_t i = 0; i < p->nports; i++)
		free(p->ports[i].name);
	free(p->ports);
	free(p->node);
	memset(p, 0, sizeof(*p));
}

static void ns_free(void *v)
{
	struct namespace *n = v;

	free(n->name);
	labels_free(&n->labels);
	memset(n, 0, sizeof(*n));
}

static void error_free(struct policy_error *e)
{
	free(e->kind);
	free(e->ns);
	free(e->name);
	free(e->reason);
}

void policy_set_free(struct policy_set *set)
{
	if (set->borrowed)
		goto arrays;
	for (size_t i = 0; i < set->npols; i++)
		netpol_free(&set->pols[i]);
	for (size_t i = 0; i < set->npods; i++)
		pod_free(&set->pods[i]);
	for (size_t i = 0; i < set->nnss; i++)
		ns_free(&set->nss[i]);
	for (size_t i = 0; i < set->nerrors; i++)
		error_free(&set->errors[i]);
arrays:
	free(set->pols);
	free(set->pods);
	free(set->nss);
	free(set->errors);
	memset(set, 0, sizeof(*set));
}

/* ---- objects of one kind, deduplicated -------------------------------- */

/* The set's array of one kind, the objects this call adds (appended at the
 * end, so that the set's array grows once), and a hash index on
 * (namespace, name) over both: a duplicate replaces its predecessor (apply
 * semantics) without a quadratic scan over a cluster's pods. */
struct table {
	char *base;                  /* the set's array */
	size_t nbase;
	size_t size, off_ns, off_name;
	void (*free)(void *);
	char *add;                   /* new objects */
	size_t nadd, cap;
	size_t *slot;                /* 0: free, else 1 + position (base, then add) */
	size_t nslot;
};

static void tab_init(struct table *t, void *base, size_t n, size_t size, size_t off_ns,
		     size_t off_name, void (*fr)(void *))
{
	*t = (struct table){ .base = base, .nbase = n, .size = size, .off_ns = off_ns,
			     .off_name = off_name, .free = fr };
}

static char *tab_at(const struct table *t, size_t pos)
{
	if (pos < t->nbase)
		return t->base + pos * t->size;
	return t->add + (pos - t->nbase) * t->size;
}

static const char *key_ns(const struct table *t, const char *el)
{
	return t->off_ns == NO_NS ? NULL : *(char *const *)(el + t->off_ns);
}

static const char *key_name(const struct table *t, const char *el)
{
	return *(char *const *)(el + t->off_name);
}

static bool key_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* FNV-1a over namespace, a byte no name has, name. */
static size_t key_hash(const char *ns, const char *name)
{
	uint64_t h = 14695981039346656037ull;

	for (const char *s = ns ? ns : ""; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *s = name ? name : ""; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return (size_t)h;
}

/* The slot of (ns, name): where it is, or the free slot where it goes. */
static size_t *tab_slot(const struct table *t, const char *ns, const char *name)
{
	size_t mask = t->nslot - 1;

	for (size_t i = key_hash(ns, name) & mask;; i = (i + 1) & mask) {
		size_t *s = &t->slot[i];
		const char *el;

		if (!*s)
			return s;
		el = tab_at(t, *s - 1);
		if (key_eq(key_ns(t, el), ns) && key_eq(key_name(t, el), name))
			return s;
	}
}

/* Keep the index at most half full, for one more object. */
static int tab_reserve(struct table *t)
{
	size_t total = t->nbase + t->nadd, nslot = t->nslot ? t->nslot : 16;
	size_t *old = t->slot;

	if (old && 2 * (total + 1) <= t->nslot)
		return 0;
	while (nslot < 2 * (total + 1))
		nslot *= 2;
	t->slot = calloc(nslot, sizeof(*t->slot));
	if (!t->slot) {
		t->slot = old;
		return -ENOMEM;
	}
	t->nslot = nslot;
	free(old);
	for (size_t pos = 0; pos < total; pos++) {
		const char *el = tab_at(t, pos);
		size_t *s = tab_slot(t, key_ns(t, el), key_name(t, el));

		if (!*s)
			*s = pos + 1;
	}
	return 0;
}

/* obj (size bytes, the table's now) replaces the object with its namespace
 * and name, or is added. On -ENOMEM obj is freed. */
static int tab_put(struct table *t, void *obj)
{
	size_t *s;
	char *v;

	if (tab_reserve(t))
		goto nomem;
	s = tab_slot(t, key_ns(t, obj), key_name(t, obj));
	if (*s) {
		v = tab_at(t, *s - 1);
		t->free(v);
		memcpy(v, obj, t->size);
		return 0;
	}
	if (t->nadd == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;

		v = realloc(t->add, cap * t->size);
		if (!v)
			goto nomem;
		t->add = v;
		t->cap = cap;
	}
	memcpy(t->add + t->nadd * t->size, obj, t->size);
	t->nadd++;
	*s = t->nbase + t->nadd;
	return 0;
nomem:
	t->free(obj);
	return -ENOMEM;
}

/* Append the new objects to the base array (t->base, t->nbase). */
static int tab_commit(struct table *t)
{
	int ret = 0;
	char *v;

	free(t->slot);
	t->slot = NULL;
	if (t->nadd) {
		v = realloc(t->base, (t->nbase + t->nadd) * t->size);
		if (v) {
			memcpy(v + t->nbase * t->size, t->add, t->nadd * t->size);
			t->base = v;
			t->nbase += t->nadd;
		} else {
			for (size_t i = 0; i < t->nadd; i++)
				t->free(t->add + i * t->size);
			ret = -ENOMEM;
		}
	}
	free(t->add);
	t->add = NULL;
	t->nadd = t->cap = 0;
	return ret;
}

/* ---- errors ----------------------------------------------------------- */

enum kind_id { K_POL, K_POD, K_NS, NKINDS };

struct parse {
	struct policy_set *set;
	const char *source;
	struct table tab[NKINDS];
	int err;                     /* -ENOMEM, sticky */
};

/* Decoding one object. */
struct obj {
	struct parse *p;
	const char *kind;
	const char *ns, *name;       /* borrowed from the document, for errors */
	const char *where;           /* "source:line", named when name is not */
	char path[PATH_LEN];         /* of the field being decoded */
	size_t plen;
	int nerr;
};

/* Record a problem; reason is ours (NULL: its allocation failed). */
static void add_error(struct parse *p, const char *kind, const char *ns, const char *name,
		      char *reason)
{
	struct policy_error e = { .reason = reason }, *v;
	struct policy_set *s = p->set;

	if (!reason || (kind && !(e.kind = strdup(kind))) || (ns && !(e.ns = strdup(ns))) ||
	    (name && !(e.name = strdup(name))))
		goto nomem;
	v = realloc(s->errors, (s->nerrors + 1) * sizeof(*v));
	if (!v)
		goto nomem;
	s->errors = v;
	v[s->nerrors++] = e;
	return;
nomem:
	error_free(&e);
	p->err = -ENOMEM;
}

/* A problem with a document rather than an object. */
static void errorf(struct parse *p, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errorf(struct parse *p, const char *kind, const char *fmt, ...)
{
	char *reason;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&reason, fmt, ap) < 0)
		reason = NULL;
	va_end(ap);
	add_error(p, kind, NULL, NULL, reason);
}

/* A problem with the field key (NULL: the field itself) at o's path. */
static void bad(struct obj *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad(struct obj *o, const char *key, const char *fmt, ...)
{
	char msg[MSG_LEN], field[PATH_LEN + 80];
	char *reason;
	va_list ap;

	if (++o->nerr > MAX_OBJ_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(field, sizeof(field), "%s%s%s", o->path, o->plen && key ? "." : "",
		 key ? key : "");
	if (asprintf(&reason, "%s%s%s%s%s", o->name ? "" : o->where, o->name ? "" : ": ",
		     field, *field ? ": " : "", msg) < 0)
		reason = NULL;
	add_error(o->p, o->kind, o->ns, o->name, reason);
}

static void oom(struct obj *o)
{
	o->p->err = -ENOMEM;
	o->nerr++;
}

static char *dup(struct obj *o, const char *s)
{
	char *d = strdup(s);

	if (!d)
		oom(o);
	return d;
}

static void *alloc(struct obj *o, size_t n, size_t size)
{
	void *v = calloc(n, size);

	if (!v)
		oom(o);
	return v;
}

/* s (n bytes) for a message: quoted, escaped, cut to fit SHOW_LEN. */
static const char *quote(const char *s, size_t n, char *buf)
{
	size_t k = 0;

	buf[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (k > SHOW_LEN - 10) {
			memcpy(buf + k, "...", 3);
			k += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[k++] = '\\';
			buf[k++] = c;
		} else if (c >= 0x20 && c < 0x7f) {
			buf[k++] = c;
		} else {
			k += snprintf(buf + k, 5, "\\x%02x", c);
		}
	}
	buf[k++] = '"';
	buf[k] = '\0';
	return buf;
}

static const char *qs(const char *s, char *buf)
{
	return quote(s, strlen(s), buf);
}

/* A value for a message. Containers by their type only: they can be huge,
 * or (YAML aliases) shared many times over. */
static const char *show(struct json_object *v, char *buf)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return json_object_get_boolean(v) ? "true" : "false";
	case json_type_int:
		snprintf(buf, SHOW_LEN, "%" PRId64, json_object_get_int64(v));
		return buf;
	case json_type_double:
		snprintf(buf, SHOW_LEN, "%g", json_object_get_double(v));
		return buf;
	case json_type_string:
		return quote(json_object_get_string(v), json_object_get_string_len(v), buf);
	case json_type_object:
		return "a mapping";
	case json_type_array:
		return "a list";
	}
	return "?";
}

static const char *type_name(enum json_type t)
{
	switch (t) {
	case json_type_object: return "a mapping";
	case json_type_array: return "a list";
	case json_type_string: return "a string";
	case json_type_int: return "an integer";
	case json_type_boolean: return "a boolean";
	default: return "a number";
	}
}

/* ---- field paths and typed access ------------------------------------- */

static size_t push(struct obj *o, const char *key)
{
	size_t old = o->plen;
	int n = snprintf(o->path + o->plen, PATH_LEN - o->plen, "%s%s", o->plen ? "." : "", key);

	o->plen = n < 0 || o->plen + n >= PATH_LEN ? PATH_LEN - 1 : o->plen + n;
	return old;
}

static size_t push_idx(struct obj *o, size_t i)
{
	size_t old = o->plen;
	int n = snprintf(o->path + o->plen, PATH_LEN - o->plen, "[%zu]", i);

	o->plen = n < 0 || o->plen + n >= PATH_LEN ? PATH_LEN - 1 : o->plen + n;
	return old;
}

static void pop(struct obj *o, size_t old)
{
	o->plen = old;
	o->path[old] = '\0';
}

/* Member key of v: NULL when absent or null, which the API treats alike. */
static struct json_object *member(struct json_object *v, const char *key)
{
	struct json_object *m = NULL;

	json_object_object_get_ex(v, key, &m);
	return m;
}

/* v, the value of key (NULL: of the current path), if it has type t. */
static struct json_object *as(struct obj *o, struct json_object *v, const char *key,
			      enum json_type t)
{
	char buf[SHOW_LEN];

	if (json_object_is_type(v, t))
		return v;
	bad(o, key, "expected %s, got %s%s", type_name(t), show(v, buf),
	    t == json_type_string && json_object_is_type(v, json_type_boolean) ?
	    " (YAML reads unquoted y, n, yes, no, on, off as booleans: quote it)" : "");
	return NULL;
}

static struct json_object *typed(struct obj *o, struct json_object *v, const char *key,
				 enum json_type t)
{
	struct json_object *m = member(v, key);

	return m ? as(o, m, key, t) : NULL;
}

/* A string without NUL bytes: C would read a different value than the API
 * server validated. */
static const char *as_str(struct obj *o, struct json_object *v, const char *key)
{
	const char *s;

	if (!as(o, v, key, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		bad(o, key, "contains a NUL character");
		return NULL;
	}
	return s;
}

static const char *get_str(struct obj *o, struct json_object *v, const char *key)
{
	struct json_object *m = member(v, key);

	return m ? as_str(o, m, key) : NULL;
}

static const char *need_str(struct obj *o, struct json_object *v, const char *key)
{
	if (!member(v, key)) {
		bad(o, key, "is required");
		return NULL;
	}
	return get_str(o, v, key);
}

typedef void (*item_fn)(struct obj *o, struct json_object *v, void *out);

/* The list at key of v into a new array of size-byte elements (*n of
 * them): fn decodes each item of type t, with the path set to the item. */
static void *list(struct obj *o, struct json_object *v, const char *key, enum json_type t,
		  size_t size, size_t *n, item_fn fn)
{
	struct json_object *arr = typed(o, v, key, json_type_array), *it;
	size_t len = arr ? json_object_array_length(arr) : 0, old, at;
	char *out;

	*n = 0;
	if (!len || !(out = alloc(o, len, size)))
		return NULL;
	*n = len;
	old = push(o, key);
	for (size_t i = 0; i < len; i++) {
		at = push_idx(o, i);
		it = json_object_array_get_idx(arr, i);
		if (as(o, it, NULL, t))
			fn(o, it, out + i * size);
		pop(o, at);
	}
	pop(o, old);
	return out;
}

/* ---- names (k8s.io/apimachinery/pkg/util/validation) ------------------ */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static bool dns_label_ok(const char *s, size_t n)
{
	if (!n || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool label_name_ok(const char *s, size_t n)
{
	if (!n || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

/* Namespace names (RFC 1123 label). */
static const char *bad_dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return "must be no more than 63 characters";
	if (!dns_label_ok(s, n))
		return "must consist of lower case alphanumeric characters or '-', "
		       "and must start and end with an alphanumeric character";
	return NULL;
}

/* Object names, label key prefixes (RFC 1123 subdomain). */
static const char *bad_dns_subdomain_n(const char *s, size_t n)
{
	const char *end = s + n, *dot;

	if (n > 253)
		return "must be no more than 253 characters";
	for (;; s = dot + 1) {
		dot = memchr(s, '.', end - s);
		if (!dns_label_ok(s, (dot ? dot : end) - s))
			return "must consist of lower case alphanumeric characters, '-' or '.', "
			       "and must start and end with an alphanumeric character";
		if (!dot)
			return NULL;
	}
}

static const char *bad_dns_subdomain(const char *s)
{
	return bad_dns_subdomain_n(s, strlen(s));
}

/* Label keys: [prefix/]name, prefix a DNS subdomain, name at most 63. */
static const char *bad_qualified_name(const char *s)
{
	const char *slash = strchr(s, '/'), *name = slash ? slash + 1 : s;
	size_t n = strlen(name);

	if (slash && strchr(name, '/'))
		return "must be a name with an optional DNS subdomain prefix and '/'";
	if (slash == s)
		return "the prefix before '/' must not be empty";
	if (slash && bad_dns_subdomain_n(s, slash - s))
		return "the prefix before '/' must be a DNS subdomain (lower case)";
	if (!n)
		return "the name part must not be empty";
	if (n > 63)
		return "the name part must be no more than 63 characters";
	if (!label_name_ok(name, n))
		return "the name part " LABEL_CHARS;
	return NULL;
}

static const char *bad_label_value(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return "must be no more than 63 characters";
	if (n && !label_name_ok(s, n))
		return LABEL_CHARS;
	return NULL;
}

/* IANA_SVC_NAME (RFC 6335), what a named port must be. */
static const char *bad_port_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (!n || n > 15)
		return "must be 1-15 characters";
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "must contain only lower case alphanumeric characters or '-'";
	}
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not begin or end with '-'";
	if (strstr(s, "--"))
		return "must not contain consecutive '-'";
	if (!letter)
		return "must contain at least one letter";
	return NULL;
}

/* ---- labels and selectors --------------------------------------------- */

static void decode_labels(struct obj *o, struct json_object *v, const char *key,
			  struct labels *out)
{
	struct json_object *m = typed(o, v, key, json_type_object);
	size_t n = m ? (size_t)json_object_object_length(m) : 0, old;
	const char *why, *val;
	char buf[SHOW_LEN];

	if (!n || !(out->v = alloc(o, n, sizeof(*out->v))))
		return;
	old = push(o, key);
	json_object_object_foreach(m, k, jv) {
		if ((why = bad_qualified_name(k))) {
			bad(o, NULL, "key %s is not a valid label key (%s)", qs(k, buf), why);
		} else if ((val = as_str(o, jv, k)) && (why = bad_label_value(val))) {
			bad(o, k, "%s is not a valid label value (%s)", qs(val, buf), why);
		} else if (val) {
			out->v[out->n].key = dup(o, k);
			out->v[out->n].value = dup(o, val);
			out->n++;
		}
	}
	pop(o, old);
}

/* Set key=value, replacing a value the manifest gave. */
static void set_label(struct obj *o, struct labels *l, const char *key, const char *value)
{
	char *val = dup(o, value);
	struct label *v;

	if (!val)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].key && !strcmp(l->v[i].key, key)) {
			free(l->v[i].value);
			l->v[i].value = val;
			return;
		}
	}
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(val);
		oom(o);
		return;
	}
	l->v = v;
	v[l->n++] = (struct label){ .key = dup(o, key), .value = val };
}

static const char *const op_names[] = {
	[SEL_IN] = "In",
	[SEL_NOT_IN] = "NotIn",
	[SEL_EXISTS] = "Exists",
	[SEL_DOES_NOT_EXIST] = "DoesNotExist",
};

static void decode_sel_value(struct obj *o, struct json_object *v, void *out)
{
	const char *s = as_str(o, v, NULL), *why;
	char buf[SHOW_LEN];

	if (s && (why = bad_label_value(s)))
		bad(o, NULL, "%s is not a valid label value (%s)", qs(s, buf), why);
	else if (s)
		*(char **)out = dup(o, s);
}

static void decode_expr(struct obj *o, struct json_object *v, void *out)
{
	const char *key = need_str(o, v, "key"), *op = need_str(o, v, "operator"), *why;
	struct sel_expr *e = out;
	char buf[SHOW_LEN];
	int k = -1;

	if (key && (why = bad_qualified_name(key)))
		bad(o, "key", "%s is not a valid label key (%s)", qs(key, buf), why);
	else if (key)
		e->key = dup(o, key);
	for (int i = 0; op && i < (int)(sizeof(op_names) / sizeof(op_names[0])); i++)
		if (!strcmp(op, op_names[i]))
			k = i;
	if (op && k < 0)
		bad(o, "operator", "%s is not one of In, NotIn, Exists, DoesNotExist", qs(op, buf));
	e->op = k < 0 ? SEL_IN : (enum sel_op)k;
	e->values = list(o, v, "values", json_type_string, sizeof(*e->values), &e->nvalues,
			 decode_sel_value);
	if ((k == SEL_IN || k == SEL_NOT_IN) && !e->nvalues)
		bad(o, "values", "must be non-empty for operator %s", op);
	if ((k == SEL_EXISTS || k == SEL_DOES_NOT_EXIST) && e->nvalues)
		bad(o, "values", "must be empty for operator %s", op);
}

/* Absent (or null) leaves sel->present false; {} selects everything. */
static void decode_selector(struct obj *o, struct json_object *v, const char *key,
			    struct selector *sel)
{
	struct json_object *m = typed(o, v, key, json_type_object);
	size_t old;

	if (!m)
		return;
	sel->present = true;
	old = push(o, key);
	decode_labels(o, m, "matchLabels", &sel->match_labels);
	sel->exprs = list(o, m, "matchExpressions", json_type_object, sizeof(*sel->exprs),
			  &sel->nexprs, decode_expr);
	pop(o, old);
}

/* ---- NetworkPolicy ---------------------------------------------------- */

/* net.ParseCIDR, which the API server uses, takes "10.0.0.1/24" to mean
 * 10.0.0.0/24: keep the network. */
static bool decode_cidr(struct obj *o, struct json_object *v, const char *key, struct ipnet *out)
{
	const char *s = as_str(o, v, key);
	struct ipaddr first;
	char buf[SHOW_LEN];

	if (!s)
		return false;
	if (ipnet_parse(s, out)) {
		bad(o, key, "%s is not a CIDR", qs(s, buf));
		return false;
	}
	ipnet_first(out, &first);
	out->ip = first;
	return true;
}

/* The API server's check on except: same family, inside, longer prefix. */
static bool strictly_inside(const struct ipnet *outer, const struct ipnet *in)
{
	return in->ip.family == outer->ip.family && in->prefix > outer->prefix &&
	       ipnet_contains(outer, &in->ip);
}

static void decode_ip_block(struct obj *o, struct json_object *v, struct ip_block *b)
{
	struct json_object *exc = typed(o, v, "except", json_type_array);
	size_t n = exc ? json_object_array_length(exc) : 0, old, at;
	char buf[SHOW_LEN], net[CIDR_STRLEN];
	bool cidr_ok = false;

	if (!member(v, "cidr"))
		bad(o, "cidr", "is required");
	else
		cidr_ok = decode_cidr(o, member(v, "cidr"), "cidr", &b->cidr);
	if (!n || !(b->except = alloc(o, n, sizeof(*b->except))))
		return;
	b->nexcept = n;
	old = push(o, "except");
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(exc, i);

		at = push_idx(o, i);
		if (decode_cidr(o, it, NULL, &b->except[i]) && cidr_ok &&
		    !strictly_inside(&b->cidr, &b->except[i]))
			bad(o, NULL, "%s is not strictly inside cidr %s", show(it, buf),
			    ipnet_fmt(&b->cidr, net));
		pop(o, at);
	}
	pop(o, old);
}

static void decode_peer(struct obj *o, struct json_object *v, void *out)
{
	bool sel = member(v, "podSelector") || member(v, "namespaceSelector");
	struct json_object *ipb = typed(o, v, "ipBlock", json_type_object);
	struct peer *p = out;
	size_t old;

	decode_selector(o, v, "podSelector", &p->pod_sel);
	decode_selector(o, v, "namespaceSelector", &p->ns_sel);
	if (ipb) {
		p->has_ip_block = true;
		old = push(o, "ipBlock");
		decode_ip_block(o, ipb, &p->ip_block);
		pop(o, old);
	}
	if (member(v, "ipBlock") && sel)
		bad(o, NULL, "ipBlock may not be combined with podSelector or namespaceSelector");
	else if (!member(v, "ipBlock") && !sel)
		bad(o, NULL, "must have podSelector, namespaceSelector or ipBlock");
}

static const struct {
	const char *name;
	uint8_t proto;
} protos[] = {
	{ "TCP", L4_TCP },
	{ "UDP", L4_UDP },
	{ "SCTP", L4_SCTP },
};

/* protocol of a NetworkPolicyPort or ContainerPort: TCP when absent. */
static void decode_proto(struct obj *o, struct json_object *v, uint8_t *out)
{
	const char *s = get_str(o, v, "protocol");
	char buf[SHOW_LEN];

	*out = L4_TCP;
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcmp(s, protos[i].name)) {
			*out = protos[i].proto;
			return;
		}
	}
	bad(o, "protocol", "%s is not one of TCP, UDP, SCTP", qs(s, buf));
}

/* An integer v as a port number. */
static bool port_number(struct obj *o, struct json_object *v, const char *key, uint16_t *out)
{
	int64_t x = json_object_get_int64(v);
	char buf[SHOW_LEN];

	if (x < 1 || x > 65535) {
		bad(o, key, "%s is not a valid port number (1-65535)", show(v, buf));
		return false;
	}
	*out = (uint16_t)x;
	return true;
}

static void decode_port_name(struct obj *o, struct json_object *v, struct policy_port *pp)
{
	const char *s = as_str(o, v, "port"), *why;
	char buf[SHOW_LEN];

	if (s && (why = bad_port_name(s)))
		bad(o, "port", "%s is not a valid port name (%s)", qs(s, buf), why);
	else if (s)
		pp->port_name = dup(o, s);
}

/* port is an int-or-string: an integer is a number, a string a name (so
 * "80", quoted in YAML, is an invalid name, as for the API server). */
static void decode_port(struct obj *o, struct json_object *v, void *out)
{
	struct json_object *port = member(v, "port"), *end = member(v, "endPort");
	struct policy_port *pp = out;
	char buf[SHOW_LEN];

	decode_proto(o, v, &pp->proto);
	if (json_object_is_type(port, json_type_int))
		port_number(o, port, "port", &pp->port);
	else if (json_object_is_type(port, json_type_string))
		decode_port_name(o, port, pp);
	else if (port)
		bad(o, "port", "expected an integer or a port name, got %s", show(port, buf));
	if (!end || !as(o, end, "endPort", json_type_int))
		return;
	if (!port)
		bad(o, "endPort", "may not be given without port");
	else if (json_object_is_type(port, json_type_string))
		bad(o, "endPort", "may not be given with a named port");
	else if (port_number(o, end, "endPort", &pp->end_port) && pp->port &&
		 pp->end_port < pp->port)
		bad(o, "endPort", "%u is less than port %u", pp->end_port, pp->port);
}

/* from/to and ports: absent, null or [] all mean "every peer"/"every port". */
static void decode_rule(struct obj *o, struct json_object *v, struct rule *r, const char *peers)
{
	r->peers = list(o, v, peers, json_type_object, sizeof(*r->peers), &r->npeers,
			decode_peer);
	r->ports = list(o, v, "ports", json_type_object, sizeof(*r->ports), &r->nports,
			decode_port);
}

static void decode_ingress(struct obj *o, struct json_object *v, void *out)
{
	decode_rule(o, v, out, "from");
}

static void decode_egress(struct obj *o, struct json_object *v, void *out)
{
	decode_rule(o, v, out, "to");
}

static void decode_policy_types(struct obj *o, struct json_object *spec, struct netpol *p)
{
	struct json_object *types = typed(o, spec, "policyTypes", json_type_array);
	size_t n = types ? json_object_array_length(types) : 0, old, at;
	char buf[SHOW_LEN];
	const char *s;

	if (!n) {
		/* The API server's default: Ingress, and Egress if there
		 * are egress rules. */
		p->ingress_isolates = true;
		p->egress_isolates = p->negress > 0;
		return;
	}
	if (n > 2)
		bad(o, "policyTypes", "may not have more than 2 entries");
	old = push(o, "policyTypes");
	for (size_t i = 0; i < n; i++) {
		at = push_idx(o, i);
		s = as_str(o, json_object_array_get_idx(types, i), NULL);
		if (s && !strcmp(s, "Ingress"))
			p->ingress_isolates = true;
		else if (s && !strcmp(s, "Egress"))
			p->egress_isolates = true;
		else if (s)
			bad(o, NULL, "%s is not one of Ingress, Egress", qs(s, buf));
		pop(o, at);
	}
	pop(o, old);
}

/* metadata: name, namespace (namespaced kinds; "default" when absent, as
 * with kubectl apply without -n) and labels. o->ns and o->name are set
 * first, so that every error names the object. */
static void decode_meta(struct obj *o, struct json_object *v, bool namespaced,
			const char *(*check_name)(const char *), char **ns, char **name,
			struct labels *labels)
{
	struct json_object *meta = member(v, "metadata"), *jn = member(meta, "name");
	struct json_object *jns = member(meta, "namespace");
	char buf[SHOW_LEN];
	const char *s, *why;
	size_t old;

	if (json_object_is_type(jn, json_type_string) && json_object_get_string_len(jn))
		o->name = json_object_get_string(jn);
	if (namespaced)
		o->ns = json_object_is_type(jns, json_type_string) &&
			json_object_get_string_len(jns) ? json_object_get_string(jns) : "default";
	if (!meta) {
		bad(o, "metadata", "is required");
		return;
	}
	if (!as(o, meta, "metadata", json_type_object))
		return;
	old = push(o, "metadata");
	s = get_str(o, meta, "name");
	if (!jn || (s && !*s))
		bad(o, "name", "is required");
	else if (s && (why = check_name(s)))
		bad(o, "name", "%s is not a valid name (%s)", qs(s, buf), why);
	else if (s)
		*name = dup(o, s);
	if (namespaced) {
		s = get_str(o, meta, "namespace");
		if (s && *s && (why = bad_dns_label(s)))
			bad(o, "namespace", "%s is not a valid namespace (%s)", qs(s, buf), why);
		else
			*ns = dup(o, s && *s ? s : "default");
	}
	decode_labels(o, meta, "labels", labels);
	pop(o, old);
}

/* The one apiVersion whose schema this file knows. The items of a typed
 * list (GET /api/v1/pods) have none. */
static void check_api(struct obj *o, struct json_object *v, const char *want)
{
	const char *s = get_str(o, v, "apiVersion");
	char buf[SHOW_LEN];

	if (s && strcmp(s, want))
		bad(o, "apiVersion", "%s is not %s", qs(s, buf), want);
}

static void decode_netpol(struct obj *o, struct json_object *v, void *out)
{
	struct labels labels = { 0 };
	struct json_object *spec;
	struct netpol *p = out;
	size_t old;

	/* Labels are validated (the API server would) but not kept. */
	decode_meta(o, v, true, bad_dns_subdomain, &p->ns, &p->name, &labels);
	labels_free(&labels);
	check_api(o, v, "networking.k8s.io/v1");
	if (!member(v, "spec")) {
		bad(o, "spec", "is required");
		return;
	}
	if (!(spec = typed(o, v, "spec", json_type_object)))
		return;
	old = push(o, "spec");
	if (!member(spec, "podSelector"))
		bad(o, "podSelector", "is required ({} selects every pod of the namespace)");
	decode_selector(o, spec, "podSelector", &p->pod_sel);
	p->ingress = list(o, spec, "ingress", json_type_object, sizeof(*p->ingress),
			  &p->ningress, decode_ingress);
	p->egress = list(o, spec, "egress", json_type_object, sizeof(*p->egress), &p->negress,
			 decode_egress);
	decode_policy_types(o, spec, p);
	pop(o, old);
	/* Rules of a direction policyTypes leaves out are ignored upstream;
	 * dropping them here means no consumer can apply them by mistake. */
	if (!p->ingress_isolates) {
		rules_free(p->ingress, p->ningress);
		p->ingress = NULL;
		p->ningress = 0;
	}
	if (!p->egress_isolates) {
		rules_free(p->egress, p->negress);
		p->egress = NULL;
		p->negress = 0;
	}
}

/* ---- Pod and Namespace ------------------------------------------------ */

static void decode_cport(struct obj *o, struct json_object *v, void *out)
{
	struct json_object *port = member(v, "containerPort");
	const char *name = get_str(o, v, "name"), *why;
	struct container_port *cp = out;
	char buf[SHOW_LEN];

	decode_proto(o, v, &cp->proto);
	if (!port)
		bad(o, "containerPort", "is required");
	else if (as(o, port, "containerPort", json_type_int))
		port_number(o, port, "containerPort", &cp->port);
	if (name && *name && (why = bad_port_name(name)))
		bad(o, "name", "%s is not a valid port name (%s)", qs(name, buf), why);
	else if (name && *name)
		cp->name = dup(o, name);
}

/* spec.containers[].ports[], flattened into pod->ports. */
static void decode_containers(struct obj *o, struct json_object *spec, struct pod *pod)
{
	struct json_object *cs = typed(o, spec, "containers", json_type_array), *c, *ports;
	size_t n = cs ? json_object_array_length(cs) : 0, total = 0, old, at, k;
	struct container_port *cp;

	for (size_t i = 0; i < n; i++) {
		ports = member(json_object_array_get_idx(cs, i), "ports");
		if (json_object_is_type(ports, json_type_array))
			total += json_object_array_length(ports);
	}
	if (total && !(pod->ports = alloc(o, total, sizeof(*pod->ports))))
		return;
	old = push(o, "containers");
	for (size_t i = 0; i < n; i++) {
		at = push_idx(o, i);
		c = as(o, json_object_array_get_idx(cs, i), NULL, json_type_object);
		cp = c ? list(o, c, "ports", json_type_object, sizeof(*cp), &k, decode_cport) : NULL;
		if (cp) {
			memcpy(pod->ports + pod->nports, cp, k * sizeof(*cp));
			pod->nports += k;
			free(cp);
		}
		pop(o, at);
	}
	pop(o, old);
}

static void add_ip(struct obj *o, struct pod *pod, struct json_object *v, const char *key)
{
	const size_t max = sizeof(pod->ips) / sizeof(pod->ips[0]);
	const char *s = as_str(o, v, key);
	char buf[SHOW_LEN];
	struct ipaddr a;

	if (!s || !*s)
		return;
	if (ipaddr_parse(s, &a)) {
		bad(o, key, "%s is not an IP address", qs(s, buf));
		return;
	}
	for (size_t i = 0; i < pod->nips; i++)
		if (ipaddr_equal(&pod->ips[i], &a))
			return;
	if (pod->nips == max) {
		bad(o, key, "more than %zu pod IPs", max);
		return;
	}
	pod->ips[pod->nips++] = a;
}

/* podIPs, and podIP (older API servers set only that one). */
static void decode_status(struct obj *o, struct json_object *st, struct pod *pod)
{
	struct json_object *ips = typed(o, st, "podIPs", json_type_array), *it;
	size_t n = ips ? json_object_array_length(ips) : 0, old, at;
	const char *phase = get_str(o, st, "phase");

	old = push(o, "podIPs");
	for (size_t i = 0; i < n; i++) {
		at = push_idx(o, i);
		it = as(o, json_object_array_get_idx(ips, i), NULL, json_type_object);
		if (member(it, "ip"))
			add_ip(o, pod, member(it, "ip"), "ip");
		pop(o, at);
	}
	pop(o, old);
	if (member(st, "podIP"))
		add_ip(o, pod, member(st, "podIP"), "podIP");
	/* A finished pod keeps its IPs in its status, but the runtime has
	 * released them: they may be another pod's by now. */
	if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
		pod->nips = 0;
}

static void decode_pod(struct obj *o, struct json_object *v, void *out)
{
	struct json_object *spec, *st, *hn;
	struct pod *pod = out;
	const char *node;
	size_t old;

	decode_meta(o, v, true, bad_dns_subdomain, &pod->ns, &pod->name, &pod->labels);
	check_api(o, v, "v1");
	if ((spec = typed(o, v, "spec", json_type_object))) {
		old = push(o, "spec");
		if ((node = get_str(o, spec, "nodeName")) && *node)
			pod->node = dup(o, node);
		if ((hn = typed(o, spec, "hostNetwork", json_type_boolean)))
			pod->host_network = json_object_get_boolean(hn);
		decode_containers(o, spec, pod);
		pop(o, old);
	}
	if ((st = typed(o, v, "status", json_type_object))) {
		old = push(o, "status");
		decode_status(o, st, pod);
		pop(o, old);
	}
}

static void decode_ns(struct obj *o, struct json_object *v, void *out)
{
	struct namespace *n = out;

	decode_meta(o, v, false, bad_dns_label, NULL, &n->name, &n->labels);
	check_api(o, v, "v1");
	/* The API server sets it on every namespace (1.21+): it is how a
	 * namespaceSelector names one namespace. */
	if (n->name)
		set_label(o, &n->labels, "kubernetes.io/metadata.name", n->name);
}

/* ---- documents -------------------------------------------------------- */

static const struct kind {
	const char *name;
	void (*decode)(struct obj *o, struct json_object *v, void *out);
} kinds[NKINDS] = {
	[K_POL] = { "NetworkPolicy", decode_netpol },
	[K_POD] = { "Pod", decode_pod },
	[K_NS] = { "Namespace", decode_ns },
};

static void decode_kind(struct parse *p, enum kind_id k, struct json_object *v, const char *where)
{
	struct obj o = { .p = p, .kind = kinds[k].name, .where = where };
	union {
		struct netpol pol;
		struct pod pod;
		struct namespace ns;
	} u;
	char *reason;

	memset(&u, 0, sizeof(u));
	kinds[k].decode(&o, v, &u);
	if (!o.nerr) {
		if (tab_put(&p->tab[k], &u))
			p->err = -ENOMEM;
		return;
	}
	if (o.nerr > MAX_OBJ_ERRORS) {
		if (asprintf(&reason, "%s%s%d more errors", o.name ? "" : where,
			     o.name ? "" : ": ", o.nerr - MAX_OBJ_ERRORS) < 0)
			reason = NULL;
		add_error(p, o.kind, o.ns, o.name, reason);
	}
	p->tab[k].free(&u);
}

static void decode_value(struct parse *p, struct json_object *v, const char *where,
			 const char *item_kind, int depth);

/* kind: List, or a typed list (PodList, ...) whose items have no kind. */
static void decode_items(struct parse *p, struct json_object *v, const char *kind,
			 const char *where, int depth)
{
	struct json_object *items = member(v, "items");
	size_t n = strlen(kind) - 4, len;
	char ikind[64] = "", sub[WHERE_LEN], buf[SHOW_LEN];

	if (items && !json_object_is_type(items, json_type_array)) {
		errorf(p, kind, "%s: items: expected a list, got %s", where, show(items, buf));
		return;
	}
	if (n < sizeof(ikind)) {
		memcpy(ikind, kind, n);
		ikind[n] = '\0';
	}
	len = items ? json_object_array_length(items) : 0;
	for (size_t i = 0; i < len && !p->err; i++) {
		snprintf(sub, sizeof(sub), "%s%sitems[%zu]", where, depth ? "." : ": ", i);
		decode_value(p, json_object_array_get_idx(items, i), sub, *ikind ? ikind : NULL,
			     depth + 1);
	}
}

static bool is_list(const char *kind)
{
	size_t n = strlen(kind);

	return n >= 4 && !strcmp(kind + n - 4, "List");
}

/* One document, a list item or an element of a top-level array. */
static void decode_value(struct parse *p, struct json_object *v, const char *where,
			 const char *item_kind, int depth)
{
	struct json_object *kv = member(v, "kind");
	char sub[WHERE_LEN], buf[SHOW_LEN];
	const char *kind = item_kind;
	size_t n;

	if (!v)
		return;
	if (depth > MAX_LIST_DEPTH) {
		errorf(p, NULL, "%s: lists nested deeper than %d", where, MAX_LIST_DEPTH);
		return;
	}
	if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (size_t i = 0; i < n && !p->err; i++) {
			snprintf(sub, sizeof(sub), "%s%s[%zu]", where, depth ? "" : ": ", i);
			decode_value(p, json_object_array_get_idx(v, i), sub, NULL, depth + 1);
		}
		return;
	}
	if (!json_object_is_type(v, json_type_object)) {
		errorf(p, NULL, "%s: not a Kubernetes object (%s)", where, show(v, buf));
		return;
	}
	if (kv && !json_object_is_type(kv, json_type_string)) {
		errorf(p, NULL, "%s: kind: expected a string, got %s", where, show(kv, buf));
		return;
	}
	if (kv)
		kind = json_object_get_string(kv);
	if (!kind || !*kind) {
		errorf(p, NULL, "%s: kind is required", where);
		return;
	}
	if (is_list(kind)) {
		decode_items(p, v, kind, where, depth);
		return;
	}
	for (int k = 0; k < NKINDS; k++) {
		if (!strcmp(kind, kinds[k].name)) {
			decode_kind(p, (enum kind_id)k, v, where);
			return;
		}
	}
	/* Deployments, Services, ...: not the policy's business. */
}

static int syntax_error(void *arg, int line, int col, const char *msg)
{
	struct parse *p = arg;

	errorf(p, NULL, "%s:%d:%d: %s", p->source, line, col, msg);
	return p->err;
}

static void session_begin(struct parse *p, struct policy_set *set, const char *source)
{
	memset(p, 0, sizeof(*p));
	p->set = set;
	p->source = source ? source : "<input>";
	tab_init(&p->tab[K_POL], set->pols, set->npols, sizeof(struct netpol),
		 offsetof(struct netpol, ns), offsetof(struct netpol, name), netpol_free);
	tab_init(&p->tab[K_POD], set->pods, set->npods, sizeof(struct pod),
		 offsetof(struct pod, ns), offsetof(struct pod, name), pod_free);
	tab_init(&p->tab[K_NS], set->nss, set->nnss, sizeof(struct namespace), NO_NS,
		 offsetof(struct namespace, name), ns_free);
}

static int session_end(struct parse *p)
{
	struct policy_set *set = p->set;
	int ret;

	for (int k = 0; k < NKINDS; k++)
		if ((ret = tab_commit(&p->tab[k])))
			p->err = ret;
	set->pols = (struct netpol *)p->tab[K_POL].base;
	set->npols = p->tab[K_POL].nbase;
	set->pods = (struct pod *)p->tab[K_POD].base;
	set->npods = p->tab[K_POD].nbase;
	set->nss = (struct namespace *)p->tab[K_NS].base;
	set->nnss = p->tab[K_NS].nbase;
	return p->err;
}

int policy_parse(struct policy_set *set, const char *text, size_t len, const char *source)
{
	struct docs docs = { 0 };
	char where[WHERE_LEN];
	struct parse p;
	int ret;

	session_begin(&p, set, source);
	ret = load_docs(text ? text : "", text ? len : 0, &docs, syntax_error, &p);
	if (ret)
		p.err = ret;
	for (size_t i = 0; i < docs.n && !p.err; i++) {
		snprintf(where, sizeof(where), "%s:%d", p.source, docs.v[i].line);
		decode_value(&p, docs.v[i].v, where, NULL, 0);
	}
	docs_free(&docs);
	return session_end(&p);
}

int policy_decode(struct policy_set *set, struct json_object *obj, const char *kind,
		  const char *source)
{
	struct parse p;

	session_begin(&p, set, source);
	decode_value(&p, obj, p.source, kind, 0);
	return session_end(&p);
}
