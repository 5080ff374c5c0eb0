/* libFuzzer target: the emergency filters' rule language (filter/lang.c).
 * Any text is compiled. An error must carry a message and a column inside
 * the text or just past its end, and leave no half-compiled match behind. A
 * compiled rule must respect the compiled form's limits, format into any
 * buffer without overrunning it, and evaluate on an empty summary and on
 * summaries with random fields present, over random frames (raw-byte tests
 * read them: exactly len bytes on the heap, so an over-read shows under
 * ASan); when the text has no ')', "not (text)" must evaluate to the
 * negation wherever both compile. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "lang.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define MAX_TEXT 4096

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Fields present at random, with values within 48 bits (the widest field):
 * 0, 1, the field's edges or anything. */
static void random_summary(struct xf_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (int f = XF_NONE + 1; f < XF_FIELD_MAX; f++) {
		uint64_t r = rnd();

		if (r & 1)
			continue;
		switch ((r >> 1) & 7) {
		case 0: s->v[f] = 0; break;
		case 1: s->v[f] = 1; break;
		case 2: s->v[f] = 0xff; break;
		case 3: s->v[f] = 0xffff; break;
		case 4: s->v[f] = (r >> 8) & 0xffff; break;
		default: s->v[f] = (r >> 8) & ((1ull << 48) - 1); break;
		}
		s->present[f / 64] |= 1ull << (f % 64);
	}
}

/* A frame of 0..96 random bytes, where the layer offsets often point. */
static unsigned char *random_frame(size_t *len)
{
	unsigned char *b;

	*len = rnd() % 97;
	b = malloc(*len ? *len : 1);
	CHECK(b);
	for (size_t i = 0; i < *len; i++)
		b[i] = (unsigned char)rnd();
	return b;
}

static void check_match(const struct xf_match *m)
{
	CHECK(m->nconj >= 1 && m->nconj <= XF_MAX_CONJ);
	for (int i = 0; i < m->nconj; i++) {
		CHECK(m->nterms[i] >= 1 && m->nterms[i] <= XF_MAX_TERMS);
		for (int j = 0; j < m->nterms[i]; j++) {
			const struct xf_term *t = &m->t[i][j];

			CHECK(t->neg <= 1);
			if (t->kind == XF_T_BYTES) {
				CHECK(t->field <= XF_LAYER_L4);
				CHECK(t->op == 1 || t->op == 2 || t->op == 4 || t->op == 8);
				CHECK(t->off < XF_BYTES_MAX_OFF);
				CHECK(t->lo <= t->hi);
				continue;
			}
			if (t->kind == XF_T_RANGE) {
				CHECK(t->field > XF_NONE && t->field < XF_FIELD_MAX);
				CHECK(t->lo <= t->hi);
				continue;
			}
			CHECK(t->kind == XF_T_LINEAR);
			CHECK(t->op <= XF_OP_GE);
			CHECK(t->f[0] != XF_NONE);
			for (int k = 0; k < XF_LIN_FIELDS; k++) {
				CHECK(t->f[k] < XF_FIELD_MAX);
				CHECK(t->f[k] == XF_NONE || t->coef[k] == 1 || t->coef[k] == -1);
			}
		}
	}
	for (int i = m->nconj; i < XF_MAX_CONJ; i++)
		CHECK(m->nterms[i] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[MAX_TEXT + 1], neg[MAX_TEXT + 16], out[16384];
	struct xf_match m, nm;
	struct xf_summary s;
	struct xf_error e;
	size_t len;
	int ret;

	if (size > MAX_TEXT)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	len = strlen(text); /* up to an embedded NUL */

	ret = xf_compile(text, &m, &e);
	CHECK(memchr(e.msg, 0, sizeof(e.msg)));
	if (ret) {
		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(e.msg[0]);
		if (ret == -EINVAL)
			CHECK(e.col >= 1 && (size_t)e.col <= len + 1);
		CHECK(m.nconj == 0);
		return 0;
	}
	CHECK(e.col == 0 && !e.msg[0]);
	check_match(&m);

	xf_match_format(&m, out, sizeof(out));
	CHECK(strlen(out) < sizeof(out) && out[0]);
	for (size_t n = 0; n < 24; n += 5) { /* truncated: terminated, a prefix */
		char small[24];

		memset(small, 'x', sizeof(small));
		xf_match_format(&m, small, n);
		if (n) {
			CHECK(strlen(small) < n);
			CHECK(!strncmp(small, out, strlen(small)));
		}
		CHECK(small[n] == 'x' || n == sizeof(small));
	}

	/* the seed: the text, so that a crash reproduces from its input alone */
	rng = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < len; i++)
		rng = (rng ^ (uint8_t)text[i]) * 0x100000001b3ull;
	rng |= 1;

	memset(&s, 0, sizeof(s));
	(void)xf_match_eval(&m, &s, NULL, 0);
	{
		size_t flen;
		unsigned char *frame = random_frame(&flen);

		random_summary(&s);
		(void)xf_match_eval(&m, &s, frame, flen);
		free(frame);
	}
	if (strchr(text, ')') || len + 8 > sizeof(neg))
		return 0;
	snprintf(neg, sizeof(neg), "not (%s)", text);
	if (xf_compile(neg, &nm, &e)) {
		/* only the wrapping's own costs may fail it */
		CHECK(strstr(e.msg, "too complex") || strstr(e.msg, "nested too deeply"));
		nm.nconj = 0;
	} else {
		check_match(&nm);
	}
	CHECK(!nm.nconj || xf_match_eval(&nm, &s, NULL, 0) == !xf_match_eval(&m, &s, NULL, 0));
	for (int k = 0; k < 8; k++) {
		size_t flen;
		unsigned char *frame = random_frame(&flen);

		random_summary(&s);
		if (k & 1) { /* layers inside the frame */
			s.v[XF_L3_OFF] = flen ? rnd() % flen : 0;
			s.v[XF_L4_OFF] = flen ? rnd() % flen : 0;
		}
		CHECK(!nm.nconj || xf_match_eval(&nm, &s, frame, flen) ==
				   !xf_match_eval(&m, &s, frame, flen));
		free(frame);
	}
	return 0;
}
