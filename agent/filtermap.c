/* filtermap: compiled filter rules -> the pinned filter maps (see
 * filtermap.h for the publication order). */
#include "filtermap.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- what a match needs --------------------------------------------------- */

uint32_t filtermap_field_need(unsigned f)
{
	switch (f) {
	case XF_IP_OPT_KINDS:
	case XF_IP_OPT_MALFORMED:
		return XF_NEED_IP4_OPTS;
	case XF_TCP_OPT_MSS:
	case XF_TCP_OPT_WSCALE:
	case XF_TCP_OPT_SACKPERM:
	case XF_TCP_OPT_SACK:
	case XF_TCP_OPT_TS:
	case XF_TCP_OPT_MALFORMED:
		return XF_NEED_TCP_OPTS;
	case XF_ICMP6_ND_MALFORMED:
	case XF_ICMP6_ND_RDNSS_BAD:
		return XF_NEED_ND_OPTS;
	default:
		return 0;
	}
}

uint32_t filtermap_need(const struct xf_match *m)
{
	uint32_t need = 0;

	for (int c = 0; c < m->nconj && c < XF_MAX_CONJ; c++) {
		for (int j = 0; j < m->nterms[c] && j < XF_MAX_TERMS; j++) {
			const struct xf_term *t = &m->t[c][j];

			if (t->kind == XF_T_RANGE)
				need |= filtermap_field_need(t->field);
			else if (t->kind == XF_T_LINEAR)
				for (int i = 0; i < XF_LIN_FIELDS; i++)
					need |= filtermap_field_need(t->f[i]);
		}
	}
	return need;
}

static void need_field(__u64 req[2], unsigned f)
{
	if (f > XF_NONE && f < XF_FIELD_MAX)
		req[f / 64] |= 1ULL << (f % 64);
}

void filtermap_required(const struct xf_match *m, __u64 req[2])
{
	req[0] = req[1] = 0;
	for (int c = 0; c < m->nconj && c < XF_MAX_CONJ; c++) {
		__u64 r[2] = { 0, 0 };

		for (int j = 0; j < m->nterms[c] && j < XF_MAX_TERMS; j++) {
			const struct xf_term *t = &m->t[c][j];

			if (t->neg)
				continue;
			if (t->kind == XF_T_RANGE)
				need_field(r, t->field);
			else if (t->kind == XF_T_LINEAR)
				for (int i = 0; i < XF_LIN_FIELDS; i++)
					need_field(r, t->f[i]);
			else if (t->kind == XF_T_BYTES && t->field != XF_LAYER_L2)
				need_field(r, t->field == XF_LAYER_L3 ? XF_L3_OFF : XF_L4_OFF);
		}
		req[0] = c ? req[0] & r[0] : r[0];
		req[1] = c ? req[1] & r[1] : r[1];
	}
}

/* ---- the index ------------------------------------------------------------ */

#define IDX_ITEM(F) F,
static const uint32_t idx_fields[] = { XF_IDX_FIELDS(IDX_ITEM) };
#define NIDX (sizeof(idx_fields) / sizeof(idx_fields[0]))

static uint64_t field_width_mask(uint32_t f)
{
	switch (f) {
	case XF_IP_SRC:
	case XF_IP_DST:
		return 0xffffffffULL;
	case XF_TCP_SPORT:
	case XF_TCP_DPORT:
	case XF_UDP_SPORT:
	case XF_UDP_DPORT:
		return 0xffffULL;
	default:
		return ~0ULL;
	}
}

/* The value of a "field == value" test on f in alternative c, if any. */
static bool exact_test(const struct xf_match *m, int c, uint32_t f, uint64_t *value)
{
	uint64_t w = field_width_mask(f);

	for (int j = 0; j < m->nterms[c] && j < XF_MAX_TERMS; j++) {
		const struct xf_term *t = &m->t[c][j];

		if (t->kind != XF_T_RANGE || t->neg || t->field != f || t->lo != t->hi)
			continue;
		if ((t->mask & w) != w || (t->lo & ~w))
			continue;
		*value = t->lo;
		return true;
	}
	return false;
}

/* Indexed only with one key: one bucket write links the whole rule. A rule
 * under several keys (a set of ports) would be half visible between the
 * bucket writes, so it goes to the scan list, one write too. */
bool filtermap_index_key(const struct xf_match *m, uint32_t *field, uint64_t *key)
{
	if (m->nconj < 1 || m->nconj > XF_MAX_CONJ)
		return false;
	for (size_t i = 0; i < NIDX; i++) {
		uint64_t v0, v;
		int c;

		if (!exact_test(m, 0, idx_fields[i], &v0))
			continue;
		for (c = 1; c < m->nconj; c++)
			if (!exact_test(m, c, idx_fields[i], &v) || v != v0)
				break;
		if (c < m->nconj)
			continue;
		*field = idx_fields[i];
		*key = v0;
		return true;
	}
	return false;
}

