/* common: includes and small helpers every xdpath BPF program uses. */
#ifndef XDPATH_BPF_COMMON_H
#define XDPATH_BPF_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdpath/datapath.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define __always_inline_fn static __always_inline

/* The verifier wants constant offsets; this is where L3 starts (no VLANs
 * on pod veths or on the uplink the datapath owns). */
#define L3_OFF ETH_HLEN

#endif
