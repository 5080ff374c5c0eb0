/* filter_maps: the pinned maps of the emergency filters (layout and
 * publication order in include/xdpath/filter.h). Declared apart from
 * filter.h so that to_pod, which runs no filter, declares them too: its
 * load, the first, creates every pin, and the two objects that verify the
 * filters can then load in parallel without racing to create them. */
#ifndef XDPATH_BPF_FILTER_MAPS_H
#define XDPATH_BPF_FILTER_MAPS_H

#include "common.h"
#include "xdpath/filter.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xf_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XF_MAX_RULES * XF_MAX_CONJ);
	__type(key, struct xf_idx_key);
	__type(value, struct xf_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xf_scan);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_scan SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xf_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xf_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XF_MAX_RATE_KEYS);
	__type(key, struct xf_rate_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XF_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_filter_events SEC(".maps");

/* A field number already checked < XF_FIELD_MAX, masked for the verifier
 * (struct xf_sum is followed by more of the scratch value). */
#define XF_VIDX(f) XF_MASK(f, 127)

#endif
