/* filter: the emergency XDP drop filters' compiled form, shared by the rule
 * compiler (filter/), the agent that writes it into maps and the fixed XDP
 * program that evaluates it (issue 6).
 *
 * The datapath parses a packet once into a summary: one 64-bit value per
 * field (enum xf_field) and a bitmap of the fields present (a field of a
 * layer the packet does not have is absent). A rule is a disjunction of up
 * to XF_MAX_CONJ conjunctions of up to XF_MAX_TERMS terms (the compiler
 * brings every expression into this form, negations pushed down to the
 * terms). A term is
 *   XF_T_RANGE:  present(field) && lo <= (value & mask) <= hi
 *   XF_T_LINEAR: every field present && sum(coef[i] * value(f[i])) + k OP 0
 *                (signed 64-bit; compares header fields with each other,
 *                e.g. ip.tot_len > l3.len)
 * and a negated term is the negation of all of that (absent layers make a
 * test false; "not test" of an absent layer is true). Fixed sizes only:
 * this header compiles for BPF and for userspace. */
#ifndef XDPATH_FILTER_H
#define XDPATH_FILTER_H

#include <linux/types.h>

#define XF_MAX_CONJ  8
#define XF_MAX_TERMS 8
#define XF_LIN_FIELDS 3

/* Fields of the packet summary. Append only (the values index maps). */
enum xf_field {
	XF_NONE = 0,
	/* frame */
	XF_FRAME_LEN,        /* bytes in the frame */
	XF_L3_LEN,           /* bytes from the L3 header to the end of the frame */
	XF_L4_LEN,           /* bytes from the L4 header to the end of the frame */
	/* Ethernet / VLAN */
	XF_ETH_TYPE,         /* the EtherType after any VLAN tags */
	XF_ETH_SRC,          /* 48 bits */
	XF_ETH_DST,
	XF_VLAN_ID,          /* present with a VLAN tag */
	/* IPv4 */
	XF_IP_VERSION,
	XF_IP_IHL,           /* 32-bit words */
	XF_IP_HDR_LEN,       /* bytes (ihl * 4) */
	XF_IP_TOS,
	XF_IP_TOT_LEN,
	XF_IP_ID,
	XF_IP_DF,            /* 0/1 */
	XF_IP_MF,
	XF_IP_RF,
	XF_IP_FRAG_OFFSET,   /* bytes (the 13-bit field * 8) */
	XF_IP_TTL,
	XF_IP_PROTO,
	XF_IP_SRC,           /* host order */
	XF_IP_DST,
	XF_IP_OPT_PRESENT,   /* 0/1: the header has options */
	XF_IP_OPT_MALFORMED, /* 0/1: an option with length < 2 or running past the header */
	XF_IP_OPT_KINDS,     /* bitmap: bit n set when option kind n & 31 is present (0x83 LSRR -> bit 3, 0x89 SSRR -> 9, 7 RR, 0x44 TS -> 4) */
	/* IPv6 */
	XF_IP6_VERSION,
	XF_IP6_PLEN,
	XF_IP6_NEXTHDR,      /* the fixed header's next header */
	XF_IP6_HLIM,
	XF_IP6_FLOW,
	XF_IP6_SRC_HI,       /* the address as two 64-bit halves, host order */
	XF_IP6_SRC_LO,
	XF_IP6_DST_HI,
	XF_IP6_DST_LO,
	XF_IP6_EXT_COUNT,    /* extension headers walked (up to 8) */
	XF_IP6_EXT_MALFORMED,/* 0/1: an extension header running past the packet, or more than 8 */
	XF_IP6_RH_TYPE,      /* present with a routing header */
	XF_IP6_FRAG_OFFSET,  /* present with a fragment header; bytes */
	XF_IP6_FRAG_M,
	XF_IP6_UPPER,        /* the final next header after the extension headers */
	/* fragments, either family */
	XF_FRAG,             /* 0/1: a fragment (MF or an offset) */
	XF_FRAG_FIRST,       /* 0/1: a fragment with offset 0 */
	/* TCP (absent in a non-first fragment) */
	XF_TCP_SPORT,
	XF_TCP_DPORT,
	XF_TCP_SEQ,
	XF_TCP_ACK,
	XF_TCP_DOFF,         /* 32-bit words */
	XF_TCP_HDR_LEN,      /* bytes */
	XF_TCP_FLAGS,        /* fin 0x01 syn 0x02 rst 0x04 psh 0x08 ack 0x10 urg 0x20 ece 0x40 cwr 0x80 */
	XF_TCP_WIN,
	XF_TCP_URGPTR,
	XF_TCP_PAYLOAD_LEN,
	XF_TCP_OPT_MSS,      /* present with an MSS option: its value */
	XF_TCP_OPT_WSCALE,   /* present with a window scale option: its shift */
	XF_TCP_OPT_SACKPERM, /* 0/1 */
	XF_TCP_OPT_SACK,     /* 0/1: a SACK block option */
	XF_TCP_OPT_TS,       /* 0/1 */
	XF_TCP_OPT_MALFORMED,/* 0/1: length < 2, past the header, kind in the last byte, wrong fixed length */
	/* UDP */
	XF_UDP_SPORT,
	XF_UDP_DPORT,
	XF_UDP_LEN,
	XF_UDP_CSUM,
	/* ICMP / ICMPv6 */
	XF_ICMP_TYPE,
	XF_ICMP_CODE,
	XF_ICMP6_TYPE,
	XF_ICMP6_CODE,
	XF_ICMP6_ND_MALFORMED, /* 0/1: an ND option of length 0 or past the packet */
	XF_ICMP6_ND_RDNSS_BAD, /* 0/1: an RDNSS option (25) with length < 3 or even (CVE-2020-16898) */
	/* where layers start, for raw-byte tests (XF_T_BYTES) */
	XF_L3_OFF,           /* present with an IPv4/IPv6 EtherType: the L3 header's offset */
	XF_L4_OFF,           /* present when l4.len is: the L4 header's offset */
	XF_FIELD_MAX,
};

