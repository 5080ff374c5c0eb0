/* masq: the nftables table "inet xdpath": traffic from this node's pod
 * CIDRs to anything outside the cluster (cluster and pod CIDRs) that leaves
 * by the uplink is masqueraded, IPv4 and IPv6. The table is replaced whole
 * in one transaction (add + delete + define), so there is never a moment
 * without it; masquerade off deletes it. libnftables, no nft(8) process. */
#ifndef XDPATH_AGENT_MASQ_H
#define XDPATH_AGENT_MASQ_H

#include <stddef.h>

struct agent_config;

#define MASQ_TABLE "xdpath"

/* The nft script for cfg into buf; 0 or -ENOSPC. */
int masq_script(const struct agent_config *cfg, char *buf, size_t len);
/* Run it; 0 or -errno (the error is logged with nft's message). */
int masq_apply(const struct agent_config *cfg);
/* masq_apply for the agent: the config's peers and those from Node objects
 * (a->kpeers) stay unmasqueraded alike; sets a->masq_ok. */
struct agent;
int masq_sync(struct agent *a);

#endif
