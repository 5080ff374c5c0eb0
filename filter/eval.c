/* eval: xf_match over an xf_summary and its frame, exactly as
 * include/xdpath/filter.h defines it. */
#include "eval.h"

static bool linear(const struct xf_term *t, const struct xf_summary *s)
{
	long long sum = (long long)t->lo;

	for (int i = 0; i < XF_LIN_FIELDS; i++) {
		if (!t->f[i])
			continue;
		if (t->f[i] >= XF_FIELD_MAX || !xf_present(s, t->f[i]))
			return false;
		sum += t->coef[i] * (long long)s->v[t->f[i]];
	}
	switch (t->op) {
	case XF_OP_EQ: return sum == 0;
	case XF_OP_NE: return sum != 0;
	case XF_OP_LT: return sum < 0;
	case XF_OP_LE: return sum <= 0;
	case XF_OP_GT: return sum > 0;
	case XF_OP_GE: return sum >= 0;
	}
	return false;
}

/* Where t's layer starts in the frame: false when the packet has no such
 * layer (or t names none). */
static bool layer_start(const struct xf_term *t, const struct xf_summary *s, __u64 *start)
{
	int f;

	switch (t->field) {
	case XF_LAYER_L2:
		*start = 0;
		return true;
	case XF_LAYER_L3:
		f = XF_L3_OFF;
		break;
	case XF_LAYER_L4:
		f = XF_L4_OFF;
		break;
	default:
		return false;
	}
	if (!xf_present(s, f))
		return false;
	*start = s->v[f];
	return true;
}

/* t's bytes as a big-endian number: false when the layer is absent, the
 * width is not one of 1, 2, 4, 8 or the bytes are not all in the frame.
 * The bound is checked without overflow whatever the summary says. */
static bool bytes_value(const struct xf_term *t, const struct xf_summary *s,
			const unsigned char *frame, size_t len, __u64 *v)
{
	unsigned int w = t->op;
	__u64 at;

	if (w != 1 && w != 2 && w != 4 && w != 8)
		return false;
	if (!layer_start(t, s, &at) || at > len || t->off > len - at)
		return false;
	at += t->off;
	if (len - at < w)
		return false;
	*v = 0;
	for (unsigned int i = 0; i < w; i++)
		*v = *v << 8 | frame[at + i];
	return true;
}

bool xf_term_eval(const struct xf_term *t, const struct xf_summary *s,
		  const unsigned char *frame, size_t len)
{
	__u64 v = 0;
	bool r;

	switch (t->kind) {
	case XF_T_LINEAR:
		r = linear(t, s);
		break;
	case XF_T_BYTES:
		r = bytes_value(t, s, frame, len, &v);
		break;
	default:
		r = t->field < XF_FIELD_MAX && xf_present(s, t->field);
		if (r)
			v = s->v[t->field];
		break;
	}
	if (r && t->kind != XF_T_LINEAR) {
		v &= t->mask;
		r = v >= t->lo && v <= t->hi;
	}
	return t->neg ? !r : r;
}

bool xf_match_eval(const struct xf_match *m, const struct xf_summary *s,
		   const unsigned char *frame, size_t len)
{
	for (int i = 0; i < m->nconj && i < XF_MAX_CONJ; i++) {
		bool all = true;

		for (int j = 0; all && j < m->nterms[i] && j < XF_MAX_TERMS; j++)
			all = xf_term_eval(&m->t[i][j], s, frame, len);
		if (all)
			return true;
	}
	return false;
}
