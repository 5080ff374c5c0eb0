/* cniconf: the CNI network configuration list the agent installs (config
 * "cniConf"), written atomically (a temporary file in the same directory,
 * then rename) once the node is ready, so that the kubelet's runtime only
 * finds a network for pods when the datapath can take them. IPAM ranges are
 * the node's pod CIDRs (from the config or its Node object); endpointDir and
 * pinRoot are the agent's own, so plugin and agent always agree. */
#ifndef XDPATH_AGENT_CNICONF_H
#define XDPATH_AGENT_CNICONF_H

struct agent;
struct json_object;

/* The conflist for this node (a new reference), or NULL on ENOMEM. */
struct json_object *cniconf_build(struct agent *a);
/* Write it to cniConf.path when configured; unchanged files are left
 * alone. 0 or -errno (logged). */
int cniconf_write(struct agent *a);

#endif