enum xf_term_kind {
	XF_T_RANGE = 0,
	XF_T_LINEAR = 1,
	XF_T_BYTES = 2,
};

/* XF_T_BYTES: `width` bytes (1, 2, 4 or 8, big endian) at `off` from the
 * start of a layer (term.field: XF_LAYER_*), as a number; then as
 * XF_T_RANGE. False when the layer is absent or the bytes run past the
 * frame. off < XF_BYTES_MAX_OFF. */
enum xf_layer {
	XF_LAYER_L2 = 0,         /* the frame's first byte */
	XF_LAYER_L3 = 1,         /* XF_L3_OFF */
	XF_LAYER_L4 = 2,         /* XF_L4_OFF */
};
#define XF_BYTES_MAX_OFF 1500

enum xf_op {                 /* XF_T_LINEAR: how the sum compares with 0 */
	XF_OP_EQ = 0,
	XF_OP_NE,
	XF_OP_LT,
	XF_OP_LE,
	XF_OP_GT,
	XF_OP_GE,
};

struct xf_term {
	__u8 kind;               /* enum xf_term_kind */
	__u8 neg;                /* the term's result is inverted */
	__u8 field;              /* XF_T_RANGE: the field; XF_T_BYTES: enum xf_layer */
	__u8 op;                 /* XF_T_LINEAR: enum xf_op; XF_T_BYTES: the width */
	__u8 f[XF_LIN_FIELDS];   /* XF_T_LINEAR: fields (XF_NONE: unused) */
	__s8 coef[XF_LIN_FIELDS];/* XF_T_LINEAR: +1 or -1 */
	__u16 off;               /* XF_T_BYTES: offset from the layer start */
	__u8 pad[4];
	__u64 mask;              /* XF_T_RANGE, XF_T_BYTES */
	__u64 lo;                /* XF_T_RANGE, XF_T_BYTES; XF_T_LINEAR: the constant k (as __s64) */
	__u64 hi;                /* XF_T_RANGE, XF_T_BYTES */
};

