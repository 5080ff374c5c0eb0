/* cidr: overlapping ipBlocks -> one port set per prefix (see cidr.h).
 *
 * The candidate prefixes sorted by (family, address, length) are a pre-order
 * walk of their containment tree, so one pass with a stack of ancestors
 * sees every prefix after all of its ancestors. Each stack frame holds the
 * blocks active at its prefix (a slice of one shared array): its parent's,
 * minus the blocks that except this prefix, plus the blocks whose cidr it
 * is. */
#include "cidr.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "compile.h"

struct cnode {
	uint8_t family;       /* XDP_EP_FAMILY_* */
	uint8_t addr[16];     /* host bits cleared */
	uint8_t plen;
	uint8_t except;       /* 0: the cidr of block, 1: an except of block */
	uint32_t block;
};

struct frame {
	uint8_t family;
	uint8_t addr[16];
	uint8_t plen;
	size_t act, nact;     /* its active blocks, in the active array */
	struct xdp_portset val;
};

static int node_cmp(const void *a, const void *b)
{
	const struct cnode *x = a, *y = b;
	int r;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	r = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (r)
		return r;
	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	if (x->except != y->except)
		return x->except < y->except ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

static bool same_prefix(const struct cnode *x, const struct cnode *y)
{
	return x->family == y->family && x->plen == y->plen && !memcmp(x->addr, y->addr, 16);
}

static bool frame_has(const struct frame *f, const struct cnode *n)
{
	int full = f->plen / 8, rest = f->plen % 8;
	uint8_t m = (uint8_t)(0xff << (8 - rest));

	if (f->family != n->family || f->plen > n->plen)
		return false;
	if (memcmp(f->addr, n->addr, full))
		return false;
	return !rest || (f->addr[full] & m) == (n->addr[full] & m);
}

static int add_node(struct vec *nodes, const struct ipnet *net, bool except, uint32_t block)
{
	struct cnode *n = vec_push(nodes);
	struct ipaddr first;

	if (!n)
		return -ENOMEM;
	ipnet_first(net, &first);
	n->family = net->ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(n->addr, first.b, ipaddr_len(&first));
	n->plen = (uint8_t)net->prefix;
	n->except = except;
	n->block = block;
	return 0;
}

/* An except that does not lie inside its cidr cannot remove anything from
 * the block, and one that covers the whole cidr removes all of it (the API
 * rejects both; this keeps the result exact anyway). */
static int add_block(struct vec *nodes, const struct cblock *b, uint32_t idx)
{
	struct ipaddr first;

	for (size_t i = 0; i < b->nexcept; i++) {
		const struct ipnet *e = &b->except[i];

		if (e->ip.family == b->cidr.ip.family && e->prefix <= b->cidr.prefix &&
		    ipnet_contains(e, &b->cidr.ip))
			return 0;
	}
	if (add_node(nodes, &b->cidr, false, idx))
		return -ENOMEM;
	for (size_t i = 0; i < b->nexcept; i++) {
		const struct ipnet *e = &b->except[i];

		ipnet_first(e, &first);
		if (e->ip.family != b->cidr.ip.family || e->prefix < b->cidr.prefix ||
		    !ipnet_contains(&b->cidr, &first))
			continue;
		if (add_node(nodes, e, true, idx))
			return -ENOMEM;
	}
	return 0;
}

static bool excepted(const struct cnode *g, size_t ng, size_t block)
{
	for (size_t k = 0; k < ng; k++) {
		if (g[k].except && g[k].block == block)
			return true;
	}
	return false;
}

static int push_active(struct vec *act, size_t block)
{
	size_t *p = vec_push(act);

	if (!p)
		return -ENOMEM;
	*p = block;
	return 0;
}

/* The frame's active set, from its parent's and the nodes of its prefix. */
static int activate(struct frame *f, const struct frame *parent, const struct cnode *g,
		    size_t ng, struct vec *act)
{
	f->act = parent ? parent->act + parent->nact : 0;
	act->n = f->act;
	for (size_t k = 0; parent && k < parent->nact; k++) {
		size_t b = *(size_t *)vec_at(act, parent->act + k);

		if (!excepted(g, ng, b) && push_active(act, b))
			return -ENOMEM;
	}
	for (size_t k = 0; k < ng; k++) {
		if (!g[k].except && !excepted(g, ng, g[k].block) && push_active(act, g[k].block))
			return -ENOMEM;
	}
	f->nact = act->n - f->act;
	return 0;
}

/* The union of the active blocks' ports; the smallest cookie among them. */
static int frame_value(struct frame *f, const struct cblock *b, const struct prange *ranges,
		       const struct vec *act, struct vec *scratch)
{
	uint32_t cookie = UINT32_MAX;
	size_t n;

	scratch->n = 0;
	for (size_t k = 0; k < f->nact; k++) {
		const struct cblock *blk = &b[*(size_t *)vec_at(act, f->act + k)];

		if (vec_reserve(scratch, blk->n))
			return -ENOMEM;
		memcpy(vec_at(scratch, scratch->n), &ranges[blk->first], blk->n * sizeof(*ranges));
		scratch->n += blk->n;
		if (blk->cookie < cookie)
			cookie = blk->cookie;
	}
	n = prange_normalize(scratch->v, scratch->n);
	return portset_make(scratch->v, n, cookie, &f->val);
}

static int emit(struct vec *out, const struct frame *f, uint32_t ep_id, int dir)
{
	struct cidr_entry *e = vec_push(out);

	if (!e)
		return -ENOMEM;
	e->key.prefixlen = XDP_POLCIDR_PREFIX(f->plen);
	e->key.ep_id = ep_id;
	e->key.dir = (uint8_t)dir;
	e->key.family = f->family;
	memcpy(e->key.addr, f->addr, sizeof(e->key.addr));
	e->val = f->val;
	return 0;
}

int cidr_compile(const struct cblock *b, size_t nb, const struct prange *ranges,
		 uint32_t ep_id, int dir, struct vec *out)
{
	static const struct xdp_portset none;
	struct vec nodes = VEC_INIT(struct cnode), act = VEC_INIT(size_t);
	struct vec scratch = VEC_INIT(struct prange);
	struct frame stack[130]; /* one per prefix length, 0..128 */
	size_t depth = 0;
	int err = 0;

	for (size_t i = 0; i < nb && !err; i++)
		err = add_block(&nodes, &b[i], (uint32_t)i);
	if (err)
		goto out;
	vsort(nodes.v, nodes.n, sizeof(struct cnode), node_cmp);
	for (size_t i = 0, j; i < nodes.n; i = j) {
		const struct cnode *g = vec_at(&nodes, i);
		const struct frame *parent;
		struct frame *f;

		for (j = i + 1; j < nodes.n && same_prefix(g, vec_at(&nodes, j)); j++)
			;
		while (depth && !frame_has(&stack[depth - 1], g))
			depth--;
		parent = depth ? &stack[depth - 1] : NULL;
		f = &stack[depth++];
		f->family = g->family;
		memcpy(f->addr, g->addr, sizeof(f->addr));
		f->plen = g->plen;
		err = activate(f, parent, g, j - i, &act);
		if (!err)
			err = frame_value(f, b, ranges, &act, &scratch);
		if (!err && memcmp(&f->val, parent ? &parent->val : &none, sizeof(f->val)))
			err = emit(out, f, ep_id, dir);
		if (err)
			goto out;
	}
out:
	vec_free(&nodes);
	vec_free(&act);
	vec_free(&scratch);
	return err;
}
