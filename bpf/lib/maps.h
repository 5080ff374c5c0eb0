/* maps: the pinned maps, declared once. Every object includes this, and
 * LIBBPF_PIN_BY_NAME under the agent's pin root makes them one set of maps
 * shared by all programs, the agent and the CNI plugin (layouts in
 * include/xdpath/datapath.h). */
#ifndef XDPATH_BPF_MAPS_H
#define XDPATH_BPF_MAPS_H

#include "common.h"
#include "xdpath/policy.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDP_MAX_ENDPOINTS);
	__type(key, struct xdp_ep_key);
	__type(value, struct xdp_ep_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDP_MAX_NODES);
	__type(key, struct xdp_cidr_key);
	__type(value, struct xdp_node_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_DROP_MAX);
	__type(key, __u32);
	__type(value, struct xdp_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_FWD_MAX);
	__type(key, __u32);
	__type(value, struct xdp_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, XDP_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct xdp_ep_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_ep_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDP_MAX_CT);
	__type(key, struct xdp_ct_key);
	__type(value, struct xdp_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XDP_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_events SEC(".maps");

/* NetworkPolicy (include/xdpath/policy.h), read when XDP_CFG_F_POLICY is set. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDP_MAX_IPCACHE);
	__type(key, struct xdp_cidr_key);
	__type(value, struct xdp_ipcache_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDP_MAX_IPCACHE);
	__type(key, struct xdp_cidr_key);
	__type(value, struct xdp_ipcache_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_ipcache_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDP_MAX_POLICY);
	__type(key, struct xdp_pol_key);
	__type(value, struct xdp_pol_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDP_MAX_POL_CIDR);
	__type(key, struct xdp_polcidr_key);
	__type(value, struct xdp_portset);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_pol_cidr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDP_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct xdp_ep_pol);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_ep_policy SEC(".maps");

__always_inline_fn const struct xdp_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xdp_config, &zero);
}

#endif
