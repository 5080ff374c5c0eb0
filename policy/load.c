/* load: JSON and YAML manifest text -> json-c documents (see load.h). */
#include "load.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <yaml.h>

#define MSG_LEN    256
#define NUM_MAX    72            /* longer plain scalars are never numbers */
#define TAG_PREFIX "tag:yaml.org,2002:"

struct problem {
	int line, col;
	char msg[MSG_LEN];
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_space(const char *text, size_t len, size_t off)
{
	while (off < len && is_space(text[off]))
		off++;
	return off;
}

static size_t count_nl(const char *text, size_t len)
{
	size_t n = 0;

	for (const char *p = text; (p = memchr(p, '\n', len - (p - text))); p++)
		n++;
	return n;
}

/* Offset of the start of the line that is nl line breaks into text. */
static size_t line_offset(const char *text, size_t len, size_t nl)
{
	size_t off = 0;

	while (nl-- && off < len) {
		const char *p = memchr(text + off, '\n', len - off);

		if (!p)
			return len;
		off = p - text + 1;
	}
	return off;
}

/* A forward-only position -> line/column counter over one text. */
struct cursor {
	const char *text;
	size_t pos, bol;
	int line;
};

static void cursor_to(struct cursor *c, size_t off, int *line, int *col)
{
	for (; c->pos < off; c->pos++) {
		if (c->text[c->pos] == '\n') {
			c->line++;
			c->bol = c->pos + 1;
		}
	}
	*line = c->line;
	*col = (int)(off - c->bol) + 1;
}

static int docs_add(struct docs *d, struct json_object *v, int line)
{
	struct doc *nv;
	size_t cap;

	if (!v)
		return 0;
	if (d->n == d->cap) {
		cap = d->cap ? 2 * d->cap : 8;
		nv = realloc(d->v, cap * sizeof(*nv));
		if (!nv) {
			json_object_put(v);
			return -ENOMEM;
		}
		d->v = nv;
		d->cap = cap;
	}
	d->v[d->n++] = (struct doc){ .v = v, .line = line };
	return 0;
}

/* Append the documents of src to d; src is left empty. */
static int docs_move(struct docs *d, struct docs *src)
{
	int ret = 0;

	for (size_t i = 0; i < src->n; i++) {
		if (!ret)
			ret = docs_add(d, src->v[i].v, src->v[i].line);
		else
			json_object_put(src->v[i].v);
	}
	free(src->v);
	memset(src, 0, sizeof(*src));
	return ret;
}

void docs_free(struct docs *d)
{
	for (size_t i = 0; i < d->n; i++)
		json_object_put(d->v[i].v);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* ---- JSON ------------------------------------------------------------- */

/* Every JSON value of text from off on, whitespace separated (several
 * `kubectl get -o json` outputs concatenated). 0, 1 (*pb says what is
 * wrong; the values before it are in out) or -ENOMEM. */
static int json_load(const char *text, size_t len, size_t off, struct docs *out,
		     struct problem *pb)
{
	struct cursor cur = { .text = text, .line = 1 };
	enum json_tokener_error jerr;
	struct json_tokener *tok;
	struct json_object *v;
	int line, col, ret = 0;
	size_t end;

	if (len > INT_MAX) {
		*pb = (struct problem){ .line = 1, .col = 1, .msg = "input larger than 2 GiB" };
		return 1;
	}
	tok = json_tokener_new_ex(LOAD_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	while (!ret && off < len) {
		v = json_tokener_parse_ex(tok, text + off, (int)(len - off));
		jerr = json_tokener_get_error(tok);
		end = off + json_tokener_get_parse_end(tok);
		if (jerr == json_tokener_continue) {
			/* The end of input completes a top-level scalar ("5"). */
			v = json_tokener_parse_ex(tok, "", 1);
			jerr = json_tokener_get_error(tok);
			end = len;
		}
		/* A value that consumed nothing would have us spin here. */
		if (jerr == json_tokener_success && end <= off)
			jerr = json_tokener_error_parse_unexpected;
		if (jerr != json_tokener_success) {
			json_object_put(v);
			cursor_to(&cur, end, &pb->line, &pb->col);
			snprintf(pb->msg, sizeof(pb->msg), "invalid JSON: %s",
				 json_tokener_error_desc(jerr));
			ret = 1;
			break;
		}
		cursor_to(&cur, off, &line, &col);
		ret = docs_add(out, v, line);
		json_tokener_reset(tok);
		off = skip_space(text, len, end);
	}
	json_tokener_free(tok);
	return ret;
}

/* ---- YAML scalars ----------------------------------------------------- */

/* What go-yaml v2 (which kubectl and the API server use) resolves a plain
 * scalar to: YAML 1.1 bools (y, yes, on, ...), nulls, special floats. */
enum word { W_NULL, W_TRUE, W_FALSE, W_INF, W_NINF, W_NAN };

static const struct {
	const char *s;
	enum word w;
} words[] = {
	{ "", W_NULL }, { "~", W_NULL }, { "null", W_NULL }, { "Null", W_NULL }, { "NULL", W_NULL },
	{ "y", W_TRUE }, { "Y", W_TRUE }, { "yes", W_TRUE }, { "Yes", W_TRUE }, { "YES", W_TRUE },
	{ "true", W_TRUE }, { "True", W_TRUE }, { "TRUE", W_TRUE },
	{ "on", W_TRUE }, { "On", W_TRUE }, { "ON", W_TRUE },
	{ "n", W_FALSE }, { "N", W_FALSE }, { "no", W_FALSE }, { "No", W_FALSE }, { "NO", W_FALSE },
	{ "false", W_FALSE }, { "False", W_FALSE }, { "FALSE", W_FALSE },
	{ "off", W_FALSE }, { "Off", W_FALSE }, { "OFF", W_FALSE },
	{ ".inf", W_INF }, { ".Inf", W_INF }, { ".INF", W_INF },
	{ "+.inf", W_INF }, { "+.Inf", W_INF }, { "+.INF", W_INF },
	{ "-.inf", W_NINF }, { "-.Inf", W_NINF }, { "-.INF", W_NINF },
	{ ".nan", W_NAN }, { ".NaN", W_NAN }, { ".NAN", W_NAN },
};

static int digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* s as Go's strconv.ParseInt(s, 0, 64): a sign, then a 0x, 0o or 0b
 * prefix, a leading 0 (octal) or decimal digits. */
static bool parse_int(const char *s, int64_t *out)
{
	uint64_t v = 0, lim = INT64_MAX;
	bool neg = false;
	int base = 10;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16, s += 2;
	else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		base = 8, s += 2;
	else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
		base = 2, s += 2;
	else if (s[0] == '0' && s[1])
		base = 8, s++;
	if (!*s)
		return false;
	lim += neg;
	for (; *s; s++) {
		uint64_t d = digit(*s);

		if (d >= (uint64_t)base || v > (lim - d) / base)
			return false;
		v = v * base + d;
	}
	*out = !neg ? (int64_t)v : v > INT64_MAX ? INT64_MIN : -(int64_t)v;
	return true;
}

static const char *skip_digits(const char *p)
{
	while (*p >= '0' && *p <= '9')
		p++;
	return p;
}

/* go-yaml v2's float syntax: ^[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?$ */
static bool float_syntax(const char *s)
{
	const char *p = s, *q;

	if (*p == '+' || *p == '-')
		p++;
	q = p;
	p = skip_digits(p);
	if (*p == '.') {
		q = ++p;
		p = skip_digits(p);
	}
	if (p == q)
		return false;
	if (*p == 'e' || *p == 'E') {
		if (p[1] != '+' && p[1] != '-')
			return false;
		q = p + 2;
		p = skip_digits(q);
		if (p == q)
			return false;
	}
	return !*p;
}

enum stype { S_NULL, S_BOOL, S_INT, S_FLOAT, S_STR };

struct scalar {
	enum stype t;
	bool b;
	int64_t i;
	double d;
};

/* The index in words of s (n bytes), or -1. */
static int find_word(const char *s, size_t n)
{
	/* Most scalars (names, label values) cannot be one. */
	if (n > 5 || (n && !strchr("~nNyYtTfFoO.+-", s[0])))
		return -1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(s, words[i].s))
			return (int)i;
	return -1;
}

/* Resolve a plain (unquoted, untagged) scalar. */
static void resolve(const char *s, size_t n, struct scalar *out)
{
	char num[NUM_MAX];
	size_t k = 0;
	int w;

	*out = (struct scalar){ .t = S_STR };
	if (strlen(s) != n)
		return;
	if ((w = find_word(s, n)) >= 0) {
		switch (words[w].w) {
		case W_NULL: out->t = S_NULL; break;
		case W_TRUE: out->t = S_BOOL; out->b = true; break;
		case W_FALSE: out->t = S_BOOL; break;
		case W_INF: out->t = S_FLOAT; out->d = HUGE_VAL; break;
		case W_NINF: out->t = S_FLOAT; out->d = -HUGE_VAL; break;
		case W_NAN: out->t = S_FLOAT; out->d = NAN; break;
		}
		return;
	}
	if (n >= sizeof(num) || !strchr("+-.0123456789", s[0]))
		return;
	/* go-yaml drops '_' digit separators before it tries numbers. */
	for (size_t i = 0; i < n; i++)
		if (s[i] != '_')
			num[k++] = s[i];
	num[k] = '\0';
	if (parse_int(num, &out->i))
		out->t = S_INT;
	else if (float_syntax(num))
		out->t = S_FLOAT, out->d = strtod(num, NULL);
}

static struct json_object *scalar_json(const struct scalar *sc, const char *s, size_t n)
{
	switch (sc->t) {
	case S_BOOL: return json_object_new_boolean(sc->b);
	case S_INT: return json_object_new_int64(sc->i);
	case S_FLOAT: return json_object_new_double(sc->d);
	default: return json_object_new_string_len(s, (int)n);
	}
}

/* ---- YAML -> json-c --------------------------------------------------- */

/* A mapping or sequence being built. */
struct frame {
	struct json_object *obj;
	char *key;                   /* mapping: the key awaiting its value */
	bool merge;                  /* ... which is the merge key << */
	struct json_object *merges;  /* mapping: the mappings << named, in order */
	char *anchor;
	size_t nodes;                /* size so far, aliases expanded */
};

struct anchor {
	char *name;
	struct json_object *v;
	size_t nodes;
};

struct yconv {
	yaml_parser_t parser;
	struct docs *out;
	int line0;                   /* lines of the input before this chunk */
	int doc_line;
	struct frame stack[LOAD_MAX_DEPTH];
	int depth;
	struct json_object *root;
	struct anchor *anchors;
	size_t nanchors, cap;
	struct problem pb;
};

static int fail(struct yconv *y, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct yconv *y, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	y->pb.line = y->line0 + (int)m->line + 1;
	y->pb.col = (int)m->column + 1;
	va_start(ap, fmt);
	vsnprintf(y->pb.msg, sizeof(y->pb.msg), fmt, ap);
	va_end(ap);
	return 1;
}

static void anchors_free(struct yconv *y)
{
	for (size_t i = 0; i < y->nanchors; i++) {
		free(y->anchors[i].name);
		json_object_put(y->anchors[i].v);
	}
	free(y->anchors);
	y->anchors = NULL;
	y->nanchors = y->cap = 0;
}

/* Anchors are registered when their node is complete, so an alias can
 * never refer to a node that contains it: the result is a DAG, no cycles. */
static int anchor_add(struct yconv *y, const char *name, struct json_object *v, size_t nodes,
		      const yaml_mark_t *m)
{
	struct anchor *a;

	if (!name)
		return 0;
	if (y->nanchors == LOAD_MAX_ANCHORS)
		return fail(y, m, "more than %d anchors in one document", LOAD_MAX_ANCHORS);
	if (y->nanchors == y->cap) {
		size_t cap = y->cap ? 2 * y->cap : 16;

		a = realloc(y->anchors, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		y->anchors = a;
		y->cap = cap;
	}
	a = &y->anchors[y->nanchors];
	a->name = strdup(name);
	if (!a->name)
		return -ENOMEM;
	a->v = json_object_get(v);
	a->nodes = nodes;
	y->nanchors++;
	return 0;
}

/* The latest definition of an anchor name wins. */
static const struct anchor *anchor_find(const struct yconv *y, const char *name)
{
	for (size_t i = y->nanchors; i-- > 0;)
		if (!strcmp(y->anchors[i].name, name))
			return &y->anchors[i];
	return NULL;
}

static struct frame *top(struct yconv *y)
{
	return y->depth ? &y->stack[y->depth - 1] : NULL;
}

static bool want_key(const struct frame *f)
{
	return f && json_object_is_type(f->obj, json_type_object) && !f->key && !f->merge;
}

static int set_key(struct yconv *y, struct frame *f, const char *s, size_t n,
		   const yaml_mark_t *m)
{
	if (strlen(s) != n)
		return fail(y, m, "mapping key contains a NUL character");
	/* kubectl rejects duplicate keys; silently keeping one would hide
	 * half of a rule. */
	if (json_object_object_get_ex(f->obj, s, NULL))
		return fail(y, m, "duplicate mapping key \"%.64s\"", s);
	f->key = strdup(s);
	return f->key ? 0 : -ENOMEM;
}

/* The value of <<: a mapping or a list of mappings, merged at the end. */
static int merge_add(struct yconv *y, struct frame *f, struct json_object *v,
		     const yaml_mark_t *m)
{
	size_t n;

	f->merge = false;
	if (!f->merges && !(f->merges = json_object_new_array()))
		goto nomem;
	if (json_object_is_type(v, json_type_object)) {
		if (json_object_array_add(f->merges, v))
			goto nomem;
		return 0;
	}
	if (!json_object_is_type(v, json_type_array))
		goto bad;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_object))
			goto bad;
	for (size_t i = 0; i < n; i++)
		if (json_object_array_add(f->merges, json_object_get(json_object_array_get_idx(v, i)))) {
			json_object_put(json_object_array_get_idx(v, i));
			goto nomem;
		}
	json_object_put(v);
	return 0;
bad:
	json_object_put(v);
	return fail(y, m, "the value of << must be a mapping or a list of mappings");
nomem:
	json_object_put(v);
	return -ENOMEM;
}

/* Explicit keys win over merged ones, earlier merged mappings over later. */
static int merge_apply(struct frame *f)
{
	size_t n = f->merges ? json_object_array_length(f->merges) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object_object_foreach(json_object_array_get_idx(f->merges, i), mk, mv) {
			if (json_object_object_get_ex(f->obj, mk, NULL))
				continue;
			if (json_object_object_add(f->obj, mk, json_object_get(mv))) {
				json_object_put(mv);
				return -ENOMEM;
			}
		}
	}
	return 0;
}

