/* eval: xf_match over an xf_summary, exactly as include/xdpath/filter.h
 * defines it. */
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

bool xf_term_eval(const struct xf_term *t, const struct xf_summary *s)
{
	bool r;

	if (t->kind == XF_T_LINEAR) {
		r = linear(t, s);
	} else {
		unsigned long long v;

		r = t->field < XF_FIELD_MAX && xf_present(s, t->field);
		if (r) {
			v = s->v[t->field] & t->mask;
			r = v >= t->lo && v <= t->hi;
		}
	}
	return t->neg ? !r : r;
}

bool xf_match_eval(const struct xf_match *m, const struct xf_summary *s)
{
	for (int i = 0; i < m->nconj && i < XF_MAX_CONJ; i++) {
		bool all = true;

		for (int j = 0; all && j < m->nterms[i] && j < XF_MAX_TERMS; j++)
			all = xf_term_eval(&m->t[i][j], s);
		if (all)
			return true;
	}
	return false;
}
