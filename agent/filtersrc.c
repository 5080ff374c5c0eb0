/* filtersrc: XdpFilter objects -> filter specs (see filtersrc.h). */
#include "filtersrc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "fsutil.h"
#include "lang.h"
#include "load.h"
#include "xdpath/filter.h"

#define API_VERSION "xdpath.io/v1alpha1"
#define KIND "XdpFilter"
#define RATE_MAX 10000000u

static int problem(struct filter_specs *s, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int problem(struct filter_specs *s, const char *where, const char *fmt, ...)
{
	struct filter_problem *p;
	va_list ap;

	if (s->nbad == s->badcap) {
		size_t cap = s->badcap ? 2 * s->badcap : 8;

		p = realloc(s->bad, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->bad = p;
		s->badcap = cap;
	}
	p = &s->bad[s->nbad++];
	snprintf(p->where, sizeof(p->where), "%s", where);
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return 0;
}

static const char *str_at(struct json_object *o, const char *k, int *bad)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

/* A DNS subdomain (RFC 1123) short enough for "crd:" + it. */
static int name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (!len || len > 63 - strlen(FILTER_CRD_PREFIX) || !isalnum((unsigned char)n[0]) ||
	    !isalnum((unsigned char)n[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!islower((unsigned char)n[i]) && !isdigit((unsigned char)n[i]) && n[i] != '-' &&
		    n[i] != '.')
			return 0;
	return 1;
}

/* "2026-11-23T00:00:00Z" -> unix seconds; -1 if not that form. */
static int64_t rfc3339_utc(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	if (*end == '.') /* fractions of a second: ignored */
		for (end++; isdigit((unsigned char)*end); end++)
			;
	if (strcmp(end, "Z"))
		return -1;
	return (int64_t)timegm(&tm);
}

static int known(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int scope_ok(const char *s)
{
	const char *slash = strchr(s, '/');

	if (!strcmp(s, "all") || !strcmp(s, "uplink") || !strcmp(s, "pods"))
		return 1;
	return slash && slash != s && slash[1] && !strchr(slash + 1, '/') && strlen(s) < 320;
}

static int add_spec(struct filter_specs *s, const struct filter_spec *f)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct filter_spec *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *f;
	return 0;
}

/* spec's fields into f, or a problem; 1 if valid. */
static int parse_spec(struct filter_specs *s, struct json_object *spec, const char *where,
		      struct filter_spec *f, int *err)
{
	static const char *const actions[] = { "drop", "pass", "count", "rate-limit" };
	static const char *const pers[] = { "rule", "src", "dst" };
	const struct xf_catalog_entry *c = NULL;
	const char *rule, *cat, *action, *per, *scope, *expires;
	struct json_object *rate;
	struct xf_match m;
	struct xf_error xe;
	int bad = 0;

	rule = str_at(spec, "rule", &bad);
	cat = str_at(spec, "catalog", &bad);
	action = str_at(spec, "action", &bad);
	per = str_at(spec, "per", &bad);
	scope = str_at(spec, "scope", &bad);
	expires = str_at(spec, "expires", &bad);
#define FAIL(...) do { *err = problem(s, where, __VA_ARGS__); return 0; } while (0)
	if (!spec || !json_object_is_type(spec, json_type_object))
		FAIL("spec: required, an object");
	if (bad)
		FAIL("spec: rule, catalog, action, per, scope and expires are strings");
	if (!rule == !cat)
		FAIL("spec: exactly one of rule and catalog");
	if (cat && !(c = xf_catalog_find(cat)))
		FAIL("spec.catalog: no catalog entry %s (xdpathctl filter catalog lists them)", cat);
	snprintf(f->expr, sizeof(f->expr), "%s", c ? c->rule : rule);
	if (rule && strlen(rule) >= sizeof(f->expr))
		FAIL("spec.rule: longer than %zu bytes", sizeof(f->expr) - 1);
	if (xf_compile(f->expr, &m, &xe))
		FAIL("spec.rule: column %d: %s", xe.col, xe.msg);
	f->action = c ? (int)c->action : XF_ACT_DROP;
	if (action && (f->action = known(action, actions, 4)) < 0)
		FAIL("spec.action: drop, pass, count or rate-limit, not \"%s\"", action);
	f->per = XF_RATE_RULE;
	if (per && (f->per = known(per, pers, 3)) < 0)
		FAIL("spec.per: rule, src or dst, not \"%s\"", per);
	f->rate = 0;
	if (json_object_object_get_ex(spec, "rate", &rate)) {
		int64_t r = json_object_get_int64(rate);

		if (!json_object_is_type(rate, json_type_int) || r < 1 || r > RATE_MAX)
			FAIL("spec.rate: an integer of 1..%u packets/s", RATE_MAX);
		f->rate = (uint32_t)r;
	}
	if ((f->action == XF_ACT_RATE) != (f->rate != 0))
		FAIL("spec.rate: required with action rate-limit, and only with it");
	snprintf(f->scope, sizeof(f->scope), "%s",
		 scope ? scope : !c || c->scope == (XF_SCOPE_UPLINK | XF_SCOPE_PODS) ? "all" :
		 c->scope == XF_SCOPE_UPLINK ? "uplink" : "pods");
	if (!scope_ok(f->scope))
		FAIL("spec.scope: all, uplink, pods or NAMESPACE/POD, not \"%s\"", f->scope);
	f->expires = 0;
	if (expires && (f->expires = rfc3339_utc(expires)) <= 0)
		FAIL("spec.expires: an RFC 3339 UTC time such as 2026-11-23T00:00:00Z, not \"%s\"",
		     expires);
#undef FAIL
	return 1;
}

int filtersrc_object(struct filter_specs *s, struct json_object *obj, const char *where)
{
	struct json_object *meta = NULL, *spec = NULL;
	struct filter_spec f;
	char at[320];
	const char *name;
	int bad = 0, err = 0;

	if (!json_object_is_type(obj, json_type_object) || !str_at(obj, "kind", &bad) ||
	    strcmp(str_at(obj, "kind", &bad), KIND))
		return 0;            /* not ours */
	if (!str_at(obj, "apiVersion", &bad) || strcmp(str_at(obj, "apiVersion", &bad), API_VERSION))
		return problem(s, where, "apiVersion: " API_VERSION " is the version this agent reads");
	json_object_object_get_ex(obj, "metadata", &meta);
	name = str_at(meta, "name", &bad);
	if (!name_ok(name))
		return problem(s, where, "metadata.name: a lowercase DNS name of at most %zu "
					 "characters is required", 63 - strlen(FILTER_CRD_PREFIX));
	snprintf(at, sizeof(at), "%s %s", where, name);
	memset(&f, 0, sizeof(f));
	snprintf(f.name, sizeof(f.name), FILTER_CRD_PREFIX "%s", name);
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, f.name))
			return problem(s, at, "metadata.name: another XdpFilter has this name");
	json_object_object_get_ex(obj, "spec", &spec);
	if (!parse_spec(s, spec, at, &f, &err))
		return err;
	return add_spec(s, &f);
}

struct doc_err {
	struct filter_specs *s;
	const char *file;
};

static int on_load_error(void *arg, int line, int col, const char *msg)
{
	struct doc_err *d = arg;
	char where[320];

	snprintf(where, sizeof(where), "%s:%d:%d", d->file, line, col);
	return problem(d->s, where, "%s", msg);
}

static int manifest(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	if (d->d_name[0] == '.')
		return 0;
	return (n > 5 && !strcmp(d->d_name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(d->d_name + n - 4, ".yml")) ||
	       (n > 5 && !strcmp(d->d_name + n - 5, ".json"));
}

static int load_file(struct filter_specs *s, int dfd, const char *name)
{
	struct doc_err de = { s, name };
	struct docs docs = { 0 };
	char *text = NULL, where[320];
	size_t len = 0;
	int err = read_all_at(dfd, name, &text, &len);

	/* Gone meanwhile: nothing there. Not a file: reported. Anything else
	 * (out of descriptors or memory, I/O) is a read that may work next
	 * time: the error ends the load, and the rules stay as they are
	 * rather than losing this file's. */
	if (err == -ENOENT)
		return 0;
	if (err == -EISDIR)
		return problem(s, name, "cannot read: %s", strerror(-err));
	if (err)
		return err;
	s->files++;
	err = load_docs(text ? text : "", len, &docs, on_load_error, &de);
	for (size_t i = 0; !err && i < docs.n; i++) {
		snprintf(where, sizeof(where), "%s:%d", name, docs.v[i].line);
		err = filtersrc_object(s, docs.v[i].v, where);
	}
	docs_free(&docs);
	free(text);
	return err;
}

int filtersrc_load_dir(const char *dir, struct filter_specs *s)
{
	struct dirent **names = NULL;
	int dfd, n, err = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	n = scandirat(dfd, ".", &names, manifest, alphasort);
	if (n < 0) {
		err = -errno;
		close(dfd);
		return err;
	}
	for (int i = 0; i < n; i++) {
		if (!err)
			err = load_file(s, dfd, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	close(dfd);
	return err;
}

void filtersrc_free(struct filter_specs *s)
{
	free(s->v);
	free(s->bad);
	memset(s, 0, sizeof(*s));
}
