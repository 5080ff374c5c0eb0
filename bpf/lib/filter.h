/* filter: the emergency drop filters in the datapath (include/xdpath/filter.h
 * has the maps' layout and how the agent publishes a rule).
 *
 * xf_run_filters(): summarize the packet once (filter_summary.h), gather the
 * rules to try (one index bucket per indexed field the packet has, then the
 * scan list), evaluate each with bounded loops, and decide: a matching pass
 * rule wins; otherwise the first matching drop rule, or rate-limit rule
 * over its budget, drops. Every matching rule counts the packet (hits,
 * bytes); the one that drops also counts a drop, and 1 in 2^sample_shift of
 * its drops per CPU goes to the xdp_filter_events ring. A rule past its
 * expiry (boot time) never matches, whether or not the agent is running.
 * Nothing here reads or writes policy state: a pass rule only ends the
 * filters. */
#ifndef XDPATH_BPF_FILTER_H
#define XDPATH_BPF_FILTER_H

#include "filter_summary.h"

#include "filter_maps.h"

#define XF_PASS 0
#define XF_DROP 1

/* ---- one test, one rule ---------------------------------------------------- */

__always_inline_fn int xf_present(const struct xf_sum *s, __u32 f)
{
	if (f == XF_NONE || f >= XF_FIELD_MAX)
		return 0;
	return (s->present[(f >> 6) & 1] >> (f & 63)) & 1;
}

__always_inline_fn int xf_linear(const struct xf_term *t, const struct xf_sum *s)
{
	__s64 sum = (__s64)t->lo;

	for (int i = 0; i < XF_LIN_FIELDS; i++) {
		__u32 f = t->f[i];

		if (f == XF_NONE)
			continue;
		if (!xf_present(s, f))
			return 0;
		if (t->coef[i] < 0)
			sum -= (__s64)s->v[XF_VIDX(f)];
		else
			sum += (__s64)s->v[XF_VIDX(f)];
	}
	switch (t->op) {
	case XF_OP_EQ:
		return sum == 0;
	case XF_OP_NE:
		return sum != 0;
	case XF_OP_LT:
		return sum < 0;
	case XF_OP_LE:
		return sum <= 0;
	case XF_OP_GT:
		return sum > 0;
	case XF_OP_GE:
		return sum >= 0;
	}
	return 0;
}

/* A raw-byte test's value: width bytes big endian at off from a layer. */
__always_inline_fn int xf_bytes(struct xf_run *r, const struct xf_term *t, __u64 *v)
{
	const struct xf_sum *s = &r->sc->s;
	__u32 base = 0, off;
	__u8 b[8] = {};
	__u64 x = 0;
	int w = t->op;

	if (t->field == XF_LAYER_L3 || t->field == XF_LAYER_L4) {
		__u32 f = t->field == XF_LAYER_L3 ? XF_L3_OFF : XF_L4_OFF;

		if (!xf_present(s, f))
			return -1;
		base = s->v[XF_VIDX(f)];
	} else if (t->field != XF_LAYER_L2) {
		return -1;
	}
	off = base + t->off;
	if (w == 1)
		w = xf_read(r, off, b, 1) ? -1 : 1;
	else if (w == 2)
		w = xf_read(r, off, b, 2) ? -1 : 2;
	else if (w == 4)
		w = xf_read(r, off, b, 4) ? -1 : 4;
	else if (w == 8)
		w = xf_read(r, off, b, 8) ? -1 : 8;
	else
		w = -1;
	if (w < 0)
		return -1;
	for (int i = 0; i < 8; i++)
		if (i < w)
			x = x << 8 | b[i];
	*v = x;
	return 0;
}

__always_inline_fn int xf_term_ok(struct xf_run *r, const struct xf_term *t)
{
	const struct xf_sum *s = &r->sc->s;
	__u64 v;
	int ok;

	if (t->kind == XF_T_LINEAR) {
		ok = xf_linear(t, s);
	} else if (t->kind == XF_T_BYTES) {
		ok = !xf_bytes(r, t, &v);
		if (ok) {
			v &= t->mask;
			ok = v >= t->lo && v <= t->hi;
		}
	} else {
		__u32 f = t->field;

		ok = xf_present(s, f);
		if (ok) {
			v = s->v[XF_VIDX(f)] & t->mask;
			ok = v >= t->lo && v <= t->hi;
		}
	}
	return t->neg ? !ok : ok;
}

