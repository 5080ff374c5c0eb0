/* lang: rule text -> tokens -> (recursive descent, negations pushed down)
 * disjunctive normal form -> struct xf_match. */
#include "lang.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Intermediate forms may grow past the final limits before they are
 * checked (a "not" over a set); these bound the work. */
#define DNF_MAX_CONJ  64
#define DNF_MAX_TERMS 16
#define MAX_DEPTH     64

/* ---- DNF ---------------------------------------------------------------------- */

struct conj {
	int n;
	struct xf_term t[DNF_MAX_TERMS];
};

struct dnf {
	int n;
	struct conj *c;          /* n conjunctions */
};

enum tok_kind {
	T_END, T_WORD, T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_COMMA, T_PIPE, T_PLUS, T_MINUS,
	T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR, T_NOT, T_IN, T_HAS, T_ANY,
};

struct tok {
	enum tok_kind kind;
	int pos;                 /* 0-based offset */
	int len;
	const char *s;
};

struct ps {
	const char *text;
	struct tok cur;
	int p;                   /* next offset to lex */
	int depth;
	struct xf_error *e;
	int err;                 /* -EINVAL / -ENOMEM once failed */
};

static int fail(struct ps *ps, int pos, const char *fmt, ...)
{
	va_list ap;

	if (ps->err)
		return ps->err;
	ps->err = -EINVAL;
	ps->e->col = pos + 1;
	va_start(ap, fmt);
	vsnprintf(ps->e->msg, sizeof(ps->e->msg), fmt, ap);
	va_end(ap);
	return ps->err;
}

static int oom(struct ps *ps)
{
	if (!ps->err) {
		ps->err = -ENOMEM;
		ps->e->col = 0;
		snprintf(ps->e->msg, sizeof(ps->e->msg), "out of memory");
	}
	return ps->err;
}

static void dnf_free(struct dnf *d)
{
	free(d->c);
	d->c = NULL;
	d->n = 0;
}

static int dnf_true(struct ps *ps, struct dnf *d)
{
	d->c = calloc(1, sizeof(*d->c));
	d->n = d->c ? 1 : 0;
	return d->c ? 0 : oom(ps);
}

static int dnf_term(struct ps *ps, struct dnf *d, const struct xf_term *t)
{
	if (dnf_true(ps, d))
		return ps->err;
	d->c[0].t[0] = *t;
	d->c[0].n = 1;
	return 0;
}

/* a or b -> a (b freed). */
static int dnf_or(struct ps *ps, struct dnf *a, struct dnf *b, int pos)
{
	struct conj *c;

	if (a->n + b->n > DNF_MAX_CONJ) {
		dnf_free(b);
		return fail(ps, pos, "too complex: more than %d alternatives", DNF_MAX_CONJ);
	}
	c = realloc(a->c, (size_t)(a->n + b->n) * sizeof(*c));
	if (!c) {
		dnf_free(b);
		return oom(ps);
	}
	memcpy(c + a->n, b->c, (size_t)b->n * sizeof(*c));
	a->c = c;
	a->n += b->n;
	free(b->c);
	b->c = NULL;
	b->n = 0;
	return 0;
}

/* a and b -> a (b freed): every pair of conjunctions. */
static int dnf_and(struct ps *ps, struct dnf *a, struct dnf *b, int pos)
{
	struct conj *c;
	int n = 0;

	if (a->n * b->n > DNF_MAX_CONJ) {
		dnf_free(b);
		return fail(ps, pos, "too complex: more than %d alternatives", DNF_MAX_CONJ);
	}
	c = calloc((size_t)(a->n * b->n) + 1, sizeof(*c));
	if (!c) {
		dnf_free(b);
		return oom(ps);
	}
	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < b->n; j++, n++) {
			if (a->c[i].n + b->c[j].n > DNF_MAX_TERMS) {
				free(c);
				dnf_free(b);
				return fail(ps, pos, "too complex: more than %d tests in one alternative",
					    DNF_MAX_TERMS);
			}
			c[n] = a->c[i];
			memcpy(c[n].t + c[n].n, b->c[j].t, (size_t)b->c[j].n * sizeof(struct xf_term));
			c[n].n += b->c[j].n;
		}
	free(a->c);
	a->c = c;
	a->n = n;
	dnf_free(b);
	return 0;
}

/* not d: the AND over d's conjunctions of the OR of their negated terms. */
static int dnf_not(struct ps *ps, struct dnf *d, int pos)
{
	struct dnf acc = { 0 };

	if (dnf_true(ps, &acc))
		return ps->err;
	for (int i = 0; i < d->n; i++) {
		struct dnf alt = { 0 };

		alt.c = calloc((size_t)d->c[i].n + 1, sizeof(*alt.c));
		if (!alt.c) {
			dnf_free(&acc);
			return oom(ps);
		}
		for (int j = 0; j < d->c[i].n; j++) {
			alt.c[j].n = 1;
			alt.c[j].t[0] = d->c[i].t[j];
			alt.c[j].t[0].neg ^= 1;
		}
		alt.n = d->c[i].n;
		if (!alt.n) { /* not(true): false, an empty disjunction */
			dnf_free(&alt);
			acc.n = 0;
			break;
		}
		if (dnf_and(ps, &acc, &alt, pos)) {
			dnf_free(&acc);
			return ps->err;
		}
	}
	dnf_free(d);
	*d = acc;
	return 0;
}

/* ---- lexer -------------------------------------------------------------------- */

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == ':' || c == '/';
}