/* One rule's match: OR over nconj conjunctions, AND over nterms[i] terms. */
struct xf_match {
	__u8 nconj;
	__u8 nterms[XF_MAX_CONJ];
	__u8 pad[7];
	struct xf_term t[XF_MAX_CONJ][XF_MAX_TERMS];
};


/* ---- the rule table in the datapath ---------------------------------------
 *
 * Pinned maps (the agent owns them; agent/filter*.c writes, bpf/lib/filter.h
 * reads):
 *   xdp_filter_rules  ARRAY[XF_MAX_RULES] of struct xf_rule, by slot
 *   xdp_filter_index  HASH struct xf_idx_key -> struct xf_bucket: the rules
 *                     one of whose tests in every alternative is
 *                     "field == value" on an indexed field (XF_IDX_FIELDS)
 *   xdp_filter_scan   HASH __u32 0 -> struct xf_scan: every other rule
 *   xdp_filter_cfg    ARRAY[1] of struct xf_cfg
 *   xdp_filter_ports  ARRAY[65536] of __u32, by port: bit i set when the index
 *                     has a key of the i-th indexed field (XF_IDX_FIELDS) for
 *                     that port; an array lookup spares a packet the hash
 *                     lookup of a port no rule names
 *   xdp_filter_stats  PERCPU_ARRAY[XF_MAX_RULES] of struct xf_stats, by slot
 *   xdp_filter_rate   LRU_HASH struct xf_rate_key -> __u64 (GCRA: the
 *                     theoretical arrival time, boot ns)
 *   xdp_filter_events RINGBUF of struct xf_event (sampled drops)
 *
 * Publication order makes every push atomic for the datapath: a rule is
 * written to a slot no list names, then the one hash value (bucket or scan
 * list) that names it is replaced (a hash update swaps the element under
 * RCU); removal unlinks first. Slots are handed out round robin, so a
 * packet still holding a just-unlinked slot number reads the old rule, and
 * `gen` (in the slot and in every reference) tells a reused slot apart. */
#define XF_MAX_RULES      1024
#define XF_BUCKET_MAX     16
#define XF_SAMPLE_BYTES   128

#define XDP_PIN_FILTER_RULES  "xdp_filter_rules"
#define XDP_PIN_FILTER_INDEX  "xdp_filter_index"
#define XDP_PIN_FILTER_SCAN   "xdp_filter_scan"
#define XDP_PIN_FILTER_CFG    "xdp_filter_cfg"
#define XDP_PIN_FILTER_STATS  "xdp_filter_stats"
#define XDP_PIN_FILTER_PORTS  "xdp_filter_ports"
#define XDP_PIN_FILTER_RATE   "xdp_filter_rate"
#define XDP_PIN_FILTER_EVENTS "xdp_filter_events"
#define XF_EVENTS_BYTES   (256 * 1024)
#define XF_MAX_RATE_KEYS  65536

enum xf_action {
	XF_ACT_DROP = 0,         /* terminal */
	XF_ACT_PASS,             /* terminal: skip the other filters (never policy) */
	XF_ACT_COUNT,            /* count only (dry run), not terminal */
	XF_ACT_RATE,             /* drop over rate_pps (GCRA, burst = rate_pps / 10 + 1), else go on */
	XF_ACT_MAX,
};

enum xf_rate_per {
	XF_RATE_RULE = 0,        /* one budget for the rule */
	XF_RATE_SRC,             /* one per source address */
	XF_RATE_DST,             /* one per destination address */
};

/* Where a rule runs: the node's uplink (XDP) and/or traffic from pods
 * (their host veths, at the top of from_pod). */
#define XF_SCOPE_UPLINK   0x1
#define XF_SCOPE_PODS     0x2