struct xf_conj_ctx {
	struct xf_run *r;
	const struct xf_match *m;
	__u32 c, n;              /* the alternative being tested, its tests */
	int all;                 /* every test so far holds */
	int matched;
};

static long xf_test(__u32 j, void *ctx)
{
	struct xf_conj_ctx *x = ctx;

	if (j >= x->n || j >= XF_MAX_TERMS)
		return 1;
	if (!xf_term_ok(x->r, &x->m->t[XF_MASK(x->c, XF_MAX_CONJ - 1)][XF_MASK(j, XF_MAX_TERMS - 1)])) {
		x->all = 0;
		return 1;
	}
	return 0;
}

/* Alternative c: every test holds. */
static long xf_conj(__u32 c, void *ctx)
{
	struct xf_conj_ctx *x = ctx;

	if (c >= x->m->nconj || c >= XF_MAX_CONJ)
		return 1;
	x->c = c;
	x->n = x->m->nterms[XF_MASK(c, XF_MAX_CONJ - 1)];
	x->all = 1;
	bpf_loop(XF_MAX_TERMS, xf_test, x, 0);
	if (!x->all)
		return 0;
	x->matched = 1;
	return 1;
}

__always_inline_fn int xf_match(struct xf_run *r, const struct xf_match *m)
{
	struct xf_conj_ctx x = { .r = r, .m = m };

	bpf_loop(XF_MAX_CONJ, xf_conj, &x, 0);
	return x.matched;
}

/* ---- actions --------------------------------------------------------------- */

/* GCRA: each packet moves the theoretical arrival time (tat) on by the
 * emission interval; over budget when it would be more than the burst
 * ahead of now. Compare-and-swap keeps CPUs from spending one token twice. */
__always_inline_fn int xf_over_rate(struct xf_run *r, __u32 slot, const struct xf_rule *rule)
{
	struct xf_rate_key k = { .slot = slot, .gen = rule->gen };
	const struct xf_sum *s = &r->sc->s;
	__u64 interval = rule->rate_interval_ns, tol = rule->rate_burst_ns;
	__u64 now = bpf_ktime_get_boot_ns(), *tat, old, next, init = 0;

	if (!interval)
		return 1;
	if (rule->rate_per == XF_RATE_SRC || rule->rate_per == XF_RATE_DST) {
		int src = rule->rate_per == XF_RATE_SRC;
		__u32 f4 = src ? XF_IP_SRC : XF_IP_DST, hi = src ? XF_IP6_SRC_HI : XF_IP6_DST_HI;

		if (xf_present(s, f4)) {
			__u64 a = s->v[f4];

			__builtin_memcpy(k.addr, &a, 8);
		} else if (xf_present(s, hi)) {
			__u64 a = s->v[hi], b = s->v[hi + 1];

			__builtin_memcpy(k.addr, &a, 8);
			__builtin_memcpy(k.addr + 8, &b, 8);
		}
	}
	tat = bpf_map_lookup_elem(&xdp_filter_rate, &k);
	if (!tat) {
		bpf_map_update_elem(&xdp_filter_rate, &k, &init, BPF_NOEXIST);
		tat = bpf_map_lookup_elem(&xdp_filter_rate, &k);
		if (!tat)
			return 0;        /* no room to account: let it through */
	}
	old = *tat;
	next = (old > now ? old : now) + interval;
	if (next - now > tol)
		return 1;
	__sync_val_compare_and_swap(tat, old, next);
	return 0;
}

/* The rule a reference names, if it is in force here and now. */
__always_inline_fn struct xf_rule *xf_rule_of(struct xf_run *r, struct xf_ref ref)
{
	__u32 slot = ref.slot;
	struct xf_rule *rule = bpf_map_lookup_elem(&xdp_filter_rules, &slot);

	if (!rule || !rule->gen || rule->gen != ref.gen || !(rule->scope & r->at))
		return NULL;
	if (rule->ifindex && rule->ifindex != r->ifindex)
		return NULL;
	if (rule->expire_ns) {
		if (!r->now)
			r->now = bpf_ktime_get_boot_ns();
		if (r->now >= rule->expire_ns)
			return NULL;
	}
	return rule;
}

