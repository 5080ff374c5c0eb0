/* cni: the plugin's view of one invocation, shared by every command.
 * Owns the CNI error codes, the spec versions we speak, the parsed
 * environment and network config, and the in-memory result. */
#ifndef XDPATH_CNI_CNI_H
#define XDPATH_CNI_CNI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "endpoint.h"
#include "ipam.h"

struct json_object;

/* Error codes from the CNI spec (SPEC.md "Error") and the reference library. */
enum cni_code {
	CNI_OK = 0,
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	CNI_ERR_NOT_AVAILABLE_DEGRADED = 51,
	CNI_ERR_INTERNAL = 999,
};

struct cni_err {
	int code;
	char msg[256];
	char details[1024];
};

/* Set e (first error wins) and return its code, so callers can
 * `return cni_fail(e, CODE, "details %s", x)`. msg is the short, fixed text. */
int cni_fail(struct cni_err *e, int code, const char *msg, const char *details_fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Spec versions as major*10000 + minor*100 + patch. */
#define CNI_V(a, b, c) ((a) * 10000 + (b) * 100 + (c))
#define CNI_LATEST "1.1.0"
extern const char *const cni_supported_versions[];
int cni_version_parse(const char *s);          /* -1 if not x.y.z */
bool cni_version_supported(int v);

enum cni_cmd { CMD_NONE, CMD_ADD, CMD_DEL, CMD_CHECK, CMD_VERSION, CMD_GC, CMD_STATUS };

#define CNI_MAX_ID_LEN 200

struct cni_env {
	enum cni_cmd cmd;
	const char *command;
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *args;
	const char *path;
	char pod_namespace[256];
	char pod_name[256];
	char pod_uid[64];
};

int cni_env_load(struct cni_env *env, struct cni_err *e);
bool cni_valid_network_name(const char *s);

#define XDP_MAX_IFS    2
#define XDP_MAX_IPS    IPAM_MAX_SETS
_Static_assert(XDP_MAX_IPS <= ENDPOINT_MAX_IPS, "an endpoint record holds every address");
#define XDP_MAX_ROUTES (IPAM_MAX_ROUTES + 2)

struct cni_iface {
	char name[16];
	uint8_t mac[6];
	int mtu;
	char sandbox[PATH_MAX];
};

struct cni_ip {
	struct ipnet addr;
	struct ipaddr gw;
	bool has_gw;
	int iface;              /* index into ifs[], -1 if absent */
};

struct cni_route {
	struct ipnet dst;
	struct ipaddr gw;
	bool has_gw;
};

struct cni_result {
	struct cni_iface ifs[XDP_MAX_IFS];
	int nifs;
	struct cni_ip ips[XDP_MAX_IPS];
	int nips;
	struct cni_route routes[XDP_MAX_ROUTES];
	int nroutes;
	struct json_object *dns; /* borrowed */
};

/* Render r in the result format of spec version v (0.3.x/0.4.0 carry
 * ips[].version; >= 1.0.0 does not). New reference owned by the caller. */
struct json_object *cni_result_to_json(const struct cni_result *r, const char *version);
/* Parse a prevResult of any supported version; -1 with a message in e. */
int cni_result_parse(struct json_object *o, struct cni_result *r, struct cni_err *e);

struct netconf {
	char cni_version[16];
	int version;
	char name[IPAM_NAME_MAX];
	int mtu;                       /* 0 = kernel default */
	char host_prefix[8];           /* host veth name prefix */
	char endpoint_dir[PATH_MAX];
	int lock_timeout_ms;
	bool ipam_builtin;             /* ipam.type == "xdpath" */
	char ipam_type[64];
	struct ipam_config ipam;
	struct json_object *root;      /* the whole request, owned */
	struct json_object *dns;       /* borrowed from root, may be NULL */
	struct json_object *prev;      /* borrowed prevResult, may be NULL */
	char dp_root[PATH_MAX];        /* "datapath.pinRoot": "" = no datapath (routes only) */
	int policy_wait_ms;            /* "datapath.policyWaitMs": ADD waits this long for the pod's policy */
	const char *raw;               /* stdin bytes, for delegated plugins */
	size_t raw_len;
};

/* Parse the request config. VERSION needs only cniVersion; the other
 * commands get full validation. Codes: 6 (not JSON / bad version string),
 * 1 (unsupported version), 7 (invalid config). */
int netconf_parse(const char *buf, size_t len, enum cni_cmd cmd, struct netconf *nc,
		  struct cni_err *e);
void netconf_free(struct netconf *nc);

#define XDP_DEFAULT_HOST_PREFIX "xdp"
#define XDP_DEFAULT_LOCK_TIMEOUT_MS 10000
#define XDP_DEFAULT_POLICY_WAIT_MS 2000

#endif
