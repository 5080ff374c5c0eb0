/* datapath: the plugin's side of the eBPF datapath ("datapath.pinRoot" in
 * the config): put a new pod on it at ADD, take it off at DEL, verify it at
 * CHECK. The agent (xdpathd) owns loading; this only uses its pins. */
#ifndef XDPATH_CNI_DATAPATH_H
#define XDPATH_CNI_DATAPATH_H

#include "cni.h"
#include "endpoint.h"

/* Endpoint map entries, then from_pod at TC ingress of the host veth.
 * Datapath not loaded or not ready: code 11 (try again later). */
int cni_dp_register(const struct netconf *nc, const struct endpoint *ep, struct cni_err *e);
/* Remove the map entries of host_ifindex; 0 when there is no datapath. */
int cni_dp_unregister(const struct netconf *nc, int host_ifindex);
/* Entries present and pointing at the host veth, program attached. */
int cni_dp_check(const struct netconf *nc, const struct endpoint *ep, struct cni_err *e);

#endif