static void lex(struct ps *ps)
{
	const char *t = ps->text;
	int p = ps->p;
	struct tok *k = &ps->cur;
	static const struct {
		const char *s;
		enum tok_kind k;
	} ops[] = {
		{ "==", T_EQ }, { "!=", T_NE }, { "<=", T_LE }, { ">=", T_GE }, { "&&", T_AND },
		{ "||", T_OR }, { "<", T_LT }, { ">", T_GT }, { "!", T_NOT }, { "(", T_LPAREN },
		{ ")", T_RPAREN }, { "{", T_LBRACE }, { "}", T_RBRACE }, { ",", T_COMMA },
		{ "|", T_PIPE }, { "+", T_PLUS }, { "-", T_MINUS }, { "=", T_EQ },
	};

	while (t[p] && isspace((unsigned char)t[p]))
		p++;
	k->pos = p;
	k->s = t + p;
	k->len = 0;
	if (!t[p]) {
		k->kind = T_END;
		ps->p = p;
		return;
	}
	if (word_char(t[p])) {
		while (word_char(t[p + k->len]))
			k->len++;
		k->kind = T_WORD;
#define KW(w, kk) if (k->len == (int)strlen(w) && !strncmp(k->s, w, k->len)) k->kind = kk
		KW("and", T_AND);
		KW("or", T_OR);
		KW("not", T_NOT);
		KW("in", T_IN);
		KW("has", T_HAS);
		KW("any", T_ANY);
#undef KW
		ps->p = p + k->len;
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].s);

		if (!strncmp(t + p, ops[i].s, n)) {
			k->kind = ops[i].k;
			k->len = (int)n;
			ps->p = p + (int)n;
			return;
		}
	}
	k->kind = T_END;
	k->len = 1;
	fail(ps, p, "unexpected character '%c'", t[p]);
	ps->p = p + 1;
}

static const char *tok_text(const struct tok *k, char *buf, size_t len)
{
	if (k->kind == T_END)
		return "the end";
	snprintf(buf, len, "'%.*s'", k->len > 40 ? 40 : k->len, k->s);
	return buf;
}

/* ---- literals ----------------------------------------------------------------- */

static bool parse_uint(const char *s, int len, unsigned long long *out)
{
	char buf[32], *end;

	if (len <= 0 || len >= (int)sizeof(buf) || !isdigit((unsigned char)s[0]))
		return false;
	memcpy(buf, s, (size_t)len);
	buf[len] = 0;
	errno = 0;
	/* decimal, or hex with 0x: a leading zero is not octal (ports, lengths) */
	*out = strtoull(buf, &end, len > 2 && buf[0] == '0' && (buf[1] | 0x20) == 'x' ? 16 : 10);
	return !errno && *end == 0;
}

/* A named constant of fi ("tcp" for ip.proto): true and *out. */
static bool named_const(const struct xf_field_info *fi, const char *s, int len,
			unsigned long long *out)
{
	const char *c = fi->consts;

	while (c && *c) {
		const char *eq = strchr(c, '='), *end = strchr(c, ',');

		if (!end)
			end = c + strlen(c);
		if (eq && eq - c == len && !strncmp(c, s, (size_t)len)) {
			*out = strtoull(eq + 1, NULL, 0);
			return true;
		}
		c = *end ? end + 1 : end;
	}
	return false;
}

static unsigned long long width_max(const struct xf_field_info *fi)
{
	if (fi->type == XT_BOOL)
		return 1;
	if (fi->type == XT_MAC)
		return (1ull << 48) - 1;
	if (fi->type == XT_IP4)
		return 0xffffffffull;
	return fi->bits >= 64 ? ~0ull : (1ull << fi->bits) - 1;
}

/* A number for fi: decimal, 0x hex, a named constant, true/false. */
static int number_for(struct ps *ps, const struct xf_field_info *fi, const char *s, int len,
		      int pos, unsigned long long *out)
{
	if (parse_uint(s, len, out) || named_const(fi, s, len, out)) {
		if (*out > width_max(fi))
			return fail(ps, pos, "%.*s is out of range for %s (0..%llu)", len, s, fi->name,
				    width_max(fi));
		return 0;
	}
	if (fi->type == XT_BOOL && len == 4 && !strncmp(s, "true", 4)) {
		*out = 1;
		return 0;
	}
	if (fi->type == XT_BOOL && len == 5 && !strncmp(s, "false", 5)) {
		*out = 0;
		return 0;
	}
	if (fi->consts)
		return fail(ps, pos, "expected a number or a name (%s) for %s, not '%.*s'", fi->consts,
			    fi->name, len, s);
	return fail(ps, pos, "expected a number for %s, not '%.*s'", fi->name, len, s);
}

/* An address with an optional /prefix of family (AF_INET, AF_INET6). */
static bool parse_cidr(const char *s, int len, int family, unsigned char *addr, int *plen)
{
	char buf[64];
	const char *slash;
	int max = family == AF_INET ? 32 : 128;

	if (len <= 0 || len >= (int)sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)len);
	buf[len] = 0;
	slash = strchr(buf, '/');
	*plen = max;
	if (slash) {
		char *end;
		long v = strtol(slash + 1, &end, 10);

		if (*end || slash[1] == 0 || v < 0 || v > max)
			return false;
		*plen = (int)v;
		buf[slash - buf] = 0;
	}
	return inet_pton(family, buf, addr) == 1;
}

