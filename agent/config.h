/* config: the agent's JSON configuration file (--config), parsed and
 * validated in one pass. Every key is documented in docs/architecture.md
 * ("Agent"); an error names the key that is wrong. */
#ifndef XDPATH_AGENT_CONFIG_H
#define XDPATH_AGENT_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipaddr.h"
#include "log.h"

#define CFG_MAX_CIDRS 8         /* podCIDRs of one node */
#define CFG_MAX_PEERS 4096      /* = XDP_MAX_NODES: one LPM entry at least per peer */
#define CFG_NAME_MAX  254       /* a Kubernetes node name (DNS subdomain, 253) */

#define CFG_DEFAULT_STATE_DIR  "/run/xdpath"
#define CFG_DEFAULT_VNI        1
#define CFG_DEFAULT_VXLAN_PORT 8472

struct cfg_peer {
	char name[CFG_NAME_MAX];
	struct ipaddr ip4, ip6;   /* family 0 when absent */
	struct ipnet cidrs[CFG_MAX_CIDRS];
	int ncidrs;
};

/* Where xdp_uplink runs (config "xdpUplink"). */
enum cfg_xdp {
	CFG_XDP_AUTO = 0,  /* native, except on a veth uplink: left detached there */
	CFG_XDP_NATIVE,
	CFG_XDP_GENERIC,
	CFG_XDP_OFF,
};

/* "kubernetes": where the API server is (kube.h). */
struct cfg_kube {
	bool enabled;
	bool in_cluster;            /* "inCluster": service account + KUBERNETES_SERVICE_* */
	char kubeconfig[PATH_MAX];  /* "kubeconfig" */
	char sa_dir[PATH_MAX];      /* "serviceAccountDir" */
};

/* "cniConf": the conflist the agent writes once ready (cniconf.h). */
struct cfg_cni_conf {
	char path[PATH_MAX];        /* "" when absent */
	char ipam_dir[PATH_MAX];
	uint32_t mtu;               /* 0: the plugin's default */
};

#define CFG_DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define CFG_DEFAULT_IPAM_DIR "/run/xdpath/ipam"

struct agent_config {
	char node_name[CFG_NAME_MAX]; /* "nodeName", else $NODE_NAME */
	char pin_root[PATH_MAX];
	char state_dir[PATH_MAX];
	char endpoint_dir[PATH_MAX];
	char policy_dir[PATH_MAX];   /* "policyDir": manifests to load; "" when absent */
	char filter_dir[PATH_MAX];   /* "filterDir": XdpFilter manifests; "" when absent */
	char uplink[IFNAMSIZ];
	int mode;                 /* enum xdp_mode */
	uint32_t vni;
	uint16_t vxlan_port;
	struct ipaddr node_ip4, node_ip6;  /* family 0 when absent */
	struct ipnet pod_cidrs[CFG_MAX_CIDRS];
	int npod_cidrs;
	struct ipnet cluster4, cluster6;   /* ip.family 0 when absent */
	bool masquerade;
	int xdp_uplink;           /* enum cfg_xdp */
	struct cfg_peer *peers;
	int npeers;
	struct cfg_kube kube;
	char http_address[128];   /* "httpAddress": /healthz /readyz /metrics; "" when absent */
	struct cfg_cni_conf cni_conf;
	enum log_level log_level;
	bool log_level_set;
};

/* Parse text (len bytes) into cfg. On error returns -1 with a message
 * naming the key in err, and cfg holds nothing to free. */
int config_parse(const char *text, struct agent_config *cfg, char *err, size_t errlen);
/* The same from a file. */
int config_load(const char *path, struct agent_config *cfg, char *err, size_t errlen);
void config_free(struct agent_config *cfg);

/* "native" / "vxlan". */
const char *config_mode_name(int mode);

#endif
