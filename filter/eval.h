/* eval: a compiled match (include/xdpath/filter.h) against a packet
 * summary (summary.h), in userspace: the reference for the XDP program,
 * and what `xdpathctl filter test --pcap` runs. */
#ifndef XDPATH_FILTER_EVAL_H
#define XDPATH_FILTER_EVAL_H

#include <stdbool.h>

#include "summary.h"
#include "xdpath/filter.h"

bool xf_term_eval(const struct xf_term *t, const struct xf_summary *s);
bool xf_match_eval(const struct xf_match *m, const struct xf_summary *s);

#endif