/* v (our reference; nodes: its size, aliases expanded) becomes the root,
 * the next item of the sequence or the value of the pending key. */
static int add(struct yconv *y, struct json_object *v, size_t nodes, const yaml_mark_t *m)
{
	struct frame *f = top(y);
	int ret;

	if (!f) {
		json_object_put(y->root);
		y->root = v;
		return 0;
	}
	if (f->nodes + nodes > LOAD_MAX_NODES) {
		json_object_put(v);
		return fail(y, m, "document larger than %d nodes (aliases expanded)",
			    LOAD_MAX_NODES);
	}
	f->nodes += nodes;
	if (json_object_is_type(f->obj, json_type_array))
		ret = json_object_array_add(f->obj, v);
	else if (f->merge)
		return merge_add(y, f, v, m);
	else
		ret = json_object_object_add(f->obj, f->key, v);
	free(f->key);
	f->key = NULL;
	if (ret) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* Explicitly tagged scalar: !!str and unknown tags are strings (as in
 * go-yaml), !!int/!!float/!!bool/!!null must resolve to their type. */
static int tagged(struct yconv *y, const yaml_event_t *e, const char *tag, struct scalar *sc)
{
	const char *s = (const char *)e->data.scalar.value;
	const char *t = tag + strlen(TAG_PREFIX);

	*sc = (struct scalar){ .t = S_STR };
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)))
		return 0;
	if (strcmp(t, "int") && strcmp(t, "float") && strcmp(t, "bool") && strcmp(t, "null"))
		return 0;
	resolve(s, e->data.scalar.length, sc);
	if (!strcmp(t, "float") && sc->t == S_INT)
		sc->t = S_FLOAT, sc->d = (double)sc->i;
	if ((!strcmp(t, "int") && sc->t == S_INT) || (!strcmp(t, "float") && sc->t == S_FLOAT) ||
	    (!strcmp(t, "bool") && sc->t == S_BOOL) || (!strcmp(t, "null") && sc->t == S_NULL))
		return 0;
	return fail(y, &e->start_mark, "cannot decode \"%.64s\" as !!%s", s, t);
}