static bool parse_mac(const char *s, int len, unsigned long long *out)
{
	unsigned int b[6];
	char buf[24], tail;

	if (len != 17)
		return false;
	memcpy(buf, s, 17);
	buf[17] = 0;
	if (sscanf(buf, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return false;
	*out = 0;
	for (int i = 0; i < 6; i++)
		*out = *out << 8 | b[i];
	return true;
}

static struct xf_term range_term(unsigned char field, unsigned long long mask,
				 unsigned long long lo, unsigned long long hi)
{
	struct xf_term t;

	memset(&t, 0, sizeof(t));
	t.kind = XF_T_RANGE;
	t.field = field;
	t.mask = mask;
	t.lo = lo;
	t.hi = hi;
	return t;
}

static unsigned long long prefix_mask(int plen, int bits)
{
	if (plen <= 0)
		return 0;
	return plen >= 64 ? ~0ull : (~0ull << (64 - plen)) >> (64 - bits);
}

/* One set item for fi (a value, a..b, an address or CIDR, a MAC) as a DNF
 * of exact tests. */
static int item_dnf(struct ps *ps, const struct xf_field_info *fi, const struct tok *k,
		    struct dnf *out)
{
	const char *dots = NULL;
	unsigned long long lo, hi, all = width_max(fi);
	unsigned char addr[16];
	int plen;

	for (int i = 0; i + 1 < k->len; i++)
		if (k->s[i] == '.' && k->s[i + 1] == '.')
			dots = k->s + i;
	if (fi->type == XT_IP4) {
		if (!parse_cidr(k->s, k->len, AF_INET, addr, &plen))
			return fail(ps, k->pos, "expected an IPv4 address or CIDR for %s, not '%.*s'",
				    fi->name, k->len, k->s);
		lo = (unsigned long long)ntohl(*(uint32_t *)addr) & prefix_mask(plen, 32);
		return dnf_term(ps, out, &(struct xf_term){ 0 }) ||
		       (out->c[0].t[0] = range_term(fi->field, prefix_mask(plen, 32), lo, lo), 0);
	}
	if (fi->type == XT_IP6) {
		unsigned long long h = 0, l = 0;
		struct xf_term th, tl;

		if (!parse_cidr(k->s, k->len, AF_INET6, addr, &plen))
			return fail(ps, k->pos, "expected an IPv6 address or CIDR for %s, not '%.*s'",
				    fi->name, k->len, k->s);
		for (int i = 0; i < 8; i++) {
			h = h << 8 | addr[i];
			l = l << 8 | addr[8 + i];
		}
		th = range_term(fi->field, prefix_mask(plen, 64), h & prefix_mask(plen, 64),
				h & prefix_mask(plen, 64));
		tl = range_term(fi->field + 1, prefix_mask(plen - 64, 64),
				l & prefix_mask(plen - 64, 64), l & prefix_mask(plen - 64, 64));
		if (dnf_true(ps, out))
			return ps->err;
		out->c[0].t[out->c[0].n++] = th;
		if (plen > 64)
			out->c[0].t[out->c[0].n++] = tl;
		return 0;
	}
	if (fi->type == XT_MAC) {
		if (!parse_mac(k->s, k->len, &lo))
			return fail(ps, k->pos, "expected a MAC address (aa:bb:cc:dd:ee:ff) for %s, not '%.*s'",
				    fi->name, k->len, k->s);
		hi = lo;
	} else if (dots) {
		int n1 = (int)(dots - k->s);

		if (number_for(ps, fi, k->s, n1, k->pos, &lo) ||
		    number_for(ps, fi, dots + 2, k->len - n1 - 2, k->pos + n1 + 2, &hi))
			return ps->err;
		if (lo > hi)
			return fail(ps, k->pos, "empty range %.*s", k->len, k->s);
	} else {
		if (number_for(ps, fi, k->s, k->len, k->pos, &lo))
			return ps->err;
		hi = lo;
	}
	if (fi->mask) /* a bit view: 0 or 1 */
		return dnf_term(ps, out, &(struct xf_term){ 0 }) ||
		       (out->c[0].t[0] = lo ? range_term(fi->field, fi->mask, fi->mask, fi->mask)
					    : range_term(fi->field, fi->mask, 0, 0), 0);
	if (dnf_term(ps, out, &(struct xf_term){ 0 }))
		return ps->err;
	out->c[0].t[0] = range_term(fi->field, all, lo, hi);
	return 0;
}

/* ---- parser ------------------------------------------------------------------- */

static int expr(struct ps *ps, struct dnf *out);

static const struct xf_field_info *field_at(const struct tok *k)
{
	return k->kind == T_WORD ? xf_field_find(k->s, (size_t)k->len) : NULL;
}

/* set := item | "{" item ("," item)* "}" */
static int set_dnf(struct ps *ps, const struct xf_field_info *fi, struct dnf *out)
{
	char b[64];
	bool brace = ps->cur.kind == T_LBRACE;

	out->n = 0;
	out->c = NULL;
	if (brace)
		lex(ps);
	for (;;) {
		struct dnf item = { 0 };

		if (ps->cur.kind != T_WORD)
			return fail(ps, ps->cur.pos, "expected a value for %s, found %s", fi->name,
				    tok_text(&ps->cur, b, sizeof(b)));
		if (item_dnf(ps, fi, &ps->cur, &item) || dnf_or(ps, out, &item, ps->cur.pos))
			return ps->err;
		lex(ps);
		if (!brace || ps->cur.kind == T_RBRACE)
			break;
		if (ps->cur.kind != T_COMMA)
			return fail(ps, ps->cur.pos, "expected ',' or '}' in the set, found %s",
				    tok_text(&ps->cur, b, sizeof(b)));
		lex(ps);
	}
	if (brace)
		lex(ps);
	return ps->err;
}

/* bits := NAME ("|" NAME)* | NUMBER | "{" NAME ("," NAME)* "}" */
static int bits_value(struct ps *ps, const struct xf_field_info *fi, bool zero_ok,
		      unsigned long long *out)
{
	char b[64];
	bool brace = ps->cur.kind == T_LBRACE;

	*out = 0;
	if (brace)
		lex(ps);
	for (;;) {
		unsigned long long v;

		if (ps->cur.kind != T_WORD)
			return fail(ps, ps->cur.pos, "expected bits for %s, found %s", fi->name,
				    tok_text(&ps->cur, b, sizeof(b)));
		if (number_for(ps, fi, ps->cur.s, ps->cur.len, ps->cur.pos, &v))
			return ps->err;
		*out |= v;
		lex(ps);
		if (ps->cur.kind == (brace ? T_COMMA : T_PIPE)) {
			lex(ps);
			continue;
		}
		break;
	}
	if (brace) {
		if (ps->cur.kind != T_RBRACE)
			return fail(ps, ps->cur.pos, "expected ',' or '}', found %s",
				    tok_text(&ps->cur, b, sizeof(b)));
		lex(ps);
	}
	if (!*out && !zero_ok)
		return fail(ps, ps->cur.pos, "no bits given for %s", fi->name);
	return 0;
}

/* ---- raw bytes: l2[OFF], l3[OFF:W], l4[OFF:W] ---------------------------------- */

/* A raw-byte reference stands in as a number field of its width, so that
 * sets, bits and comparisons compile as they do for fields; raw_terms() then
 * turns what was compiled for it into XF_T_BYTES terms. It has no summary
 * slot, so it cannot take part in a sum. */
struct raw {
	struct xf_field_info fi; /* fi.name is name */
	char name[32];
	unsigned char layer;     /* enum xf_layer */
	unsigned char width;
	unsigned short off;
};

#define RAW_NUMBERS_ONLY \
	"%s can only be compared with numbers (not added to or compared with a field)"

static int skip_space(const char *t, int p)
{
	while (t[p] && isspace((unsigned char)t[p]))
		p++;
	return p;
}

/* The current token is a name followed by '[': raw bytes (numbers are not:
 * "80 [" stays an unexpected '['). */
static bool raw_at(const struct ps *ps)
{
	return ps->cur.kind == T_WORD && !isdigit((unsigned char)ps->cur.s[0]) &&
	       ps->text[skip_space(ps->text, ps->p)] == '[';
}

/* l2, l3 or l4 without the brackets. */
static bool raw_layer_word(const struct tok *k)
{
	return k->kind == T_WORD && k->len == 2 && k->s[0] == 'l' && k->s[1] >= '2' &&
	       k->s[1] <= '4';
}

static void raw_name(char *buf, size_t len, unsigned int layer, unsigned int off,
		     unsigned int width)
{
	char l = layer <= XF_LAYER_L4 ? (char)('2' + layer) : '?';

	if (width == 1)
		snprintf(buf, len, "l%c[%u]", l, off);
	else
		snprintf(buf, len, "l%c[%u:%u]", l, off, width);
}

static const char *char_text(const char *t, int p, char *buf, size_t len)
{
	if (!t[p])
		return "the end";
	snprintf(buf, len, "'%c'", t[p]);
	return buf;
}

/* The number (decimal or 0x hex) at p inside lN[...]; *end: past it. */
static int raw_number(struct ps *ps, const struct tok *layer, int p, const char *what,
		      unsigned long long *v, int *end)
{
	const char *t = ps->text;
	char b[8];
	int e = p;

	while (isalnum((unsigned char)t[e]))
		e++;
	*end = e;
	if (e == p)
		return fail(ps, p, "expected %s for %.*s[...], found %s", what, layer->len, layer->s,
			    char_text(t, p, b, sizeof(b)));
	if (!parse_uint(t + p, e - p, v))
		return fail(ps, p, "expected %s for %.*s[...], not '%.*s'", what, layer->len,
			    layer->s, e - p, t + p);
	return 0;
}

/* raw := ("l2" | "l3" | "l4") "[" OFF (":" WIDTH)? "]", spaces allowed
 * inside; the current token is the layer word. Leaves the token after ']'. */
static int raw_ref(struct ps *ps, struct raw *r)
{
	const char *t = ps->text;
	struct tok w = ps->cur;
	unsigned long long off, width = 1;
	int p, end;
	char b[8];

	memset(r, 0, sizeof(*r));
	if (!raw_layer_word(&w))
		return fail(ps, w.pos, "unknown layer '%.*s' for raw bytes: use l2[...], l3[...] or "
			    "l4[...]", w.len, w.s);
	p = skip_space(t, skip_space(t, ps->p) + 1);
	if (raw_number(ps, &w, p, "an offset", &off, &end))
		return ps->err;
	if (off >= XF_BYTES_MAX_OFF)
		return fail(ps, p, "offset %llu is out of range (0..%d)", off, XF_BYTES_MAX_OFF - 1);
	p = skip_space(t, end);
	if (t[p] == ':') {
		int wpos = skip_space(t, p + 1);

		if (raw_number(ps, &w, wpos, "a width (1, 2, 4 or 8)", &width, &end))
			return ps->err;
		if (width != 1 && width != 2 && width != 4 && width != 8)
			return fail(ps, wpos, "width must be 1, 2, 4 or 8, not %llu", width);
		p = skip_space(t, end);
		if (t[p] != ']')
			return fail(ps, p, "expected ']' after the width in %.*s[...], found %s",
				    w.len, w.s, char_text(t, p, b, sizeof(b)));
	} else if (t[p] != ']') {
		return fail(ps, p, "expected ':' or ']' in %.*s[...], found %s", w.len, w.s,
			    char_text(t, p, b, sizeof(b)));
	}
	r->layer = (unsigned char)(w.s[1] - '2');
	r->off = (unsigned short)off;
	r->width = (unsigned char)width;
	raw_name(r->name, sizeof(r->name), r->layer, r->off, r->width);
	r->fi = (struct xf_field_info){ r->name, XT_UINT, XF_NONE, (unsigned char)(width * 8), 0,
					NULL, NULL };
	ps->p = p + 1;
	lex(ps);
	return ps->err;
}

/* What was compiled for r's stand-in (every term of d) reads r's bytes. */
static void raw_terms(struct dnf *d, const struct raw *r)
{
	for (int i = 0; i < d->n; i++)
		for (int j = 0; j < d->c[i].n; j++) {
			struct xf_term *t = &d->c[i].t[j];

			t->kind = XF_T_BYTES;
			t->field = r->layer;
			t->op = r->width;
			t->off = r->off;
		}
}

/* Constants of a comparison stay within +-2^48 (the widest field), so that
 * neither the compiler nor the evaluator's 64-bit sums can overflow. */
#define LIN_BITS 48
#define LIN_KMAX ((1LL << LIN_BITS) - 1)

/* A linear value: fields (+1/-1) and a constant. */
struct lin {
	int n;
	const struct xf_field_info *f[XF_LIN_FIELDS];
	int coef[XF_LIN_FIELDS];
	long long k;
	int pos;
	const struct xf_field_info *first; /* for constants' names and ranges */
};

static int lin_add(struct ps *ps, struct lin *l, int sign, const struct xf_field_info *ctx)
{
	char b[64];
	const struct xf_field_info *fi = field_at(&ps->cur);
	const struct xf_field_info *named = ctx ? ctx : l->first;
	unsigned long long v;

	/* a name of the field compared with wins over a field of that name:
	 * ip.proto == tcp, eth.type == ip6, ip6.nexthdr == frag */
	if (fi && named && named_const(named, ps->cur.s, ps->cur.len, &v))
		fi = NULL;
	if (raw_at(ps)) {
		struct raw raw;
		int pos = ps->cur.pos;

		if (raw_ref(ps, &raw))
			return ps->err;
		return fail(ps, pos, RAW_NUMBERS_ONLY, raw.name);
	}
	if (ps->cur.kind != T_WORD)
		return fail(ps, ps->cur.pos, "expected a field or a number, found %s",
			    tok_text(&ps->cur, b, sizeof(b)));
	if (fi) {
		if (fi->type != XT_UINT && fi->type != XT_BOOL && fi->type != XT_FLAGS)
			return fail(ps, ps->cur.pos, "%s cannot be added or compared with a field", fi->name);
		if (fi->mask)
			return fail(ps, ps->cur.pos, "%s is a flag: test it alone", fi->name);
		if (l->n == XF_LIN_FIELDS)
			return fail(ps, ps->cur.pos, "at most %d fields in one comparison", XF_LIN_FIELDS);
		l->f[l->n] = fi;
		l->coef[l->n++] = sign;
		if (!l->first)
			l->first = fi;
	} else {
		struct xf_field_info any = { "a number", XT_UINT, 0, LIN_BITS, 0, NULL, NULL };

		if (number_for(ps, named && (named->type == XT_UINT || named->type == XT_BOOL) ?
				       named : &any, ps->cur.s, ps->cur.len, ps->cur.pos, &v))
			return ps->err;
		if (v > LIN_KMAX)
			return fail(ps, ps->cur.pos, "%.*s is too large for a comparison", ps->cur.len,
				    ps->cur.s);
		l->k += sign * (long long)v;
		if (l->k > LIN_KMAX || l->k < -LIN_KMAX)
			return fail(ps, ps->cur.pos, "the numbers add up to more than %lld", LIN_KMAX);
	}
	lex(ps);
	return 0;
}

static int lin_parse(struct ps *ps, struct lin *l, const struct xf_field_info *ctx)
{
	memset(l, 0, sizeof(*l));
	l->pos = ps->cur.pos;
	if (lin_add(ps, l, 1, ctx))
		return ps->err;
	while (ps->cur.kind == T_PLUS || ps->cur.kind == T_MINUS) {
		int sign = ps->cur.kind == T_PLUS ? 1 : -1;

		lex(ps);
		if (lin_add(ps, l, sign, ctx))
			return ps->err;
	}
	return 0;
}

static bool is_cmp(enum tok_kind k)
{
	return k == T_EQ || k == T_NE || k == T_LT || k == T_LE || k == T_GT || k == T_GE;
}

/* field OP k with a plain (UINT/BOOL/FLAGS) field and k within its width
 * (a 64-bit raw-byte value may need all 64 bits) -> one range term. */
static int cmp_urange(struct ps *ps, const struct xf_field_info *fi, enum tok_kind op,
		      unsigned long long k, struct dnf *out)
{
	unsigned long long max = width_max(fi), lo = 0, hi = max;
	bool neg = false;

	switch (op) {
	case T_EQ: lo = hi = k; break;
	case T_NE: lo = hi = k; neg = true; break;
	case T_LT:
		if (!k)
			lo = 1, hi = 0;
		else
			hi = k - 1;
		break;
	case T_LE: hi = k; break;
	case T_GT:
		if (k == max)
			lo = 1, hi = 0;
		else
			lo = k + 1;
		break;
	case T_GE: lo = k; break;
	default: break;
	}
	if (dnf_term(ps, out, &(struct xf_term){ 0 }))
		return ps->err;
	if (lo > hi) /* an impossible range: a term that never holds */
		out->c[0].t[0] = range_term(fi->field, 0, 1, 1);
	else
		out->c[0].t[0] = range_term(fi->field, max, lo, hi);
	if (neg) { /* != : present and not equal (an absent layer stays false) */
		struct xf_term eq = out->c[0].t[0];

		out->c[0].t[0] = range_term(fi->field, 0, 0, 0); /* present */
		eq.neg = 1;
		out->c[0].t[1] = eq;
		out->c[0].n = 2;
	}
	return 0;
}

/* field OP constant with a plain field, the constant possibly folded out of
 * the field's width by arithmetic -> one range term. */
static int cmp_range(struct ps *ps, const struct xf_field_info *fi, enum tok_kind op,
		     long long k, int pos, struct dnf *out)
{
	unsigned long long max = width_max(fi);

	if (k < 0 || (unsigned long long)k > max) { /* the field can never be k */
		bool below = k < 0;
		bool always = op == T_NE || (below ? (op == T_GT || op == T_GE)
						   : (op == T_LT || op == T_LE));

		/* true when present: a range that holds every value */
		if (dnf_term(ps, out, &(struct xf_term){ 0 }))
			return ps->err;
		out->c[0].t[0] = range_term(fi->field, max, 0, max);
		if (!always)
			out->c[0].t[0] = range_term(fi->field, 0, 1, 1); /* never */
		(void)pos;
		return 0;
	}
	return cmp_urange(ps, fi, op, (unsigned long long)k, out);
}

static enum xf_op xf_op_of(enum tok_kind k)
{
	switch (k) {
	case T_EQ: return XF_OP_EQ;
	case T_NE: return XF_OP_NE;
	case T_LT: return XF_OP_LT;
	case T_LE: return XF_OP_LE;
	case T_GT: return XF_OP_GT;
	default: return XF_OP_GE;
	}
}

/* a OP b with fields on both sides, or several: a linear term. */
static int cmp_linear(struct ps *ps, const struct lin *a, const struct lin *b, enum tok_kind op,
		      struct dnf *out)
{
	struct xf_term t;
	int n = 0;

	memset(&t, 0, sizeof(t));
	t.kind = XF_T_LINEAR;
	t.op = (unsigned char)xf_op_of(op);
	if (a->n + b->n > XF_LIN_FIELDS)
		return fail(ps, a->pos, "at most %d fields in one comparison", XF_LIN_FIELDS);
	for (int i = 0; i < a->n; i++, n++) {
		t.f[n] = a->f[i]->field;
		t.coef[n] = (signed char)a->coef[i];
	}
	for (int i = 0; i < b->n; i++, n++) {
		t.f[n] = b->f[i]->field;
		t.coef[n] = (signed char)-b->coef[i];
	}
	t.lo = (unsigned long long)(a->k - b->k);
	if (dnf_term(ps, out, &t))
		return ps->err;
	if (op == T_NE) { /* present and not equal */
		out->c[0].t[0].op = XF_OP_EQ;
		out->c[0].t[0].neg = 1;
		for (int i = 0; i < n; i++)
			out->c[0].t[out->c[0].n++] = range_term(t.f[i], 0, 0, 0);
	}
	return 0;
}

static const enum tok_kind flip_op[] = { [T_LT] = T_GT, [T_LE] = T_GE, [T_GT] = T_LT,
					 [T_GE] = T_LE, [T_EQ] = T_EQ, [T_NE] = T_NE };

/* FIELD ("has" | "any") bits: every bit set, or at least one; op is the
 * keyword's token, the current one. */
static int bits_test(struct ps *ps, const struct xf_field_info *fi, const struct tok *op,
		     struct dnf *out)
{
	unsigned long long bits;

	if (fi->type != XT_FLAGS && fi->type != XT_UINT)
		return fail(ps, op->pos, "'%.*s' needs a number or flags field, %s is not one",
			    op->len, op->s, fi->name);
	lex(ps);
	if (bits_value(ps, fi, false, &bits) || dnf_term(ps, out, &(struct xf_term){ 0 }))
		return ps->err;
	out->c[0].t[0] = op->kind == T_HAS ? range_term(fi->field, bits, bits, bits)
					   : range_term(fi->field, bits, 1, bits);
	return 0;
}

/* RAW CMP NUMBER, the operator read: one number, no sum. */
static int raw_cmp(struct ps *ps, const struct raw *r, enum tok_kind op, struct dnf *out)
{
	char b[64];
	unsigned long long v;

	if (ps->cur.kind != T_WORD)
		return fail(ps, ps->cur.pos, "expected a number for %s, found %s", r->name,
			    tok_text(&ps->cur, b, sizeof(b)));
	if (raw_at(ps) || field_at(&ps->cur))
		return fail(ps, ps->cur.pos, RAW_NUMBERS_ONLY, r->name);
	if (number_for(ps, &r->fi, ps->cur.s, ps->cur.len, ps->cur.pos, &v))
		return ps->err;
	lex(ps);
	if (ps->cur.kind == T_PLUS || ps->cur.kind == T_MINUS)
		return fail(ps, ps->cur.pos, RAW_NUMBERS_ONLY, r->name);
	return cmp_urange(ps, &r->fi, op, v, out);
}

/* RAW in set | RAW has/any bits | RAW CMP NUMBER: a number field of the
 * width, read from the frame. */
static int raw_test(struct ps *ps, struct dnf *out)
{
	struct raw r;
	struct tok next;

	if (raw_ref(ps, &r))
		return ps->err;
	next = ps->cur;
	if (next.kind == T_IN) {
		lex(ps);
		set_dnf(ps, &r.fi, out);
	} else if (next.kind == T_HAS || next.kind == T_ANY) {
		bits_test(ps, &r.fi, &next, out);
	} else if (is_cmp(next.kind)) {
		lex(ps);
		raw_cmp(ps, &r, next.kind, out);
	} else if (next.kind == T_PLUS || next.kind == T_MINUS) {
		fail(ps, next.pos, RAW_NUMBERS_ONLY, r.name);
	} else {
		fail(ps, next.pos, "%s is a number: compare it (e.g. %s == 80) or use 'in'", r.name,
		     r.name);
	}
	if (!ps->err)
		raw_terms(out, &r);
	return ps->err;
}

/* NUMBER CMP RAW (the sum of numbers l and the operator read): RAW
 * FLIP(CMP) NUMBER, the number folded as for a field. */
static int raw_reversed(struct ps *ps, const struct lin *l, enum tok_kind op, struct dnf *out)
{
	struct raw r;

	if (raw_ref(ps, &r))
		return ps->err;
	if (ps->cur.kind == T_PLUS || ps->cur.kind == T_MINUS)
		return fail(ps, ps->cur.pos, RAW_NUMBERS_ONLY, r.name);
	if (cmp_range(ps, &r.fi, flip_op[op], l->k, l->pos, out))
		return ps->err;
	raw_terms(out, &r);
	return 0;
}

/* test := PROTO | BOOL | FIELD in set | FIELD has/any bits | value CMP value
 *       | RAW in set | RAW has/any bits | RAW CMP NUMBER | NUMBER CMP RAW */
static int test(struct ps *ps, struct dnf *out)
{
	char b[64];
	struct tok start = ps->cur;
	const struct xf_field_info *fi = field_at(&start);
	struct lin l, r;
	enum tok_kind op;

	if (start.kind != T_WORD)
		return fail(ps, start.pos, "expected a test, found %s", tok_text(&start, b, sizeof(b)));
	if (raw_at(ps))
		return raw_test(ps, out);
	if (raw_layer_word(&start))
		return fail(ps, ps->p, "expected '[' after %.*s: raw bytes are %.*s[OFFSET] or "
			    "%.*s[OFFSET:WIDTH]", start.len, start.s, start.len, start.s, start.len,
			    start.s);
	if (!fi && !isdigit((unsigned char)start.s[0]))
		return fail(ps, start.pos, "unknown field '%.*s'", start.len, start.s);
	if (fi && fi->type == XT_PROTO) {
		lex(ps);
		return dnf_term(ps, out, &(struct xf_term){ 0 }) ||
		       (out->c[0].t[0] = range_term(fi->field, 0, 0, 0), 0);
	}
	if (fi) {
		struct tok next;
		int save = ps->p;

		lex(ps);
		next = ps->cur;
		if (next.kind == T_IN) {
			lex(ps);
			return set_dnf(ps, fi, out);
		}
		if (next.kind == T_HAS || next.kind == T_ANY)
			return bits_test(ps, fi, &next, out);
		if (fi->type == XT_BOOL && !is_cmp(next.kind) && next.kind != T_PLUS &&
		    next.kind != T_MINUS) {
			unsigned long long m = fi->mask ? fi->mask : 1;

			return dnf_term(ps, out, &(struct xf_term){ 0 }) ||
			       (out->c[0].t[0] = range_term(fi->field, m, m, m), 0);
		}
		if (fi->type == XT_BOOL && fi->mask) { /* tcp.flags.syn == 0: present, bit clear */
			unsigned long long v;
			bool set;

			if (next.kind != T_EQ && next.kind != T_NE)
				return fail(ps, next.pos, "%s is a flag: test it alone or with == 0/1",
					    fi->name);
			lex(ps);
			if (ps->cur.kind != T_WORD)
				return fail(ps, ps->cur.pos, "expected 0, 1, true or false for %s, found %s",
					    fi->name, tok_text(&ps->cur, b, sizeof(b)));
			if (number_for(ps, fi, ps->cur.s, ps->cur.len, ps->cur.pos, &v))
				return ps->err;
			lex(ps);
			set = (v != 0) != (next.kind == T_NE);
			return dnf_term(ps, out, &(struct xf_term){ 0 }) ||
			       (out->c[0].t[0] = range_term(fi->field, fi->mask, set ? fi->mask : 0,
							     set ? fi->mask : 0), 0);
		}
		if ((fi->type == XT_IP4 || fi->type == XT_IP6 || fi->type == XT_MAC)) {
			if (next.kind != T_EQ && next.kind != T_NE)
				return fail(ps, next.pos, "%s can only be compared with == or != (or 'in')",
					    fi->name);
			lex(ps);
			if (ps->cur.kind != T_WORD)
				return fail(ps, ps->cur.pos, "expected an address for %s, found %s", fi->name,
					    tok_text(&ps->cur, b, sizeof(b)));
			if (item_dnf(ps, fi, &ps->cur, out))
				return ps->err;
			lex(ps);
			if (next.kind == T_NE) { /* present and different, as for numbers */
				struct dnf present = { 0 };

				if (dnf_not(ps, out, next.pos) ||
				    dnf_term(ps, &present, &(struct xf_term){ .field = fi->field }))
					return ps->err;
				return dnf_and(ps, out, &present, next.pos);
			}
			return 0;
		}
		if (fi->type == XT_FLAGS && !is_cmp(next.kind))
			return fail(ps, next.pos, "%s is a set of flags: use 'has', 'any' or ==", fi->name);
		if (fi->type == XT_UINT && !is_cmp(next.kind) && next.kind != T_PLUS &&
		    next.kind != T_MINUS)
			return fail(ps, next.pos, "%s is a number: compare it (e.g. %s == 80) or use 'in'",
				    fi->name, fi->name);
		ps->p = save; /* re-read the field as part of a value */
		ps->cur = start;
	}
	if (lin_parse(ps, &l, NULL))
		return ps->err;
	op = ps->cur.kind;
	if (!is_cmp(op))
		return fail(ps, ps->cur.pos, "expected a comparison (== != < <= > >=), found %s",
			    tok_text(&ps->cur, b, sizeof(b)));
	lex(ps);
	if (!l.n && raw_at(ps)) /* 53 == l4[0:2] */
		return raw_reversed(ps, &l, op, out);
	if (l.n == 1 && l.coef[0] == 1 && l.f[0]->type == XT_FLAGS && ps->cur.kind == T_WORD &&
	    !field_at(&ps->cur) && !raw_at(ps)) { /* tcp.flags == syn|ack */
		unsigned long long bits;

		if (bits_value(ps, l.f[0], true, &bits))
			return ps->err;
		return cmp_range(ps, l.f[0], op, (long long)bits - l.k, l.pos, out);
	}
	if (lin_parse(ps, &r, l.n == 1 ? l.f[0] : NULL))
		return ps->err;
	if (!l.n && !r.n)
		return fail(ps, l.pos, "a comparison needs a field");
	if (l.n == 1 && l.coef[0] == 1 && !r.n)
		return cmp_range(ps, l.f[0], op, r.k - l.k, l.pos, out);
	if (!l.n && r.n == 1 && r.coef[0] == 1) /* 5 < f: f > 5 */
		return cmp_range(ps, r.f[0], flip_op[op], l.k - r.k, l.pos, out);
	return cmp_linear(ps, &l, &r, op, out);
}

static int unary(struct ps *ps, struct dnf *out)
{
	char b[64];
	int pos = ps->cur.pos;

	if (++ps->depth > MAX_DEPTH)
		return fail(ps, pos, "nested too deeply");
	if (ps->cur.kind == T_NOT) {
		lex(ps);
		if (unary(ps, out) || dnf_not(ps, out, pos))
			return ps->err;
	} else if (ps->cur.kind == T_LPAREN) {
		lex(ps);
		if (expr(ps, out))
			return ps->err;
		if (ps->cur.kind != T_RPAREN)
			return fail(ps, ps->cur.pos, "expected ')' to close the '(' at column %d, found %s",
				    pos + 1, tok_text(&ps->cur, b, sizeof(b)));
		lex(ps);
	} else if (test(ps, out)) {
		return ps->err;
	}
	ps->depth--;
	return ps->err;
}

static int and_expr(struct ps *ps, struct dnf *out)
{
	if (unary(ps, out))
		return ps->err;
	while (ps->cur.kind == T_AND) {
		struct dnf r = { 0 };
		int pos = ps->cur.pos;

		lex(ps);
		if (unary(ps, &r)) {
			dnf_free(&r);
			return ps->err;
		}
		if (dnf_and(ps, out, &r, pos))
			return ps->err;
	}
	return 0;
}

static int expr(struct ps *ps, struct dnf *out)
{
	if (and_expr(ps, out))
		return ps->err;
	while (ps->cur.kind == T_OR) {
		struct dnf r = { 0 };
		int pos = ps->cur.pos;

		lex(ps);
		if (and_expr(ps, &r)) {
			dnf_free(&r);
			return ps->err;
		}
		if (dnf_or(ps, out, &r, pos))
			return ps->err;
	}
	return 0;
}

int xf_compile(const char *text, struct xf_match *m, struct xf_error *e)
{
	struct ps ps = { .text = text, .e = e };
	struct dnf d = { 0 };
	char b[64];

	memset(m, 0, sizeof(*m));
	memset(e, 0, sizeof(*e));
	lex(&ps);
	if (!ps.err && ps.cur.kind == T_END)
		fail(&ps, 0, "empty rule: expected a test such as 'tcp.dport == 80'");
	if (!ps.err)
		expr(&ps, &d);
	if (!ps.err && ps.cur.kind != T_END)
		fail(&ps, ps.cur.pos, "expected 'and', 'or' or the end, found %s",
		     tok_text(&ps.cur, b, sizeof(b)));
	if (!ps.err && d.n == 0)
		fail(&ps, 0, "the rule can never match");
	if (!ps.err && d.n > XF_MAX_CONJ)
		fail(&ps, 0, "too complex: %d alternatives after expansion (at most %d): split it "
			     "into several rules", d.n, XF_MAX_CONJ);
	for (int i = 0; !ps.err && i < d.n; i++)
		if (d.c[i].n > XF_MAX_TERMS)
			fail(&ps, 0, "too complex: %d tests in one alternative (at most %d)", d.c[i].n,
			     XF_MAX_TERMS);
	if (!ps.err) {
		m->nconj = (unsigned char)d.n;
		for (int i = 0; i < d.n; i++) {
			m->nterms[i] = (unsigned char)d.c[i].n;
			memcpy(m->t[i], d.c[i].t, (size_t)d.c[i].n * sizeof(struct xf_term));
		}
	}
	dnf_free(&d);
	if (ps.err)
		memset(m, 0, sizeof(*m));
	return ps.err;
}

/* ---- formatting --------------------------------------------------------------- */

static const char *field_name(unsigned char f)
{
	if (f == XF_IP6_SRC_HI)
		return "ip6.src.hi";
	if (f == XF_IP6_SRC_LO)
		return "ip6.src.lo";
	if (f == XF_IP6_DST_HI)
		return "ip6.dst.hi";
	if (f == XF_IP6_DST_LO)
		return "ip6.dst.lo";
	if (f == XF_IP_OPT_KINDS)
		return "ip.opt.kinds";
	for (size_t i = 0; i < xf_nfields; i++)
		if (xf_fields[i].field == f && xf_fields[i].type != XT_PROTO && !xf_fields[i].mask)
			return xf_fields[i].name;
	return "?";
}

void xf_match_format(const struct xf_match *m, char *buf, size_t len)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
	size_t o = 0;

#define OUT(...) do { if (o < len) o += (size_t)snprintf(buf + o, len - o, __VA_ARGS__); } while (0)
	if (len)
		buf[0] = 0;
	for (int i = 0; i < m->nconj && i < XF_MAX_CONJ; i++) {
		OUT("%s", i ? "\nor  " : "    ");
		for (int j = 0; j < m->nterms[i] && j < XF_MAX_TERMS; j++) {
			const struct xf_term *t = &m->t[i][j];
			const char *name = field_name(t->field);
			char raw[32];

			OUT("%s%s", j ? " and " : "", t->neg ? "not " : "");
			if (t->kind == XF_T_LINEAR) {
				OUT("(");
				for (int k = 0; k < XF_LIN_FIELDS; k++)
					if (t->f[k])
						OUT("%s%s", t->coef[k] < 0 ? " - " : (k ? " + " : ""),
						    field_name(t->f[k]));
				OUT(" + %lld) %s 0", (long long)t->lo, ops[t->op % 6]);
				continue;
			}
			if (t->kind == XF_T_BYTES) {
				raw_name(raw, sizeof(raw), t->field, t->off, t->op);
				name = raw;
			}
			if (!t->mask && !t->lo && !t->hi)
				OUT("present(%s)", name);
			else
				OUT("%s & %#llx in %#llx..%#llx", name, (unsigned long long)t->mask,
				    (unsigned long long)t->lo, (unsigned long long)t->hi);
		}
	}
#undef OUT
}
