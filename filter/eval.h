/* eval: a compiled match (include/xdpath/filter.h) against a packet
 * summary (summary.h), in userspace: the reference for the XDP program,
 * and what `xdpathctl filter test --pcap` runs. Raw-byte terms read the
 * frame the summary was made from (len bytes; NULL when len is 0). */
#ifndef XDPATH_FILTER_EVAL_H
#define XDPATH_FILTER_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "summary.h"
#include "xdpath/filter.h"

bool xf_term_eval(const struct xf_term *t, const struct xf_summary *s,
		  const unsigned char *frame, size_t len);
bool xf_match_eval(const struct xf_match *m, const struct xf_summary *s,
		   const unsigned char *frame, size_t len);

#endif