/* A matching rule: count the packet, note what the rule decides. */
__always_inline_fn void xf_hit(struct xf_run *r, __u32 slot, const struct xf_rule *rule)
{
	struct xf_stats *st = bpf_map_lookup_elem(&xdp_filter_stats, &slot);

	if (!r->len)
		r->len = XF_LEN(r->ctx);
	if (st) {
		st->packets++;
		st->bytes += r->len;
	}
	switch (rule->action) {
	case XF_ACT_PASS:
		if (r->pass_slot < 0)
			r->pass_slot = slot;
		break;
	case XF_ACT_RATE:
		if (!xf_over_rate(r, slot, rule))
			break;
		/* fall through: over budget */
	case XF_ACT_DROP:
		if (r->drop_slot < 0) {
			r->drop_slot = slot;
			r->drop_gen = rule->gen;
			r->drop_action = rule->action;
		}
		break;
	default:
		break;               /* count */
	}
}

/* Try the rule a reference names. */
__always_inline_fn void xf_try(struct xf_run *r, struct xf_ref ref)
{
	struct xf_rule *rule = xf_rule_of(r, ref);
	const struct xf_sum *s = &r->sc->s;

	if (!rule || (rule->req[0] & ~s->present[0]) || (rule->req[1] & ~s->present[1]))
		return;
	if (xf_match(r, &rule->m))
		xf_hit(r, ref.slot, rule);
}

static long xf_try_scan(__u32 i, void *ctx)
{
	struct xf_run *r = ctx;

	if (i >= r->n || i >= XF_MAX_RULES)
		return 1;
	xf_try(r, r->scan->r[XF_MASK(i, XF_MAX_RULES - 1)]);
	return 0;
}

#define XF_IDX_COUNT(F) +1
#define XF_IDX_CASE(F)                                                          \
	if (i == j++)                                                           \
		return F;
enum { XF_NIDX = 0 XF_IDX_FIELDS(XF_IDX_COUNT) };

/* The i-th indexed field (XF_IDX_FIELDS), XF_NONE past the last. */
__always_inline_fn __u32 xf_idx_field(__u32 i)
{
	__u32 j = 0;

	XF_IDX_FIELDS(XF_IDX_CASE)
	return XF_NONE;
}

__always_inline_fn void xf_sample(struct xf_run *r, const struct xf_cfg *cfg, __u64 drops)
{
	struct xf_event *e;
	__u32 cap = r->len < XF_SAMPLE_BYTES ? r->len : XF_SAMPLE_BYTES;

	if (drops & ((1ULL << (cfg->sample_shift & 31)) - 1))
		return;
	e = bpf_ringbuf_reserve(&xdp_filter_events, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->gen = r->drop_gen;
	e->slot = r->drop_slot;
	e->at = r->at == XF_SCOPE_UPLINK ? XF_AT_UPLINK : XF_AT_POD;
	e->action = r->drop_action;
	e->ifindex = r->ifindex;
	e->len = r->len;
	e->caplen = 0;
	e->pad = 0;
	/* (cap - 1) & mask + 1: the same value, in a form whose bounds the
	 * verifier sees in the register the helper gets. */
	if (cap >= 1 && !XF_LOAD(r->ctx, 0, e->data, ((cap - 1) & (XF_SAMPLE_BYTES - 1)) + 1))
		e->caplen = cap;
	bpf_ringbuf_submit(e, 0);
}

/* ---- the fast path ---------------------------------------------------------
 * When no scanned rule applies here and every rule a packet's buckets name
 * is its index test alone (XF_REF_EXACT), a bucket hit is the match: the
 * indexed fields are read straight from the packet (direct access, as
 * xdp-filter does) and no summary is built. Only for the common frames
 * (no VLAN tag, IPv4, or IPv6 without extension headers, headers in the
 * linear data); the values are exactly the summary's, and anything else
 * takes the summary path. */

__always_inline_fn __u64 xf_be64_at(const void *p)
{
	return __builtin_bswap64(*(const __u64 *)p);
}

/* The L4 ports at l4 (protocol proto) into k; -1 if not in the linear data. */
__always_inline_fn int xf_fast_ports(struct xf_keys *k, __u32 proto, void *l4, void *end)
{
	const __u16 *ports = l4;

	if (proto == IPPROTO_TCP) {
		if (l4 + 20 > end)
			return -1;
		k->v[4] = bpf_ntohs(ports[0]);
		k->v[5] = bpf_ntohs(ports[1]);
		k->present |= 0x30;
	} else if (proto == IPPROTO_UDP) {
		if (l4 + 8 > end)
			return -1;
		k->v[6] = bpf_ntohs(ports[0]);
		k->v[7] = bpf_ntohs(ports[1]);
		k->present |= 0xc0;
	}
	return 0;
}

/* The indexed fields of the frame; -1: not a frame for the fast path. The
 * addresses also go into the summary, for per-address rate limits. */
__always_inline_fn int xf_fast_keys(XF_CTX *ctx, struct xf_run *r, struct xf_keys *k)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	k->present = 0;
	r->sc->s.present[0] = 0;
	r->sc->s.present[1] = 0;
	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 hlen;

		if ((void *)(ip + 1) > end)
			return -1;
		k->v[0] = bpf_ntohl(ip->saddr);
		k->v[1] = bpf_ntohl(ip->daddr);
		k->present = 0x3;
		XF_SET(r, XF_IP_SRC, k->v[0]);
		XF_SET(r, XF_IP_DST, k->v[1]);
		hlen = ip->ihl * 4;
		if (ip->ihl < 5 || (ip->frag_off & bpf_htons(0x1fff)))
			return 0;        /* no L4 header: no ports, as in the summary */
		if ((void *)ip + hlen > end)
			return -1;
		return xf_fast_ports(k, ip->protocol, (void *)ip + hlen, end);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		const __u8 *a;

		if ((void *)(ip6 + 1) > end || xf_is_ext(ip6->nexthdr))
			return -1;
		a = (const __u8 *)&ip6->saddr;
		k->v[2] = xf_be64_at(a + 8);
		XF_SET(r, XF_IP6_SRC_HI, xf_be64_at(a));
		XF_SET(r, XF_IP6_SRC_LO, k->v[2]);
		a = (const __u8 *)&ip6->daddr;
		k->v[3] = xf_be64_at(a + 8);
		XF_SET(r, XF_IP6_DST_HI, xf_be64_at(a));
		XF_SET(r, XF_IP6_DST_LO, k->v[3]);
		k->present = 0xc;
		return xf_fast_ports(k, ip6->nexthdr, ip6 + 1, end);
	}
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		return -1;
	return 0;                    /* no indexed field (ARP, ...) */
}