static int on_scalar(struct yconv *y, const yaml_event_t *e)
{
	const char *s = (const char *)e->data.scalar.value;
	const char *tag = (const char *)e->data.scalar.tag;
	const char *anchor = (const char *)e->data.scalar.anchor;
	size_t n = e->data.scalar.length;
	struct frame *f = top(y);
	struct json_object *v = NULL;
	struct scalar sc = { .t = S_STR };
	int ret;

	if (want_key(f)) {
		if (!tag && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "<<")) {
			f->merge = true;
			return 0;
		}
		if (anchor && !(v = json_object_new_string_len(s, (int)n)))
			return -ENOMEM;
		ret = anchor_add(y, anchor, v, 1, &e->start_mark);
		json_object_put(v);
		return ret ? ret : set_key(y, f, s, n, &e->start_mark);
	}
	if (tag)
		ret = tagged(y, e, tag, &sc);
	else if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		resolve(s, n, &sc), ret = 0;
	else
		ret = 0;
	if (ret)
		return ret;
	if (sc.t != S_NULL && !(v = scalar_json(&sc, s, n)))
		return -ENOMEM;
	ret = anchor_add(y, anchor, v, 1, &e->start_mark);
	if (ret) {
		json_object_put(v);
		return ret;
	}
	return add(y, v, 1, &e->start_mark);
}