bool filtermap_exact(const struct xf_match *m)
{
	uint32_t field;
	uint64_t key;

	return m->nconj == 1 && m->nterms[0] == 1 && filtermap_index_key(m, &field, &key);
}

/* The bit of field f in xdp_filter_ports, or 0 if f is not a port field. */
static uint32_t port_bit(uint32_t f)
{
	for (uint32_t i = 0; i < NIDX; i++)
		if (idx_fields[i] == f && (f == XF_TCP_SPORT || f == XF_TCP_DPORT ||
					   f == XF_UDP_SPORT || f == XF_UDP_DPORT))
			return 1U << i;
	return 0;
}

/* Set (before a port key is linked) or clear (after its bucket is gone)
 * the port's bit. */
static int port_mark(const struct filtermap *fm, uint32_t f, uint64_t port, bool on)
{
	uint32_t bit = port_bit(f), key = (uint32_t)port, v = 0;

	if (!bit || port > 0xffff)
		return 0;
	if (bpf_map_lookup_elem(fm->ports_fd, &key, &v))
		return -errno;
	v = on ? v | bit : v & ~bit;
	return bpf_map_update_elem(fm->ports_fd, &key, &v, BPF_ANY) ? -errno : 0;
}

/* ---- map access ---------------------------------------------------------- */

static int get_bucket(const struct filtermap *fm, uint32_t field, uint64_t value,
		      struct xf_bucket *b)
{
	struct xf_idx_key k = { .field = field, .value = value };

	memset(b, 0, sizeof(*b));
	if (bpf_map_lookup_elem(fm->index_fd, &k, b))
		return errno == ENOENT ? 0 : -errno;
	if (b->n > XF_BUCKET_MAX)
		b->n = XF_BUCKET_MAX;
	return 0;
}

static int put_bucket(const struct filtermap *fm, uint32_t field, uint64_t value,
		      const struct xf_bucket *b)
{
	struct xf_idx_key k = { .field = field, .value = value };

	if (!b->n)
		return bpf_map_delete_elem(fm->index_fd, &k) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fm->index_fd, &k, b, BPF_ANY) ? -errno : 0;
}

static int get_scan(const struct filtermap *fm, struct xf_scan *s)
{
	uint32_t zero = 0;

	memset(s, 0, sizeof(*s));
	if (bpf_map_lookup_elem(fm->scan_fd, &zero, s))
		return errno == ENOENT ? 0 : -errno;
	if (s->n > XF_MAX_RULES)
		s->n = XF_MAX_RULES;
	return 0;
}

static int put_scan(const struct filtermap *fm, const struct xf_scan *s)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(fm->scan_fd, &zero, s, BPF_ANY) ? -errno : 0;
}

static int write_cfg(const struct filtermap *fm, const struct fm_slot *extra)
{
	struct xf_cfg c = { .sample_shift = fm->sample_shift };
	uint32_t zero = 0;

	for (int i = 0; i < XF_MAX_RULES; i++) {
		const struct fm_slot *s = &fm->slot[i];

		if (!s->gen)
			continue;
		c.nrules++;
		c.need |= s->need;
		if (s->indexed)
			c.idx_fields |= 1ULL << s->field;
		else
			c.scan_scope |= s->scope;
	}
	if (extra) {             /* the rule about to be linked */
		c.nrules++;
		c.need |= extra->need;
		if (extra->indexed)
			c.idx_fields |= 1ULL << extra->field;
		else
			c.scan_scope |= extra->scope;
	}
	return bpf_map_update_elem(fm->cfg_fd, &zero, &c, BPF_ANY) ? -errno : 0;
}

static int zero_stats(const struct filtermap *fm, uint32_t slot)
{
	int n = libbpf_num_possible_cpus();
	struct xf_stats *z;
	int err = 0;

	if (n <= 0)
		return n ? n : -EINVAL;
	z = calloc((size_t)n, sizeof(*z));
	if (!z)
		return -ENOMEM;
	if (bpf_map_update_elem(fm->stats_fd, &slot, z, BPF_ANY))
		err = -errno;
	free(z);
	return err;
}

/* ---- link / unlink ------------------------------------------------------- */