/* Field i: its bucket's references join the candidates (sc->cand). A
 * port no rule names is ruled out by an array lookup (inlined) before the
 * hash. A bucket with a rule that is not exact sends the packet to the
 * summary path, before anything is counted. Unrolled, not a bpf_loop: a
 * BPF-to-BPF call and return per field would cost more than the lookups
 * (return thunks); what a probe found is kept in the scratch map, which
 * the verifier does not track, so the paths merge after each probe. */
__always_inline_fn void xf_fast_probe(struct xf_run *r, __u32 i)
{
	struct xf_scratch *sc = r->sc;
	struct xf_idx_key key = {};
	const struct xf_bucket *b;
	__u32 f = xf_idx_field(i), port;
	const __u32 *pm;

	if (!((sc->keys.present >> i) & 1) || !((r->idx_fields >> f) & 1))
		return;
	if (i >= 4) {                /* the port fields */
		port = (__u32)sc->keys.v[i & 7] & 0xffff;
		pm = bpf_map_lookup_elem(&xdp_filter_ports, &port);
		if (!pm || !((*pm >> i) & 1))
			return;
	}
	key.field = f;
	key.value = sc->keys.v[i & 7];
	b = bpf_map_lookup_elem(&xdp_filter_index, &key);
	if (!b || !b->n)
		return;
	for (__u32 j = 0; j < XF_BUCKET_MAX; j++) {
		if (j >= b->n)
			break;
		if (!(b->r[j].flags & XF_REF_EXACT))
			sc->slow = 1;
		sc->cand[sc->ncand & (XF_CAND_SLOTS - 1)] = b->r[j];
		sc->ncand++;
	}
}

static long xf_try_cand(__u32 i, void *ctx)
{
	struct xf_run *r = ctx;
	struct xf_ref ref;
	struct xf_rule *rule;

	if (i >= r->n || i >= XF_CAND_SLOTS)
		return 1;
	ref = r->sc->cand[XF_MASK(i, XF_CAND_SLOTS - 1)];
	rule = xf_rule_of(r, ref);
	if (rule)
		xf_hit(r, ref.slot, rule);
	return 0;
}

static long xf_try_cand_full(__u32 i, void *ctx)
{
	struct xf_run *r = ctx;

	if (i >= r->n || i >= XF_CAND_SLOTS)
		return 1;
	xf_try(r, r->sc->cand[XF_MASK(i, XF_CAND_SLOTS - 1)]);
	return 0;
}

