/* summary: the userspace packet summarizer of the emergency XDP drop filters
 * (issue 6). It owns the exact meaning of every enum xf_field value: the
 * fixed XDP program computes the same summary, and the rule tester
 * (`xdpathctl filter test --pcap`) and the catalog tests use this one as the
 * reference.
 *
 * A field of a layer the frame does not have, or whose bytes are not in the
 * frame, is absent. Every bound is the frame end, never a length field of the
 * packet (frames may be padded; length fields lie, which is what rules look
 * for). Every walk is bounded: IPv4 and TCP options by their 40 bytes, IPv6
 * extension headers at 8 (more is malformed), ND options at 16. */
#ifndef XDPATH_FILTER_SUMMARY_H
#define XDPATH_FILTER_SUMMARY_H

#include <stddef.h>

#include <linux/types.h>

#include "xdpath/filter.h"

struct xf_summary {
	__u64 v[XF_FIELD_MAX];                   /* value of each field (0 when absent) */
	__u64 present[(XF_FIELD_MAX + 63) / 64]; /* bit f set: field f present */
};

/* 1 if field f is present (XF_NONE and out-of-range fields never are). */
static inline int xf_present(const struct xf_summary *s, int f)
{
	if (f <= XF_NONE || f >= XF_FIELD_MAX)
		return 0;
	return (int)((s->present[f / 64] >> (f % 64)) & 1);
}

/* Parse an Ethernet frame (len bytes) into s. Never fails: whatever cannot be
 * parsed is absent. Never reads past frame + len. */
void xf_summarize(const unsigned char *frame, size_t len, struct xf_summary *s);

#endif
