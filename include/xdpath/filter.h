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
	XF_FIELD_MAX,
};

enum xf_term_kind {
	XF_T_RANGE = 0,
	XF_T_LINEAR = 1,
};

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
	__u8 field;              /* XF_T_RANGE: the field */
	__u8 op;                 /* XF_T_LINEAR: enum xf_op */
	__u8 f[XF_LIN_FIELDS];   /* XF_T_LINEAR: fields (XF_NONE: unused) */
	__s8 coef[XF_LIN_FIELDS];/* XF_T_LINEAR: +1 or -1 */
	__u8 pad[6];
	__u64 mask;              /* XF_T_RANGE */
	__u64 lo;                /* XF_T_RANGE; XF_T_LINEAR: the constant k (as __s64) */
	__u64 hi;                /* XF_T_RANGE */
};

/* One rule's match: OR over nconj conjunctions, AND over nterms[i] terms. */
struct xf_match {
	__u8 nconj;
	__u8 nterms[XF_MAX_CONJ];
	__u8 pad[7];
	struct xf_term t[XF_MAX_CONJ][XF_MAX_TERMS];
};

#endif
