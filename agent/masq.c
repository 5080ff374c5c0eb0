/* masq: masquerade via libnftables. */
#include "masq.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "config.h"
#include "log.h"

/* Fixed text plus, per CIDR, its text and a separator (twice at most). */
#define SCRIPT_BASE 1024
#define SCRIPT_PER_CIDR (2 * (CIDR_STRLEN + 2))

struct script {
	char *buf;
	size_t len, off;
	bool full;
};

static void put(struct script *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct script *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->off, s->len - s->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= s->len - s->off)
		s->full = true;
	else
		s->off += n;
}

/* "{ a, b }" of the CIDRs of family in nets[n]; false if there are none. */
static bool put_set(struct script *s, const struct ipnet *nets, int n, int family)
{
	char cidr[CIDR_STRLEN];
	bool any = false;

	for (int i = 0; i < n; i++) {
		if (nets[i].ip.family != family)
			continue;
		put(s, "%s%s", any ? ", " : "{ ", ipnet_fmt(&nets[i], cidr));
		any = true;
	}
	if (any)
		put(s, " }");
	return any;
}

/* Destinations that stay unmasqueraded: the cluster CIDR, this node's and
 * every peer's pod CIDRs (so the rule is right without clusterCIDRs). */
static int inside_cidrs(const struct agent_config *c, struct ipnet *out, int max)
{
	int n = 0;

	if (c->cluster4.ip.family && n < max)
		out[n++] = c->cluster4;
	if (c->cluster6.ip.family && n < max)
		out[n++] = c->cluster6;
	for (int i = 0; i < c->npod_cidrs && n < max; i++)
		out[n++] = c->pod_cidrs[i];
	for (int i = 0; i < c->npeers; i++)
		for (int j = 0; j < c->peers[i].ncidrs && n < max; j++)
			out[n++] = c->peers[i].cidrs[j];
	return n; /* overlaps are fine: nft merges the intervals of a set */
}

static bool has_family(const struct ipnet *nets, int n, int family)
{
	for (int i = 0; i < n; i++)
		if (nets[i].ip.family == family)
			return true;
	return false;
}

static void put_rule(struct script *s, const struct agent_config *c, const struct ipnet *inside,
		     int ninside, int family)
{
	const char *ip = family == AF_INET ? "ip" : "ip6";

	if (!has_family(c->pod_cidrs, c->npod_cidrs, family))
		return; /* no pod CIDR of this family: nothing to masquerade */
	put(s, "\t\toifname \"%s\" %s saddr ", c->uplink, ip);
	put_set(s, c->pod_cidrs, c->npod_cidrs, family);
	put(s, " %s daddr != ", ip);
	put_set(s, inside, ninside, family);
	put(s, " masquerade\n");
}

int masq_script(const struct agent_config *c, char *buf, size_t len)
{
	struct script s = { buf, len, 0, false };
	int max = CFG_MAX_CIDRS * (c->npeers + 1) + 2, n;
	struct ipnet *inside;

	/* "add" makes the "delete" valid when there is no table yet; all of it
	 * is one transaction. */
	put(&s, "add table inet " MASQ_TABLE "\ndelete table inet " MASQ_TABLE "\n");
	if (c->masquerade) {
		inside = calloc(max, sizeof(*inside));
		if (!inside)
			return -ENOMEM;
		n = inside_cidrs(c, inside, max);
		put(&s, "table inet " MASQ_TABLE " {\n\tchain postrouting {\n"
			"\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
		put_rule(&s, c, inside, n, AF_INET);
		put_rule(&s, c, inside, n, AF_INET6);
		put(&s, "\t}\n}\n");
		free(inside);
	}
	return s.full ? -ENOSPC : 0;
}

static int run(const char *script)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	int err = 0;

	if (!nft)
		return -ENOMEM;
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	if (nft_run_cmd_from_buffer(nft, script)) {
		const char *msg = nft_ctx_get_error_buffer(nft);

		log_error("masq", "nftables rejected the masquerade table", "err=\"%.*s\"",
			  (int)strcspn(msg, "\n"), msg);
		log_debug("masq", "script", "text=\"%s\"", script);
		err = -EINVAL;
	}
	nft_ctx_free(nft);
	return err;
}

int masq_apply(const struct agent_config *c)
{
	size_t len = SCRIPT_BASE + SCRIPT_PER_CIDR * CFG_MAX_CIDRS * ((size_t)c->npeers + 2);
	char *script = malloc(len);
	int err;

	if (!script)
		return -ENOMEM;
	err = masq_script(c, script, len);
	if (!err)
		err = run(script);
	free(script);
	if (!err)
		log_info("masq", c->masquerade ? "masquerade table installed" : "masquerade off",
			 "table=\"inet " MASQ_TABLE "\"");
	return err;
}

int masq_sync(struct agent *a)
{
	struct agent_config c = a->cfg; /* shallow: only the peers differ */
	struct cfg_peer *all = NULL;
	int err;

	if (a->nkpeers) {
		all = calloc((size_t)(a->cfg.npeers + a->nkpeers), sizeof(*all));
		if (!all)
			return -ENOMEM;
		memcpy(all, a->cfg.peers, (size_t)a->cfg.npeers * sizeof(*all));
		memcpy(all + a->cfg.npeers, a->kpeers, (size_t)a->nkpeers * sizeof(*all));
		c.peers = all;
		c.npeers = a->cfg.npeers + a->nkpeers;
	}
	err = masq_apply(&c);
	free(all);
	a->masq_ok = !err;
	return err;
}