static int on_alias(struct yconv *y, const yaml_event_t *e)
{
	const char *name = (const char *)e->data.alias.anchor;
	const struct anchor *a = anchor_find(y, name);
	struct frame *f = top(y);

	if (!a)
		return fail(y, &e->start_mark, "unknown alias *%.64s", name);
	if (!want_key(f))
		return add(y, json_object_get(a->v), a->nodes, &e->start_mark);
	if (!json_object_is_type(a->v, json_type_string))
		return fail(y, &e->start_mark, "alias *%.64s as a mapping key must be a string",
			    name);
	return set_key(y, f, json_object_get_string(a->v), json_object_get_string_len(a->v),
		       &e->start_mark);
}

static int on_open(struct yconv *y, const yaml_event_t *e, bool map)
{
	const char *anchor = (const char *)(map ? e->data.mapping_start.anchor :
					    e->data.sequence_start.anchor);
	struct frame *f;

	if (want_key(top(y)))
		return fail(y, &e->start_mark, "complex mapping keys are not supported");
	if (y->depth == LOAD_MAX_DEPTH)
		return fail(y, &e->start_mark, "nested deeper than %d levels", LOAD_MAX_DEPTH);
	f = &y->stack[y->depth];
	*f = (struct frame){ .nodes = 1 };
	f->obj = map ? json_object_new_object() : json_object_new_array();
	if (!f->obj || (anchor && !(f->anchor = strdup(anchor)))) {
		json_object_put(f->obj);
		return -ENOMEM;
	}
	y->depth++;
	return 0;
}