static int link_rule(struct filtermap *fm, uint32_t slot, const struct fm_slot *s)
{
	struct xf_ref ref = { .slot = (uint16_t)slot, .flags = s->exact ? XF_REF_EXACT : 0,
			      .gen = s->gen };
	struct xf_scan *scan;
	struct xf_bucket b;
	int err;

	if (s->indexed) {
		err = get_bucket(fm, s->field, s->key, &b);
		if (err)
			return err;
		if (b.n >= XF_BUCKET_MAX)
			return -ENOSPC;
		err = port_mark(fm, s->field, s->key, true);
		if (err)
			return err;
		b.r[b.n++] = ref;
		return put_bucket(fm, s->field, s->key, &b);
	}
	scan = malloc(sizeof(*scan));
	if (!scan)
		return -ENOMEM;
	err = get_scan(fm, scan);
	if (!err && scan->n >= XF_MAX_RULES)
		err = -ENOSPC;
	if (!err) {
		scan->r[scan->n++] = ref;
		err = put_scan(fm, scan);
	}
	free(scan);
	return err;
}

static int drop_ref(struct xf_ref *r, uint32_t *n, uint32_t slot, uint32_t gen)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (r[i].slot != slot || r[i].gen != gen)
			continue;
		memmove(&r[i], &r[i + 1], (*n - i - 1) * sizeof(*r));
		(*n)--;
		return 1;
	}
	return 0;
}

static int unlink_rule(struct filtermap *fm, uint32_t slot, const struct fm_slot *s)
{
	struct xf_scan *scan;
	struct xf_bucket b;
	int err;

	if (s->indexed) {
		err = get_bucket(fm, s->field, s->key, &b);
		if (!err && drop_ref(b.r, &b.n, slot, s->gen))
			err = put_bucket(fm, s->field, s->key, &b);
		if (!err && !b.n)
			err = port_mark(fm, s->field, s->key, false);
		return err;
	}
	scan = malloc(sizeof(*scan));
	if (!scan)
		return -ENOMEM;
	err = get_scan(fm, scan);
	if (!err && drop_ref(scan->r, &scan->n, slot, s->gen))
		err = put_scan(fm, scan);
	free(scan);
	return err;
}

/* What the datapath would otherwise compute for every packet. */
static void derive(struct xf_rule *rule)
{
	filtermap_required(&rule->m, rule->req);
	rule->rate_interval_ns = rule->rate_burst_ns = 0;
	if (rule->action != XF_ACT_RATE || !rule->rate_pps)
		return;
	rule->rate_interval_ns = 1000000000ULL / rule->rate_pps;
	rule->rate_burst_ns = rule->rate_interval_ns * (rule->rate_pps / 10 + 1);
}

/* ---- public --------------------------------------------------------------- */

static int free_slot(struct filtermap *fm, uint32_t *slot)
{
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		uint32_t s = (fm->next + i) % XF_MAX_RULES;

		if (!fm->slot[s].gen) {
			*slot = s;
			fm->next = (s + 1) % XF_MAX_RULES;
			return 0;
		}
	}
	return -ENOSPC;
}

int filtermap_add(struct filtermap *fm, struct xf_rule *rule, uint32_t *slot, uint32_t *gen)
{
	struct fm_slot s = { 0 };
	uint32_t at;
	int err;

	if (rule->m.nconj < 1 || rule->m.nconj > XF_MAX_CONJ)
		return -EINVAL;
	err = free_slot(fm, &at);
	if (err)
		return err;
	s.gen = ++fm->last_gen ? fm->last_gen : ++fm->last_gen; /* never 0 */
	s.scope = rule->scope;
	s.need = filtermap_need(&rule->m);
	s.indexed = filtermap_index_key(&rule->m, &s.field, &s.key);
	s.exact = s.indexed && filtermap_exact(&rule->m);
	if (s.indexed) {
		struct xf_bucket b;

		/* A full bucket: scanned instead. */
		err = get_bucket(fm, s.field, s.key, &b);
		if (err)
			return err;
		if (b.n >= XF_BUCKET_MAX)
			s.indexed = s.exact = false;
	}
	rule->gen = s.gen;
	derive(rule);
	if (bpf_map_update_elem(fm->rules_fd, &at, rule, BPF_ANY))
		return -errno;
	err = zero_stats(fm, at);
	if (!err)
		err = write_cfg(fm, &s);   /* wider first: never a rule without its walks */
	if (!err)
		err = link_rule(fm, at, &s);
	if (err) {
		write_cfg(fm, NULL);
		return err;
	}
	fm->slot[at] = s;
	fm->nrules++;
	*slot = at;
	*gen = s.gen;
	return 0;
}