struct xf_rule {
	__u32 gen;               /* 0: empty slot; references carry it too */
	__u8 action;             /* enum xf_action */
	__u8 scope;              /* XF_SCOPE_* */
	__u8 rate_per;           /* enum xf_rate_per */
	__u8 pad0;
	__u32 ifindex;           /* 0: every interface in scope; else only this one (one pod's veth) */
	__u32 rate_pps;          /* XF_ACT_RATE */
	__u64 expire_ns;         /* bpf_ktime_get_boot_ns() after which it never matches; 0: never */
	__u64 rate_interval_ns;  /* XF_ACT_RATE: 1e9 / rate_pps (set by the agent, not per packet) */
	__u64 rate_burst_ns;     /* XF_ACT_RATE: how far ahead of now the budget may run */
	__u64 req[2];            /* summary fields every alternative needs present: a packet
				  * without one of them is skipped before any test */
	struct xf_match m;
};

/* Indexed fields: a rule is put in the index under one "field == value"
 * test per alternative, so the datapath probes at most one bucket per field
 * instead of scanning. 128-bit addresses index their low half. */
#define XF_IDX_FIELDS(X) X(XF_IP_SRC) X(XF_IP_DST) X(XF_IP6_SRC_LO) X(XF_IP6_DST_LO) \
	X(XF_TCP_SPORT) X(XF_TCP_DPORT) X(XF_UDP_SPORT) X(XF_UDP_DPORT)

struct xf_idx_key {
	__u32 field;             /* enum xf_field */
	__u32 pad;
	__u64 value;
};

struct xf_ref {
	__u16 slot;
	__u16 flags;             /* XF_REF_* */
	__u32 gen;
};

/* The rule is its index test and nothing else: a bucket hit is a match,
 * so the datapath needs no packet summary for it (the fast path). */
#define XF_REF_EXACT 0x1

struct xf_bucket {
	__u32 n;
	__u32 pad;
	struct xf_ref r[XF_BUCKET_MAX];
};

struct xf_scan {
	__u32 n;
	__u32 pad;
	struct xf_ref r[XF_MAX_RULES];
};

/* What the summarizer must walk: the agent sets the walks some rule reads
 * (the fields they produce), so a table of address and port rules costs no
 * option walk. */
#define XF_NEED_IP4_OPTS  0x1    /* ip.opt.* */
#define XF_NEED_TCP_OPTS  0x2    /* tcp.opt.* */
#define XF_NEED_ND_OPTS   0x4    /* icmp6.nd.* */
#define XF_NEED_ALL       0x7

struct xf_cfg {
	__u32 nrules;            /* rules linked (0: the filters are skipped) */
	__u32 need;              /* XF_NEED_* */
	__u64 idx_fields;        /* bit f: the index has keys of field f */
	__u32 scan_scope;        /* XF_SCOPE_* of the scanned rules (0: skip the scan) */
	__u32 sample_shift;      /* sample 1 in 2^n drops of a rule per CPU to the ring */
};

#define XF_SAMPLE_SHIFT_DEFAULT 6 /* the first drop, then 1 in 64, per rule per CPU */

struct xf_stats {
	__u64 packets;           /* matched (counted, passed, or over a rate: dropped) */
	__u64 bytes;
	__u64 drops;
};

struct xf_rate_key {
	__u16 slot;
	__u16 pad;
	__u32 gen;
	__u8 addr[16];           /* XF_RATE_SRC/DST: the address; else zero */
};

/* Where a filter ran. */
#define XF_AT_UPLINK 1
#define XF_AT_POD    2

struct xf_event {
	__u64 ts_ns;             /* bpf_ktime_get_ns */
	__u32 gen;
	__u16 slot;
	__u8 at;                 /* XF_AT_* */
	__u8 action;
	__u32 ifindex;
	__u32 len;               /* frame length */
	__u32 caplen;            /* bytes in data */
	__u32 pad;
	__u8 data[XF_SAMPLE_BYTES];
};

#endif