static void frame_free(struct frame *f)
{
	json_object_put(f->obj);
	json_object_put(f->merges);
	free(f->key);
	free(f->anchor);
	memset(f, 0, sizeof(*f));
}

static int on_close(struct yconv *y, const yaml_event_t *e)
{
	struct frame f = y->stack[--y->depth];
	struct json_object *v = json_object_get(f.obj);
	size_t nodes = f.nodes;
	int ret;

	ret = merge_apply(&f);
	if (!ret)
		ret = anchor_add(y, f.anchor, f.obj, nodes, &e->start_mark);
	frame_free(&f);
	if (ret) {
		json_object_put(v);
		return ret;
	}
	return add(y, v, nodes, &e->start_mark);
}

static int on_doc_end(struct yconv *y)
{
	struct json_object *v = y->root;

	y->root = NULL;
	anchors_free(y);
	return docs_add(y->out, v, y->doc_line);
}

static int on_event(struct yconv *y, const yaml_event_t *e)
{
	bool node = e->type == YAML_ALIAS_EVENT || e->type == YAML_SCALAR_EVENT ||
		    e->type == YAML_SEQUENCE_START_EVENT || e->type == YAML_MAPPING_START_EVENT;

	/* A document starts where its root node does, not at its `---`. */
	if (node && !y->depth)
		y->doc_line = y->line0 + (int)e->start_mark.line + 1;
	switch (e->type) {
	case YAML_DOCUMENT_END_EVENT:
		return on_doc_end(y);
	case YAML_SCALAR_EVENT:
		return on_scalar(y, e);
	case YAML_ALIAS_EVENT:
		return on_alias(y, e);
	case YAML_SEQUENCE_START_EVENT:
		return on_open(y, e, false);
	case YAML_MAPPING_START_EVENT:
		return on_open(y, e, true);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_close(y, e);
	default:
		return 0;
	}
}