int filtermap_del(struct filtermap *fm, uint32_t slot, uint32_t gen)
{
	struct fm_slot s;
	int err;

	if (slot >= XF_MAX_RULES || !fm->slot[slot].gen || fm->slot[slot].gen != gen)
		return -ENOENT;
	s = fm->slot[slot];
	err = unlink_rule(fm, slot, &s);
	if (err)
		return err;
	/* The slot keeps its bytes until reused (round robin, much later): a
	 * packet that read the reference just before the unlink still reads
	 * the whole rule, never a half-cleared one. */
	memset(&fm->slot[slot], 0, sizeof(fm->slot[slot]));
	fm->nrules--;
	return write_cfg(fm, NULL);
}

int filtermap_stats(const struct filtermap *fm, uint32_t slot, struct xf_stats *out)
{
	int n = libbpf_num_possible_cpus();
	struct xf_stats *v;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (n <= 0)
		return n ? n : -EINVAL;
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fm->stats_fd, &slot, v))
		err = -errno;
	for (int i = 0; !err && i < n; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
		out->drops += v[i].drops;
	}
	free(v);
	return err;
}

int filtermap_set_sampling(struct filtermap *fm, uint32_t shift)
{
	fm->sample_shift = shift > 31 ? 31 : shift;
	return write_cfg(fm, NULL);
}

bool filtermap_has(const struct filtermap *fm, uint32_t slot, uint32_t gen)
{
	return slot < XF_MAX_RULES && gen && fm->slot[slot].gen == gen;
}

/* ---- rebuilding from the maps -------------------------------------------- */

static void adopt(struct filtermap *fm, const struct xf_rule *rules, const struct xf_ref *r,
		  bool indexed, uint32_t field, uint64_t key)
{
	struct fm_slot *s;

	if (r->slot >= XF_MAX_RULES || !r->gen || rules[r->slot].gen != r->gen)
		return;
	s = &fm->slot[r->slot];
	if (s->gen)
		return;
	s->gen = r->gen;
	s->indexed = indexed;
	s->exact = indexed && (r->flags & XF_REF_EXACT);
	s->field = field;
	s->key = key;
	s->scope = rules[r->slot].scope;
	s->need = filtermap_need(&rules[r->slot].m);
	fm->nrules++;
}

static int rebuild(struct filtermap *fm)
{
	struct xf_rule *rules = calloc(XF_MAX_RULES, sizeof(*rules));
	struct xf_scan *scan = malloc(sizeof(*scan));
	struct xf_idx_key k, next, *prev = NULL;
	struct xf_bucket b;
	int err = -ENOMEM;

	if (!rules || !scan)
		goto out;
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		if (bpf_map_lookup_elem(fm->rules_fd, &i, &rules[i])) {
			err = -errno;
			goto out;
		}
		if (rules[i].gen > fm->last_gen)
			fm->last_gen = rules[i].gen;
	}
	while (!bpf_map_get_next_key(fm->index_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fm->index_fd, &k, &b))
			continue;
		for (uint32_t i = 0; i < b.n && i < XF_BUCKET_MAX; i++)
			adopt(fm, rules, &b.r[i], true, k.field, k.value);
		if (b.n)
			port_mark(fm, k.field, k.value, true);
	}
	err = get_scan(fm, scan);
	if (err)
		goto out;
	for (uint32_t i = 0; i < scan->n; i++)
		adopt(fm, rules, &scan->r[i], false, 0, 0);
	/* Written but never linked (a restart in between): clear. */
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		struct xf_rule zero = { 0 };

		if (rules[i].gen && !fm->slot[i].gen)
			bpf_map_update_elem(fm->rules_fd, &i, &zero, BPF_ANY);
	}
	fm->next = 0;
	for (uint32_t i = 0; i < XF_MAX_RULES; i++)
		if (fm->slot[i].gen)
			fm->next = (i + 1) % XF_MAX_RULES;
	err = write_cfg(fm, NULL);
out:
	free(rules);
	free(scan);
	return err;
}

int filtermap_init(struct filtermap *fm, const struct filtermap_fds *fds)
{
	uint32_t zero = 0;
	struct xf_cfg c;

	memset(fm, 0, sizeof(*fm));
	fm->rules_fd = fds->rules;
	fm->index_fd = fds->index;
	fm->scan_fd = fds->scan;
	fm->cfg_fd = fds->cfg;
	fm->stats_fd = fds->stats;
	fm->ports_fd = fds->ports;
	fm->sample_shift = XF_SAMPLE_SHIFT_DEFAULT;
	if (!bpf_map_lookup_elem(fds->cfg, &zero, &c) && c.nrules)
		fm->sample_shift = c.sample_shift;
	return rebuild(fm);
}