/* 0: done; -1 (nothing counted): take the summary path. */
__always_inline_fn int xf_fast(struct xf_run *r, const struct xf_cfg *cfg)
{
	if (xf_fast_keys(r->ctx, r, &r->sc->keys))
		return -1;
	r->idx_fields = cfg->idx_fields;
	r->sc->ncand = 0;
	r->sc->slow = 0;
	xf_fast_probe(r, 0);
	xf_fast_probe(r, 1);
	xf_fast_probe(r, 2);
	xf_fast_probe(r, 3);
	xf_fast_probe(r, 4);
	xf_fast_probe(r, 5);
	xf_fast_probe(r, 6);
	xf_fast_probe(r, 7);
	if (r->sc->slow)
		return -1;
	r->n = r->sc->ncand;
	if (r->n == 1) {             /* the common case: no loop, no call */
		struct xf_ref ref = r->sc->cand[0];
		struct xf_rule *rule = xf_rule_of(r, ref);

		if (rule)
			xf_hit(r, ref.slot, rule);
	} else if (r->n) {
		bpf_loop(XF_CAND_SLOTS, xf_try_cand, r, 0);
	}
	return 0;
}

/* The summary path: every rule the summary's indexed fields name, then
 * the scan list. */
__always_inline_fn void xf_slow(struct xf_run *r, const struct xf_cfg *cfg, __u32 at)
{
	__u32 zero = 0;

	if (!r->len)
		r->len = XF_LEN(r->ctx);
	xf_summarize(r);
	r->idx_fields = cfg->idx_fields;
	if (r->idx_fields) {
		/* The summary's indexed fields, gathered as the fast path does;
		 * every candidate then meets its whole rule. */
		struct xf_scratch *sc = r->sc;

		sc->keys.present = 0;
		sc->ncand = 0;
		for (__u32 i = 0; i < XF_NIDX; i++) {
			__u32 f = xf_idx_field(i);

			if (xf_present(&sc->s, f)) {
				sc->keys.v[i & 7] = sc->s.v[XF_VIDX(f)];
				sc->keys.present |= 1U << i;
			}
		}
		xf_fast_probe(r, 0);
		xf_fast_probe(r, 1);
		xf_fast_probe(r, 2);
		xf_fast_probe(r, 3);
		xf_fast_probe(r, 4);
		xf_fast_probe(r, 5);
		xf_fast_probe(r, 6);
		xf_fast_probe(r, 7);
		r->n = sc->ncand;
		if (r->n)
			bpf_loop(XF_CAND_SLOTS, xf_try_cand_full, r, 0);
	}
	if (!(cfg->scan_scope & at))
		return;
	r->scan = bpf_map_lookup_elem(&xdp_filter_scan, &zero);
	if (r->scan && r->scan->n) {
		r->n = r->scan->n;
		bpf_loop(XF_MAX_RULES, xf_try_scan, r, 0);
	}
}

/* XF_PASS or XF_DROP for the packet in ctx, arriving at `at`
 * (XF_SCOPE_UPLINK / XF_SCOPE_PODS) on ifindex; *len: the frame's length
 * when it was needed (a drop), else 0. */
__always_inline_fn int xf_run_filters(XF_CTX *ctx, __u32 at, __u32 ifindex, __u32 *len)
{
	__u32 zero = 0, slot;
	const struct xf_cfg *cfg = bpf_map_lookup_elem(&xdp_filter_cfg, &zero);
	struct xf_stats *st;
	struct xf_run run, *r = &run;

	*len = 0;
	if (!cfg || !cfg->nrules)
		return XF_PASS;      /* no rule: nothing else runs */
	__builtin_memset(&run, 0, sizeof(run));
	r->sc = bpf_map_lookup_elem(&xdp_filter_scratch, &zero);
	if (!r->sc)
		return XF_PASS;
	r->ctx = ctx;
	r->len = 0;                  /* XF_LEN when needed: a helper call */
	r->need = cfg->need;
	r->at = at;
	r->ifindex = ifindex;
	r->pass_slot = -1;
	r->drop_slot = -1;
	if ((cfg->scan_scope & at) || xf_fast(r, cfg))
		xf_slow(r, cfg, at);
	if (r->pass_slot >= 0 || r->drop_slot < 0)
		return XF_PASS;
	slot = r->drop_slot;
	st = bpf_map_lookup_elem(&xdp_filter_stats, &slot);
	if (st) {
		st->drops++;
		xf_sample(r, cfg, st->drops - 1);
	}
	*len = r->len;
	return XF_DROP;
}

#endif