static int parser_problem(struct yconv *y, const char *text, size_t len)
{
	const yaml_parser_t *p = &y->parser;
	const char *what = p->problem ? p->problem : "invalid YAML";
	struct cursor cur = { .text = text, .line = 1 };

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		cursor_to(&cur, p->problem_offset < len ? p->problem_offset : len, &y->pb.line,
			  &y->pb.col);
		y->pb.line += y->line0;
		snprintf(y->pb.msg, sizeof(y->pb.msg), "%s", what);
		return 1;
	}
	if (p->context)
		return fail(y, &p->problem_mark, "%s (%s at line %d)", what, p->context,
			    y->line0 + (int)p->context_mark.line + 1);
	return fail(y, &p->problem_mark, "%s", what);
}

/* Load text (which starts at line y->line0 + 1 of the input) up to its end
 * or its first problem. 0, 1 (y->pb says what and where) or -ENOMEM. */
static int yaml_chunk(struct yconv *y, const char *text, size_t len)
{
	yaml_event_t e;
	bool end = false;
	int ret = 0;

	if (!yaml_parser_initialize(&y->parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&y->parser, (const unsigned char *)text, len);
	while (!ret && !end) {
		if (!yaml_parser_parse(&y->parser, &e)) {
			ret = parser_problem(y, text, len);
			break;
		}
		end = e.type == YAML_STREAM_END_EVENT;
		ret = on_event(y, &e);
		yaml_event_delete(&e);
	}
	while (y->depth)
		frame_free(&y->stack[--y->depth]);
	json_object_put(y->root);
	y->root = NULL;
	anchors_free(y);
	yaml_parser_delete(&y->parser);
	return ret;
}

/* The first `---` line after off (a line start) and at or after from, or
 * len: where loading resumes after a broken document. Always past off, so
 * recovery makes progress. */
static size_t next_doc(const char *text, size_t len, size_t off, size_t from)
{
	size_t p = from > off ? from : off + 1;

	for (;; p++) {
		while (p < len && text[p - 1] != '\n')
			p++;
		if (p >= len)
			return len;
		if (len - p >= 3 && !memcmp(text + p, "---", 3) &&
		    (p + 3 == len || is_space(text[p + 3])))
			return p;
	}
}

/* err NULL: stop at the first problem and return 1. */
static int yaml_load(const char *text, size_t len, struct docs *out, load_err_fn err, void *arg)
{
	struct yconv y = { .out = out };
	size_t off = 0, next;
	int ret;

	for (;;) {
		ret = yaml_chunk(&y, text + off, len - off);
		if (ret <= 0 || !err)
			return ret;
		ret = err(arg, y.pb.line, y.pb.col, y.pb.msg);
		if (ret)
			return ret;
		next = off + line_offset(text + off, len - off, (size_t)(y.pb.line - y.line0 - 1));
		next = next_doc(text, len, off, next);
		if (next >= len)
			return 0;
		y.line0 += (int)count_nl(text + off, next - off);
		off = next;
	}
}

int load_docs(const char *text, size_t len, struct docs *out, load_err_fn err, void *arg)
{
	struct docs jd = { 0 }, yd = { 0 };
	struct problem pb;
	size_t off = 0;
	int ret, ret2;

	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		off = 3;
	off = skip_space(text, len, off);
	if (off == len || (text[off] != '{' && text[off] != '['))
		return yaml_load(text, len, out, err, arg);
	ret = json_load(text, len, off, &jd, &pb);
	if (ret == 1) {
		/* A YAML flow collection starts with '{' or '[' too. */
		ret = yaml_load(text, len, &yd, NULL, NULL);
		if (!ret) {
			docs_free(&jd);
			return docs_move(out, &yd);
		}
		docs_free(&yd);
		if (ret == 1)
			ret = err(arg, pb.line, pb.col, pb.msg);
	}
	ret2 = docs_move(out, &jd);
	return ret ? ret : ret2;
}
