/* test_bpf_filter: the emergency filters' datapath (bpf/lib/filter.h,
 * bpf/lib/filter_summary.h) under BPF_PROG_TEST_RUN, checked against the
 * filter library, which owns the meaning of every field and term:
 *   - the BPF summarizer against xf_summarize(), frame by frame, over a
 *     corpus of well-formed frames and thousands of deterministic mutations
 *     of them (both programs: xdp_uplink and pod_entry);
 *   - the BPF rule evaluator against xf_match_eval(), for hand-written
 *     rules, every catalog rule and tests generated from packet values;
 *   - actions, scopes, expiry, the index, the scan list, generations,
 *     restart (rebuild) and the sample ring, through the counters.
 * Rules are published with the agent's own map writer (agent/filtermap.c)
 * over the skeletons' maps, exactly as the agent does.
 *
 * Both skeletons are loaded with their LIBBPF_PIN_BY_NAME maps pinned under
 * a private /sys/fs/bpf/xdpt-flt-<pid> (one set of filter maps shared by
 * name), removed at the end (group teardown; atexit for an early exit; a
 * handler for fatal signals, as a killed run would leave them behind).
 * The summary each program computes is left in its object's per-CPU
 * xdp_filter_scratch; the process is pinned to one CPU so that the value
 * read back is the one test_run wrote.
 *
 * test_run limits (6.18; test/unit/test_bpf.c has the __sk_buff notes):
 * XDP accepts any frame of at least ETH_HLEN bytes (and frames larger than a
 * page: xdp_uplink is an xdp.frags program, test_run builds fragments). TC
 * refuses frames below ETH_HLEN + 20 for EtherType 0x0800 and below
 * ETH_HLEN + 40 for 0x86dd, and frames larger than a page less the skb
 * overhead. The corpus is built with that in mind (tc_ok()): frames cut
 * inside the IP header and jumbo frames run through xdp_uplink only; no
 * test_run error is ever skipped. Needs root. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>

#include "catalog.h"
#include "eval.h"
#include "filtermap.h"
#include "from_pod.skel.h"
#include "pod_entry.skel.h"
#include "lang.h"
#include "pindir.h"
#include "summary.h"
#include "xdp_uplink.skel.h"
#include "xdpath/datapath.h"
#include "xdpath/filter.h"

#define BPFFS        "/sys/fs/bpf"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The BPF side's struct xf_sum (bpf/lib/filter_summary.h) is written as
 * __u64 v[XF_FIELD_MAX] then the present bitmap: the reference struct must
 * be exactly that, so one can be read as the other (checked against the
 * object's BTF at run time too). The BPF summarizer clears two bitmap
 * words. */
_Static_assert(sizeof(struct xf_summary) ==
	       sizeof(__u64) * (XF_FIELD_MAX + (XF_FIELD_MAX + 63) / 64),
	       "struct xf_summary is not v[XF_FIELD_MAX] + present[]");
_Static_assert(offsetof(struct xf_summary, present) == sizeof(__u64) * XF_FIELD_MAX,
	       "struct xf_summary: present[] does not follow v[]");
_Static_assert(XF_FIELD_MAX <= 128, "the BPF summarizer clears present[0..1] only");

#define ETH_HLEN      14
#define ETH_P_IP      0x0800
#define ETH_P_ARP     0x0806
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88a8
#define ETH_P_IPV6    0x86dd

/* TC test_run builds a linear skb in one page: 3500 bytes leave room for
 * its headroom and shared info (4000 is refused on 4 KiB pages). */
#define TC_MAX_FRAME  3500

#define FB_MAX        6144      /* the longest frame: a jumbo plus padding */
#define PER_BASE      240       /* mutations of each base frame */
#define EVAL_SAMPLE   300       /* frames each rule is checked on */
#define FIELD_SAMPLE  120       /* frames each generated field test is checked on */
#define MAX_REPORTS   10        /* mismatches printed in full, per check */

/* ---- global fixture ------------------------------------------------------ */

static struct xdp_uplink *xu;
static struct from_pod *fp;
static struct pod_entry *pe;
static struct filtermap fm;
/* Where each map of the objects would be pinned, listed as they are
 * opened (before the load pins them), for the signal handler: it may only
 * unlink and rmdir (opendir allocates). */
static char pin_paths[64][sizeof(pindir) + 257];
static int npin_paths;
static int ncpus, cpu;
static uint64_t seed = 0x5eed0f11e7ULL;

/* Per-CPU scratch values as the kernel copies them out: ncpus values of
 * scratch_stride bytes. */
static uint8_t *scratch_buf;
static size_t scratch_stride;

static int report(const char *what, int err)
{
	fprintf(stderr, "test_bpf_filter: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return -1;
}

/* Idempotent: the group teardown and atexit both call it (a fatal signal
 * has its own). */
static void pin_dir_remove(void)
{
	int err = pindir_remove();

	if (err)
		report("rmdir pin dir", err);
	npin_paths = 0;
}

static void pin_paths_add(const struct bpf_object *obj)
{
	const struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		if (npin_paths < (int)ARRAY_SIZE(pin_paths))
			snprintf(pin_paths[npin_paths++], sizeof(pin_paths[0]), "%s/%s", pindir,
				 bpf_map__name(m));
}

/* Killed (a timeout, ^C) or crashed: atexit does not run, the pins must
 * go all the same. */
static void on_fatal_signal(int sig)
{
	for (int i = 0; i < npin_paths; i++)
		unlink(pin_paths[i]);
	if (pindir[0])
		rmdir(pindir);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fatal_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS };

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		signal(sigs[i], on_fatal_signal);
}

/* Stay on the CPU we run on now: test_run runs the program on the calling
 * CPU, so per-CPU values (scratch, counters) are read from that one. */
static int pin_cpu(void)
{
	cpu_set_t set;

	cpu = sched_getcpu();
	if (cpu < 0)
		return report("sched_getcpu", errno);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return report("sched_setaffinity", errno);
	return 0;
}

#define MAPFD(obj, name) bpf_map__fd((obj)->maps.name)

static int prog_array_set(void)
{
	uint32_t key = XDP_POD_PROG_MAIN;
	int fd = bpf_program__fd(fp->progs.from_pod);

	return bpf_map_update_elem(MAPFD(pe, xdp_pod_progs), &key, &fd, BPF_ANY) ? -errno : 0;
}

/* filtermap over the skeleton's maps, as the agent opens them from pins. */
static int fm_init(void)
{
	struct filtermap_fds fds = {
		.rules = MAPFD(xu, xdp_filter_rules),
		.index = MAPFD(xu, xdp_filter_index),
		.scan = MAPFD(xu, xdp_filter_scan),
		.cfg = MAPFD(xu, xdp_filter_cfg),
		.stats = MAPFD(xu, xdp_filter_stats),
		.ports = MAPFD(xu, xdp_filter_ports),
	};

	return filtermap_init(&fm, &fds);
}

/* ---- running the programs ------------------------------------------------ */

/* xdp_uplink once (or repeat times) on frame, as received on ifindex (a
 * device that exists: test_run looks it up), or with no context at all. */
static uint32_t xdp_run_n(const void *frame, uint32_t len, uint32_t ifindex, uint32_t repeat)
{
	struct xdp_md ctx = { .data_end = len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .repeat = repeat);

	if (ifindex) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(xu->progs.xdp_uplink), &opts))
		fail_msg("xdp_uplink test_run (%u bytes): %s", len, strerror(errno));
	return opts.retval;
}

static uint32_t xdp_run(const void *frame, uint32_t len)
{
	return xdp_run_n(frame, len, 0, 1);
}

/* pod_entry once on frame as if it arrived on ingress_ifindex (any number:
 * test_run only copies it into skb_iif). */
static uint32_t tc_run(const void *frame, uint32_t len, uint32_t ingress_ifindex)
{
	struct __sk_buff ctx = { .ingress_ifindex = ingress_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(pe->progs.pod_entry), &opts))
		fail_msg("pod_entry test_run (%u bytes): %s", len, strerror(errno));
	return opts.retval;
}

/* The shared drop counter of reason, summed over CPUs. */
static struct xdp_counter drops_get(uint32_t reason)
{
	struct xdp_counter v[ncpus], sum = { 0 };

	assert_int_equal(bpf_map_lookup_elem(MAPFD(xu, xdp_drops), &reason, v), 0);
	for (int i = 0; i < ncpus; i++) {
		sum.packets += v[i].packets;
		sum.bytes += v[i].bytes;
	}
	return sum;
}

static void drops_zero(void)
{
	struct xdp_counter z[ncpus];

	memset(z, 0, sizeof(z));
	for (uint32_t i = 0; i < XDP_DROP_MAX; i++)
		assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_drops), &i, z, BPF_ANY), 0);
}

static struct xf_stats stats(uint32_t slot)
{
	struct xf_stats st;

	assert_int_equal(filtermap_stats(&fm, slot, &st), 0);
	return st;
}

static struct xf_cfg cfg_get(void)
{
	struct xf_cfg c;
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(MAPFD(xu, xdp_filter_cfg), &zero, &c), 0);
	return c;
}

/* The config as filtermap's state says (tests that write it directly). */
static void cfg_restore(void)
{
	assert_int_equal(filtermap_set_sampling(&fm, fm.sample_shift), 0);
}

/* ---- frames -------------------------------------------------------------- */

/* A frame under construction, and the offsets of the bytes the mutations
 * like best (lengths, header lengths, option lengths, next headers,
 * EtherTypes): those are where the two summarizers can disagree. */
struct fb {
	uint8_t b[FB_MAX];
	uint32_t n, l3, l4;
	uint32_t hot[64];
	uint32_t nhot;
	const char *name;
};

static void fb_hot(struct fb *f, uint32_t off)
{
	if (f->nhot < ARRAY_SIZE(f->hot))
		f->hot[f->nhot++] = off;
}

static void fb_put(struct fb *f, const void *d, uint32_t n)
{
	assert_true(f->n + n <= FB_MAX);
	if (n)                   /* d may be NULL then (no options) */
		memcpy(f->b + f->n, d, n);
	f->n += n;
}

static void fb_u8(struct fb *f, unsigned v)
{
	uint8_t c = (uint8_t)v;

	fb_put(f, &c, 1);
}

static void fb_u16(struct fb *f, unsigned v)
{
	fb_u8(f, v >> 8);
	fb_u8(f, v);
}

static void fb_u32(struct fb *f, uint32_t v)
{
	fb_u16(f, v >> 16);
	fb_u16(f, v & 0xffff);
}

/* n bytes of a pattern that is no valid header anywhere in particular. */
static void fb_fill(struct fb *f, uint32_t n)
{
	while (n--)
		fb_u8(f, 0x30 + f->n % 61);
}

static void fb_zero(struct fb *f, uint32_t n)
{
	while (n--)
		fb_u8(f, 0);
}

static void set16(uint8_t *b, uint32_t off, unsigned v)
{
	b[off] = (uint8_t)(v >> 8);
	b[off + 1] = (uint8_t)v;
}

static const uint8_t MAC_DST[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t MAC_SRC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define SRC_A IP4(10, 0, 0, 1)
#define SRC_B IP4(10, 0, 0, 9)
#define DST_4 IP4(10, 0, 0, 2)

static const uint8_t SRC6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t DST6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t LL6[16] = { 0xfe, 0x80, [8] = 0x02, [15] = 0x01 };
static const uint8_t ALLNODES6[16] = { 0xff, 0x02, [15] = 1 };

static void fb_eth(struct fb *f, const char *name, unsigned type)
{
	memset(f, 0, sizeof(*f));
	f->name = name;
	fb_put(f, MAC_DST, 6);
	fb_put(f, MAC_SRC, 6);
	fb_hot(f, 12);
	fb_hot(f, 13);
	fb_u16(f, type);
}

/* A VLAN tag after the EtherType just written (which was its TPID). */
static void fb_tag(struct fb *f, unsigned vid, unsigned type)
{
	fb_u16(f, vid);
	fb_hot(f, f->n);
	fb_hot(f, f->n + 1);
	fb_u16(f, type);
}

/* The kind and length bytes of the options in [start, start + len): the
 * IPv4/TCP layout (EOL, NOP, then kind-length-value). */
static void fb_hot_opts(struct fb *f, uint32_t start, uint32_t len)
{
	uint32_t at = 0;

	while (at < len) {
		uint8_t kind = f->b[start + at];

		fb_hot(f, start + at);
		if (kind == 0)
			break;
		if (kind == 1) {
			at++;
			continue;
		}
		if (at + 1 >= len || f->b[start + at + 1] < 2)
			break;
		fb_hot(f, start + at + 1);
		at += f->b[start + at + 1];
	}
}

/* IPv4 src -> dst, tos 0x28, id 0x1234, DF, ttl 64; optlen a multiple of 4.
 * tot_len and the checksum are set by fb_ip4_done(). */
static void fb_ip4(struct fb *f, unsigned proto, uint32_t src, uint32_t dst, const uint8_t *opt,
		   uint32_t optlen)
{
	f->l3 = f->n;
	fb_u8(f, 0x40 | (5 + optlen / 4));
	fb_u8(f, 0x28);
	fb_u16(f, 0);
	fb_u16(f, 0x1234);
	fb_u16(f, 0x4000);
	fb_u8(f, 64);
	fb_u8(f, proto);
	fb_u16(f, 0);
	fb_u32(f, src);
	fb_u32(f, dst);
	fb_put(f, opt, optlen);
	fb_hot(f, f->l3);
	fb_hot(f, f->l3 + 2);
	fb_hot(f, f->l3 + 3);
	fb_hot(f, f->l3 + 6);
	fb_hot(f, f->l3 + 7);
	fb_hot(f, f->l3 + 9);
	fb_hot_opts(f, f->l3 + 20, optlen);
}

static void fb_ip4_frag(struct fb *f, int mf, unsigned off_bytes)
{
	set16(f->b, f->l3 + 6, (mf ? 0x2000 : 0) | off_bytes / 8);
}

static void fb_ip4_done(struct fb *f)
{
	uint32_t hlen = (f->b[f->l3] & 0xf) * 4, sum = 0;

	set16(f->b, f->l3 + 2, f->n - f->l3);
	set16(f->b, f->l3 + 10, 0);
	for (uint32_t i = 0; i < hlen; i += 2)
		sum += (uint32_t)f->b[f->l3 + i] << 8 | f->b[f->l3 + i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	set16(f->b, f->l3 + 10, ~sum & 0xffff);
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static void fb_tcp(struct fb *f, unsigned sport, unsigned dport, unsigned flags,
		   const uint8_t *opt, uint32_t optlen)
{
	f->l4 = f->n;
	fb_u16(f, sport);
	fb_u16(f, dport);
	fb_u32(f, 0x11223344);
	fb_u32(f, flags & TCP_ACK ? 0x55667788 : 0);
	fb_u8(f, (5 + optlen / 4) << 4);
	fb_u8(f, flags);
	fb_u16(f, 64240);
	fb_u16(f, 0);
	fb_u16(f, 0);
	fb_put(f, opt, optlen);
	fb_hot(f, f->l4 + 12);
	fb_hot(f, f->l4 + 13);
	fb_hot_opts(f, f->l4 + 20, optlen);
}

static void fb_udp(struct fb *f, unsigned sport, unsigned dport)
{
	f->l4 = f->n;
	fb_u16(f, sport);
	fb_u16(f, dport);
	fb_u16(f, 0);
	fb_u16(f, 0xbeef);
	fb_hot(f, f->l4 + 4);
	fb_hot(f, f->l4 + 5);
}

static void fb_udp_done(struct fb *f)
{
	set16(f->b, f->l4 + 4, f->n - f->l4);
}

static void fb_icmp(struct fb *f, unsigned type, unsigned code)
{
	f->l4 = f->n;
	fb_u8(f, type);
	fb_u8(f, code);
	fb_u16(f, 0);
	fb_hot(f, f->l4);
}

/* IPv6 src -> dst, flow label 0x12345, hop limit 64; plen by fb_ip6_done(). */
static void fb_ip6(struct fb *f, unsigned nh, const uint8_t *src, const uint8_t *dst)
{
	f->l3 = f->n;
	fb_u32(f, 0x60012345);
	fb_u16(f, 0);
	fb_u8(f, nh);
	fb_u8(f, 64);
	fb_put(f, src, 16);
	fb_put(f, dst, 16);
	fb_hot(f, f->l3);
	fb_hot(f, f->l3 + 4);
	fb_hot(f, f->l3 + 5);
	fb_hot(f, f->l3 + 6);
}

static void fb_ip6_done(struct fb *f)
{
	set16(f->b, f->l3 + 4, f->n - f->l3 - 40);
}

/* Hop-by-hop or destination options: (units + 1) * 8 bytes of PadN. */
static void fb_ext_opts(struct fb *f, unsigned nh, unsigned units)
{
	uint32_t total = (units + 1) * 8;

	fb_hot(f, f->n);
	fb_hot(f, f->n + 1);
	fb_u8(f, nh);
	fb_u8(f, units);
	fb_u8(f, 1);
	fb_u8(f, total - 4);
	fb_zero(f, total - 4);
}

/* A type 0 routing header with naddr addresses (RFC 2460, deprecated). */
static void fb_ext_rh0(struct fb *f, unsigned nh, unsigned naddr)
{
	fb_hot(f, f->n);
	fb_hot(f, f->n + 1);
	fb_hot(f, f->n + 2);
	fb_u8(f, nh);
	fb_u8(f, naddr * 2);
	fb_u8(f, 0);
	fb_u8(f, naddr);
	fb_u32(f, 0);
	for (unsigned i = 0; i < naddr; i++)
		fb_put(f, DST6, 16);
}

static void fb_ext_frag(struct fb *f, unsigned nh, unsigned off_bytes, int m)
{
	fb_hot(f, f->n);
	fb_hot(f, f->n + 2);
	fb_hot(f, f->n + 3);
	fb_u8(f, nh);
	fb_u8(f, 0);
	fb_u16(f, (off_bytes & 0xfff8) | (m ? 1 : 0));
	fb_u32(f, 0xcafe0001);
}

/* An authentication header: (len + 2) * 4 bytes. */
static void fb_ext_ah(struct fb *f, unsigned nh, unsigned len)
{
	fb_hot(f, f->n);
	fb_hot(f, f->n + 1);
	fb_u8(f, nh);
	fb_u8(f, len);
	fb_u16(f, 0);
	fb_u32(f, 0x1000);
	fb_u32(f, 1);
	fb_fill(f, (len + 2) * 4 - 12);
}

static void fb_icmp6(struct fb *f, unsigned type, unsigned code)
{
	f->l4 = f->n;
	fb_hot(f, f->n);
	fb_u8(f, type);
	fb_u8(f, code);
	fb_u16(f, 0);
}

/* An ND option of units * 8 bytes. */
static void fb_nd_opt(struct fb *f, unsigned type, unsigned units)
{
	fb_hot(f, f->n);
	fb_hot(f, f->n + 1);
	fb_u8(f, type);
	fb_u8(f, units);
	fb_fill(f, units * 8 - 2);
}

static void fb_ra(struct fb *f, const char *name, unsigned nprefix, unsigned big)
{
	fb_eth(f, name, ETH_P_IPV6);
	fb_ip6(f, 58, LL6, ALLNODES6);
	fb_icmp6(f, 134, 0);
	fb_u8(f, 64);
	fb_u8(f, 0);
	fb_u16(f, 1800);
	fb_u32(f, 0);
	fb_u32(f, 0);
	fb_nd_opt(f, 1, 1);               /* source link-layer address */
	for (unsigned i = 0; i < nprefix; i++)
		fb_nd_opt(f, 3, 4);       /* prefix information */
	for (unsigned i = 0; i < big; i++)
		fb_nd_opt(f, 200, 255);   /* unknown, the longest there is */
	fb_nd_opt(f, 25, 3);              /* RDNSS, one address */
	fb_nd_opt(f, 25, 2);              /* RDNSS, even length: CVE-2020-16898 */
	fb_ip6_done(f);
}

/* ---- the corpus ---------------------------------------------------------- */

struct frame {
	uint8_t *b;
	uint32_t len;
	uint16_t base;           /* index in bases[] */
	bool mutated;
	bool xdp_only;           /* TC test_run would refuse it (tc_ok) */
	struct xf_summary ref;   /* xf_summarize() of it */
};

static struct fb bases[32];
static unsigned nbases;
static struct frame *corpus;
static size_t ncorpus;

/* TC test_run's own minimum for this frame (see the notes at the top). */
static uint32_t tc_min_len(const uint8_t *b, uint32_t len)
{
	unsigned type;

	if (len < ETH_HLEN)
		return ETH_HLEN;
	type = (unsigned)b[12] << 8 | b[13];
	if (type == ETH_P_IP)
		return ETH_HLEN + 20;
	if (type == ETH_P_IPV6)
		return ETH_HLEN + 40;
	return ETH_HLEN;
}

static bool tc_ok(const uint8_t *b, uint32_t len)
{
	return len >= tc_min_len(b, len) && len <= TC_MAX_FRAME;
}

static struct fb *base_new(void)
{
	assert_true(nbases < ARRAY_SIZE(bases));
	return &bases[nbases++];
}

static void build_bases(void)
{
	static const uint8_t syn_opts[20] = {
		2, 4, 0x05, 0xb4,                       /* MSS 1460 */
		4, 2,                                   /* SACK permitted */
		8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0,    /* timestamps */
		1,                                      /* NOP */
		3, 3, 7,                                /* window scale 7 */
	};
	static const uint8_t ack_opts[24] = {
		1, 1, 8, 10, 0, 0, 0x12, 0x35, 0, 0, 0x43, 0x21,
		1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0,  /* one SACK block */
	};
	static const uint8_t rr_opts[20] = {
		0x83, 11, 4, 10, 9, 9, 1, 10, 9, 9, 2,  /* loose source route, 2 hops */
		7, 7, 4, 0, 0, 0, 0,                    /* record route, 1 slot */
		1, 0,                                   /* NOP, EOL */
	};
	static const uint8_t ts_opts[16] = {
		0x44, 12, 5, 0, 0, 0, 0, 1, 0, 0, 0, 2, /* timestamps, 2 */
		0x94, 4, 0, 0,                          /* router alert */
	};
	static const uint8_t ssrr_opts[12] = {
		0x89, 7, 4, 10, 9, 9, 1,                /* strict source route */
		1, 1, 1, 1, 0,
	};
	/* Nothing after an EOL is an option, whatever it looks like. */
	static const uint8_t ip_eol_opts[12] = {
		7, 3, 4,                                /* record route, no slot */
		0,                                      /* EOL */
		0x83, 11, 4, 1, 2, 3, 4, 0x89,
	};
	static const uint8_t tcp_eol_opts[12] = {
		2, 4, 0x05, 0xb4,                       /* MSS 1460 */
		0,                                      /* EOL */
		3, 3, 14, 2, 4, 0, 100,                 /* not a window scale, not an MSS */
	};
	/* A wrong fixed length is malformed, and the walk goes on past it. */
	static const uint8_t tcp_badlen_opts[8] = {
		2, 3, 0x05,                             /* MSS of length 3 */
		3, 3, 9,                                /* window scale 9 */
		1, 1,
	};
	struct fb *f;

	nbases = 0;

	f = base_new();
	fb_eth(f, "ip4-tcp-syn-opts", ETH_P_IP);
	fb_ip4(f, 6, SRC_A, DST_4, NULL, 0);
	fb_tcp(f, 40000, 80, TCP_SYN, syn_opts, sizeof(syn_opts));
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-tcp-ack-sack", ETH_P_IP);
	fb_ip4(f, 6, SRC_B, DST_4, ts_opts, sizeof(ts_opts));
	fb_tcp(f, 443, 51000, TCP_ACK | TCP_PSH, ack_opts, sizeof(ack_opts));
	fb_fill(f, 100);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-lsrr-rr-udp", ETH_P_IP);
	fb_ip4(f, 17, SRC_A, DST_4, rr_opts, sizeof(rr_opts));
	fb_udp(f, 5353, 53);
	fb_fill(f, 24);
	fb_udp_done(f);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-ssrr-icmp", ETH_P_IP);
	fb_ip4(f, 1, SRC_B, DST_4, ssrr_opts, sizeof(ssrr_opts));
	fb_icmp(f, 0, 0);
	fb_u32(f, 0x00010002);
	fb_fill(f, 32);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-udp-dns", ETH_P_IP);
	fb_ip4(f, 17, SRC_A, DST_4, NULL, 0);
	fb_udp(f, 33333, 53);
	fb_u16(f, 0x1234);                /* a DNS query header */
	fb_u16(f, 0x0100);
	fb_u16(f, 1);
	fb_zero(f, 6);
	fb_fill(f, 17);
	fb_udp_done(f);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-icmp-echo", ETH_P_IP);
	fb_ip4(f, 1, SRC_A, DST_4, NULL, 0);
	fb_icmp(f, 8, 0);
	fb_u32(f, 0x00420001);
	fb_fill(f, 56);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-frag-first", ETH_P_IP);
	fb_ip4(f, 6, SRC_A, DST_4, NULL, 0);
	fb_tcp(f, 40001, 22, TCP_ACK, NULL, 0);
	fb_fill(f, 64);
	fb_ip4_frag(f, 1, 0);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-frag-later", ETH_P_IP);
	fb_ip4(f, 6, SRC_A, DST_4, NULL, 0);
	fb_fill(f, 80);
	fb_ip4_frag(f, 0, 1480);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "vlan-ip4-tcp", ETH_P_8021Q);
	fb_tag(f, 100, ETH_P_IP);
	fb_ip4(f, 6, SRC_B, DST_4, NULL, 0);
	fb_tcp(f, 40002, 8080, TCP_SYN, syn_opts, 8);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "qinq-ip4-udp", ETH_P_8021AD);
	fb_tag(f, 200, ETH_P_8021Q);
	fb_tag(f, 300, ETH_P_IP);
	fb_ip4(f, 17, SRC_A, DST_4, NULL, 0);
	fb_udp(f, 4789, 4789);
	fb_fill(f, 40);
	fb_udp_done(f);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip6-tcp-syn-opts", ETH_P_IPV6);
	fb_ip6(f, 6, SRC6, DST6);
	fb_tcp(f, 40003, 443, TCP_SYN, syn_opts, sizeof(syn_opts));
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "ip6-hbh-rh0-dst-frag-udp", ETH_P_IPV6);
	fb_ip6(f, 0, SRC6, DST6);
	fb_ext_opts(f, 43, 0);
	fb_ext_rh0(f, 60, 2);
	fb_ext_opts(f, 44, 1);
	fb_ext_frag(f, 17, 0, 1);
	fb_udp(f, 5000, 53);
	fb_fill(f, 32);
	fb_udp_done(f);
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "ip6-frag-first-tcp", ETH_P_IPV6);
	fb_ip6(f, 44, SRC6, DST6);
	fb_ext_frag(f, 6, 0, 1);
	fb_tcp(f, 40004, 80, TCP_ACK, ack_opts, sizeof(ack_opts));
	fb_fill(f, 48);
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "ip6-frag-later", ETH_P_IPV6);
	fb_ip6(f, 44, SRC6, DST6);
	fb_ext_frag(f, 6, 1232, 0);
	fb_fill(f, 64);
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "ip6-ah-tcp", ETH_P_IPV6);
	fb_ip6(f, 51, SRC6, DST6);
	fb_ext_ah(f, 6, 4);
	fb_tcp(f, 40005, 179, TCP_ACK, NULL, 0);
	fb_ip6_done(f);

	f = base_new();
	fb_ra(f, "icmp6-ra-prefix-rdnss", 1, 0);

	f = base_new();
	fb_eth(f, "icmp6-ns", ETH_P_IPV6);
	fb_ip6(f, 58, LL6, DST6);
	fb_icmp6(f, 135, 0);
	fb_u32(f, 0);
	fb_put(f, DST6, 16);
	fb_nd_opt(f, 1, 1);
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "ip4-opt-eol-tcp-eol", ETH_P_IP);
	fb_ip4(f, 6, SRC_A, DST_4, ip_eol_opts, sizeof(ip_eol_opts));
	fb_tcp(f, 40010, 80, TCP_SYN, tcp_eol_opts, sizeof(tcp_eol_opts));
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip4-tcp-badlen-opts", ETH_P_IP);
	fb_ip4(f, 6, SRC_B, DST_4, NULL, 0);
	fb_tcp(f, 40011, 443, TCP_SYN | TCP_ACK, tcp_badlen_opts, sizeof(tcp_badlen_opts));
	fb_ip4_done(f);

	/* The walk's limit: 8 extension headers are fine, a 9th is malformed. */
	f = base_new();
	fb_eth(f, "ip6-8-ext-udp", ETH_P_IPV6);
	fb_ip6(f, 60, SRC6, DST6);
	for (int i = 0; i < 7; i++)
		fb_ext_opts(f, 60, 0);
	fb_ext_opts(f, 17, 0);
	fb_udp(f, 1000, 53);
	fb_udp_done(f);
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "ip6-9-ext-udp", ETH_P_IPV6);
	fb_ip6(f, 60, SRC6, DST6);
	for (int i = 0; i < 8; i++)
		fb_ext_opts(f, 60, 0);
	fb_ext_opts(f, 17, 0);
	fb_udp(f, 1000, 53);
	fb_udp_done(f);
	fb_ip6_done(f);

	f = base_new();
	fb_eth(f, "arp-request", ETH_P_ARP);
	fb_u16(f, 1);
	fb_u16(f, ETH_P_IP);
	fb_u8(f, 6);
	fb_u8(f, 4);
	fb_u16(f, 1);
	fb_put(f, MAC_SRC, 6);
	fb_u32(f, SRC_A);
	fb_zero(f, 6);
	fb_u32(f, DST_4);

	/* Past the 256-byte window the BPF side copies first: the IP and
	 * TCP headers are then read with the load helper. */
	f = base_new();
	fb_eth(f, "ip4-tcp-1400", ETH_P_IP);
	fb_ip4(f, 6, SRC_B, DST_4, NULL, 0);
	fb_tcp(f, 40006, 80, TCP_ACK | TCP_PSH, ack_opts, sizeof(ack_opts));
	fb_fill(f, 1400);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip6-deep-hbh-tcp", ETH_P_IPV6);
	fb_ip6(f, 0, SRC6, DST6);
	fb_ext_opts(f, 60, 29);
	fb_ext_opts(f, 6, 0);
	fb_tcp(f, 40007, 22, TCP_SYN, syn_opts, sizeof(syn_opts));
	fb_ip6_done(f);

	/* The TCP header straddles the end of the window (bytes 246..265). */
	f = base_new();
	fb_eth(f, "ip6-straddle-tcp", ETH_P_IPV6);
	fb_ip6(f, 0, SRC6, DST6);
	fb_ext_opts(f, 6, 23);
	fb_tcp(f, 40008, 25, TCP_SYN, syn_opts, sizeof(syn_opts));
	fb_ip6_done(f);

	f = base_new();
	fb_ra(f, "icmp6-ra-many-opts", 7, 0);

	/* Jumbo: test_run gives these to the xdp.frags program in fragments;
	 * ND options run across them. XDP only (TC_MAX_FRAME). */
	f = base_new();
	fb_ra(f, "icmp6-ra-jumbo", 1, 2);

	f = base_new();
	fb_eth(f, "ip4-udp-jumbo", ETH_P_IP);
	fb_ip4(f, 17, SRC_A, DST_4, NULL, 0);
	fb_udp(f, 6081, 6081);
	fb_fill(f, 4900);
	fb_udp_done(f);
	fb_ip4_done(f);

	f = base_new();
	fb_eth(f, "ip6-udp-plen0-padded", ETH_P_IPV6);
	fb_ip6(f, 17, SRC6, DST6);
	fb_udp(f, 7, 7);
	fb_udp_done(f);
	fb_zero(f, 30);
}

/* splitmix64: deterministic, and good enough to spread mutations. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(rng_next(s) % n) : 0;
}

static const uint8_t interesting[] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x0f, 0x10, 0x11, 0x14, 0x18, 0x28,
	0x2b, 0x2c, 0x33, 0x3a, 0x3b, 0x3c, 0x40, 0x44, 0x45, 0x46, 0x4f, 0x50, 0x5f,
	0x60, 0x7f, 0x80, 0x83, 0x86, 0x88, 0x89, 0x94, 0xa0, 0xdd, 0xf0, 0xfe, 0xff,
};

/* One mutant of base into out: 1-3 of overwrites of a hot byte, random
 * overwrites in the first 100 bytes, a cut, padding. Cuts stay at or above
 * TC test_run's minimum for the frame, but 1 in 8 goes down to ETH_HLEN:
 * those frames (cut inside the IP header) are for XDP only. */
static uint32_t mutate(uint64_t *s, const struct fb *base, uint8_t *out)
{
	uint32_t len = base->n, nmut = 1 + rnd(s, 3);

	memcpy(out, base->b, len);
	for (uint32_t i = 0; i < nmut; i++) {
		uint32_t k = rnd(s, 16), at, lo, add;

		if (k < 6 && base->nhot) {
			at = base->hot[rnd(s, base->nhot)];
			if (at >= len)
				continue;
			switch (rnd(s, 4)) {
			case 0:
				out[at] = interesting[rnd(s, sizeof(interesting))];
				break;
			case 1:
				out[at] += rnd(s, 2) ? 1 : 0xff;
				break;
			case 2:
				out[at] = (uint8_t)rnd(s, 256);
				break;
			default:
				out[at] ^= (uint8_t)(1u << rnd(s, 8));
				break;
			}
		} else if (k < 10) {
			for (uint32_t j = 1 + rnd(s, 4); j; j--) {
				at = rnd(s, len < 100 ? len : 100);
				out[at] = rnd(s, 2) ? (uint8_t)rnd(s, 256)
						    : interesting[rnd(s, sizeof(interesting))];
			}
		} else if (k < 14) {
			lo = tc_min_len(out, len);
			if (lo > len || !rnd(s, 8))
				lo = ETH_HLEN;
			len = lo + rnd(s, len - lo + 1);
		} else {
			add = rnd(s, 4) ? 1 + rnd(s, 64) : 1 + rnd(s, 400);
			if (len + add > FB_MAX)
				add = FB_MAX - len;
			if (rnd(s, 2))
				memset(out + len, 0, add);
			else
				for (uint32_t j = 0; j < add; j++)
					out[len + j] = (uint8_t)rnd(s, 256);
			len += add;
		}
	}
	return len;
}

static void corpus_add(const uint8_t *b, uint32_t len, unsigned base, bool mutated)
{
	struct frame *fr = &corpus[ncorpus++];

	fr->b = malloc(len);
	assert_non_null(fr->b);
	memcpy(fr->b, b, len);
	fr->len = len;
	fr->base = (uint16_t)base;
	fr->mutated = mutated;
	fr->xdp_only = !tc_ok(b, len);
	xf_summarize(fr->b, fr->len, &fr->ref);
}

static void corpus_build(void)
{
	static uint8_t buf[FB_MAX];
	uint64_t s = seed;
	size_t cap;

	build_bases();
	/* bases, their mutants, and every cut inside the IPv4/IPv6 header
	 * of the plain ones (XDP only) */
	cap = nbases * (1 + PER_BASE) + nbases * 40;
	corpus = calloc(cap, sizeof(*corpus));
	assert_non_null(corpus);
	ncorpus = 0;
	for (unsigned i = 0; i < nbases; i++)
		corpus_add(bases[i].b, bases[i].n, i, false);
	for (unsigned i = 0; i < nbases; i++) {
		const struct fb *f = &bases[i];
		uint32_t lo = tc_min_len(f->b, f->n);

		for (uint32_t len = ETH_HLEN; len < lo && len < f->n && ncorpus < cap; len += 3)
			corpus_add(f->b, len, i, true);
	}
	for (unsigned i = 0; i < nbases; i++)
		for (unsigned j = 0; j < PER_BASE && ncorpus < cap; j++) {
			uint32_t len = mutate(&s, &bases[i], buf);

			corpus_add(buf, len, i, true);
		}
}

static void corpus_free(void)
{
	for (size_t i = 0; i < ncorpus; i++)
		free(corpus[i].b);
	free(corpus);
	corpus = NULL;
	ncorpus = 0;
}

/* ---- summaries ----------------------------------------------------------- */

/* A name for field f, for messages. */
static const char *field_name(unsigned f, char *buf, size_t n)
{
	switch (f) {
	case XF_IP_OPT_KINDS:
		return "ip.opt.kinds";
	case XF_L3_OFF:
		return "l3.off";
	case XF_L4_OFF:
		return "l4.off";
	}
	for (size_t i = 0; i < xf_nfields; i++) {
		const struct xf_field_info *fi = &xf_fields[i];

		if (fi->type == XT_PROTO || fi->mask)
			continue;
		if (fi->type == XT_IP6 && (fi->field == f || fi->field + 1u == f)) {
			snprintf(buf, n, "%s.%s", fi->name, fi->field == f ? "hi" : "lo");
			return buf;
		}
		if (fi->field == f)
			return fi->name;
	}
	snprintf(buf, n, "field%u", f);
	return buf;
}

/* The reference summary as the BPF side computes it with walks need. */
static void expected_summary(const struct xf_summary *ref, uint32_t need, struct xf_summary *exp)
{
	*exp = *ref;
	for (unsigned f = 1; f < XF_FIELD_MAX; f++) {
		if (!filtermap_field_need(f) || (need & filtermap_field_need(f)))
			continue;
		exp->present[f / 64] &= ~(1ULL << (f % 64));
		exp->v[f] = 0;
	}
}

static void hexdump(const uint8_t *b, uint32_t len)
{
	uint32_t shown = len < 512 ? len : 512;

	for (uint32_t i = 0; i < shown; i += 16) {
		fprintf(stderr, "  %04x:", i);
		for (uint32_t j = i; j < i + 16 && j < shown; j++)
			fprintf(stderr, " %02x", b[j]);
		fprintf(stderr, "\n");
	}
	if (shown < len)
		fprintf(stderr, "  ... (%u more bytes)\n", len - shown);
}

/* Fields where got and exp differ (presence, or the value of a present
 * one); each reported when report is set; counted per field in tally. */
static int summary_diff(const struct xf_summary *exp, const struct xf_summary *got, bool report,
			unsigned *tally)
{
	char nb[48];
	int bad = 0;

	for (unsigned f = 1; f < XF_FIELD_MAX; f++) {
		int pe = xf_present(exp, f), pg = xf_present(got, f);

		if (pe == pg && (!pe || exp->v[f] == got->v[f]))
			continue;
		bad++;
		if (tally)
			tally[f]++;
		if (report)
			fprintf(stderr, "  field %u (%s): bpf %s 0x%llx, reference %s 0x%llx\n", f,
				field_name(f, nb, sizeof(nb)), pg ? "present" : "absent",
				(unsigned long long)(pg ? got->v[f] : 0), pe ? "present" : "absent",
				(unsigned long long)(pe ? exp->v[f] : 0));
	}
	/* Bits past XF_FIELD_MAX are never set by either side. */
	for (unsigned f = XF_FIELD_MAX; f < 128; f++)
		if ((got->present[f / 64] >> (f % 64)) & 1) {
			bad++;
			if (report)
				fprintf(stderr, "  bit %u past XF_FIELD_MAX set by bpf\n", f);
		}
	return bad;
}

/* Fill the scratch of this CPU with a pattern: a program that did not
 * summarize (or left a presence bit stale) cannot pass for one that did. */
static void scratch_poison(int fd)
{
	uint32_t zero = 0;

	memset(scratch_buf, 0xa5, scratch_stride * ncpus);
	assert_int_equal(bpf_map_update_elem(fd, &zero, scratch_buf, BPF_ANY), 0);
}

static void scratch_read(int fd, struct xf_summary *out)
{
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(fd, &zero, scratch_buf), 0);
	memcpy(out, scratch_buf + scratch_stride * cpu, sizeof(*out));
}

static void frame_title(const struct frame *fr, size_t i)
{
	fprintf(stderr, "frame #%zu (%s%s, %u bytes):\n", i, bases[fr->base].name,
		fr->mutated ? ", mutated" : "", fr->len);
}

/* Every corpus frame (every stride-th) through xdp_uplink or pod_entry
 * with the filters on (nrules 1) and nothing linked: the summary is
 * computed, no rule evaluated. A scan scope of both hooks (with an empty
 * scan list) is what makes the program take the summary path, whatever
 * shortcuts it has for index-only tables. Then the scratch against the
 * reference. */
static void summary_check(bool pod, uint32_t need, size_t stride)
{
	int fd = pod ? MAPFD(pe, xdp_filter_scratch) : MAPFD(xu, xdp_filter_scratch);
	const char *who = pod ? "pod_entry" : "xdp_uplink";
	struct xf_cfg c = { .nrules = 1, .need = need,
			    .scan_scope = XF_SCOPE_UPLINK | XF_SCOPE_PODS };
	static unsigned tally[XF_FIELD_MAX];
	struct xf_summary got, exp;
	size_t bad = 0, ran = 0;
	uint32_t zero = 0;
	char nb[48];

	memset(tally, 0, sizeof(tally));
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_cfg), &zero, &c, BPF_ANY), 0);
	for (size_t i = 0; i < ncorpus; i += stride) {
		const struct frame *fr = &corpus[i];

		if (pod && fr->xdp_only)
			continue;
		scratch_poison(fd);
		if (pod) {
			tc_run(fr->b, fr->len, 0);
		} else if (xdp_run(fr->b, fr->len) != XDP_PASS) {
			cfg_restore();
			fail_msg("%s: frame #%zu dropped with no rule linked", who, i);
		}
		scratch_read(fd, &got);
		expected_summary(&fr->ref, need, &exp);
		ran++;
		if (!summary_diff(&exp, &got, false, tally))
			continue;
		if (bad++ < MAX_REPORTS) {
			fprintf(stderr, "%s, need 0x%x: summary mismatch, ", who, need);
			frame_title(fr, i);
			hexdump(fr->b, fr->len);
			summary_diff(&exp, &got, true, NULL);
		}
	}
	cfg_restore();
	print_message("%s, need 0x%x: %zu frames summarized, %zu mismatching\n", who, need, ran,
		      bad);
	if (!bad)
		return;
	for (unsigned f = 1; f < XF_FIELD_MAX; f++)
		if (tally[f])
			fprintf(stderr, "  field %u (%s) differs in %u frames\n", f,
				field_name(f, nb, sizeof(nb)), tally[f]);
	fail_msg("%s: %zu of %zu frames summarized differently from xf_summarize()", who, bad, ran);
}

/* ---- setup --------------------------------------------------------------- */

/* Empty the whole LRU hash of rate budgets (old generations' tats). */
static void rate_clear(void)
{
	struct xf_rate_key k;
	int fd = MAPFD(xu, xdp_filter_rate);

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
}

/* Entries written behind filtermap's back that a failed test left: a
 * failure must not cascade into the tests after it. */
static void table_scrub(void)
{
	struct xf_rule rule, empty = { 0 };
	struct xf_idx_key k;
	struct xf_scan *scan;
	uint32_t zero = 0;

	while (bpf_map_get_next_key(MAPFD(xu, xdp_filter_index), NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(MAPFD(xu, xdp_filter_index), &k), 0);
	scan = calloc(1, sizeof(*scan));
	assert_non_null(scan);
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_scan), &zero, scan, BPF_ANY), 0);
	free(scan);
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		assert_int_equal(bpf_map_lookup_elem(MAPFD(xu, xdp_filter_rules), &i, &rule), 0);
		if (rule.gen)
			assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_rules), &i, &empty,
							     BPF_ANY), 0);
	}
}

/* Every test starts from an empty rule table (through filtermap, so gens
 * keep growing), zero drop counters, no rate state, the config as the
 * table says and from_pod in the prog array. */
static int test_setup(void **state)
{
	struct xf_idx_key k;
	struct xf_scan *scan;
	uint32_t zero = 0;
	bool stray;

	(void)state;
	for (uint32_t i = 0; i < XF_MAX_RULES; i++)
		if (fm.slot[i].gen)
			assert_int_equal(filtermap_del(&fm, i, fm.slot[i].gen), 0);
	assert_int_equal(fm.nrules, 0);
	stray = bpf_map_get_next_key(MAPFD(xu, xdp_filter_index), NULL, &k) == 0;
	scan = calloc(1, sizeof(*scan));
	assert_non_null(scan);
	if (!bpf_map_lookup_elem(MAPFD(xu, xdp_filter_scan), &zero, scan) && scan->n)
		stray = true;
	free(scan);
	if (stray)
		table_scrub();
	cfg_restore();
	drops_zero();
	rate_clear();
	assert_int_equal(prog_array_set(), 0);
	return 0;
}

static int group_setup(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pindir);
	int err;

	(void)state;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return report("possible cpus", ncpus);
	if (pin_cpu())
		return -1;
	err = pindir_make("xdpt-flt");
	if (err)
		return report("pin dir under " PINDIR_BPFFS, err);
	/* The first load creates and pins the maps, the second reuses them. */
	xu = xdp_uplink__open_opts(&opts);
	if (!xu)
		return report("open xdp_uplink", errno);
	pin_paths_add(xu->obj);
	err = xdp_uplink__load(xu);
	if (err)
		return report("load xdp_uplink", err);
	fp = from_pod__open_opts(&opts);
	if (!fp)
		return report("open from_pod", errno);
	pin_paths_add(fp->obj);
	err = from_pod__load(fp);
	if (err)
		return report("load from_pod", err);
	pe = pod_entry__open_opts(&opts);
	if (!pe)
		return report("open pod_entry", errno);
	pin_paths_add(pe->obj);
	err = pod_entry__load(pe);
	if (err)
		return report("load pod_entry", err);
	err = prog_array_set();
	if (err)
		return report("xdp_pod_progs", err);
	err = fm_init();
	if (err)
		return report("filtermap_init", err);

	scratch_stride = (bpf_map__value_size(xu->maps.xdp_filter_scratch) + 7) & ~7ul;
	if (scratch_stride < sizeof(struct xf_summary) ||
	    bpf_map__value_size(pe->maps.xdp_filter_scratch) !=
		    bpf_map__value_size(xu->maps.xdp_filter_scratch))
		return report("xdp_filter_scratch value size", EINVAL);
	scratch_buf = calloc(ncpus, scratch_stride);
	if (!scratch_buf)
		return report("calloc", ENOMEM);

	corpus_build();
	print_message("corpus: %zu frames from %u bases (seed 0x%llx), on CPU %d of %d\n", ncorpus,
		      nbases, (unsigned long long)seed, cpu, ncpus);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	corpus_free();
	free(scratch_buf);
	scratch_buf = NULL;
	from_pod__destroy(fp);
	pod_entry__destroy(pe);
	pe = NULL;
	xdp_uplink__destroy(xu);
	fp = NULL;
	xu = NULL;
	pin_dir_remove();
	return 0;
}

/* ---- 1. the summarizer --------------------------------------------------- */

/* The corpus is large, and reaches the corners the summarizers could
 * disagree on: every malformed flag set, headers that lie, frames past
 * the BPF side's window and past a page. */
static void test_corpus_size(void **state)
{
	static const struct {
		const char *what;
		unsigned field;
		__u64 lo, hi;
	} corners[] = {
		{ "ip.opt.malformed", XF_IP_OPT_MALFORMED, 1, 1 },
		{ "tcp.opt.malformed", XF_TCP_OPT_MALFORMED, 1, 1 },
		{ "ip6.ext.malformed", XF_IP6_EXT_MALFORMED, 1, 1 },
		{ "icmp6.nd.malformed", XF_ICMP6_ND_MALFORMED, 1, 1 },
		{ "icmp6.nd.rdnss_bad", XF_ICMP6_ND_RDNSS_BAD, 1, 1 },
		{ "ip.ihl < 5", XF_IP_IHL, 0, 4 },
		{ "tcp.doff < 5", XF_TCP_DOFF, 0, 4 },
		{ "ip6.ext.count >= 4", XF_IP6_EXT_COUNT, 4, 8 },
		{ "ip6.ext.count == 8", XF_IP6_EXT_COUNT, 8, 8 },
		{ "ip6.rh.type", XF_IP6_RH_TYPE, 0, 255 },
		{ "tcp.opt.mss", XF_TCP_OPT_MSS, 0, 65535 },
		{ "vlan.id", XF_VLAN_ID, 0, 4095 },
		{ "ip.frag.offset > 0", XF_IP_FRAG_OFFSET, 1, ~0ULL },
		{ "ip6.frag.offset > 0", XF_IP6_FRAG_OFFSET, 1, ~0ULL },
		{ "frame.len > 256", XF_FRAME_LEN, 257, ~0ULL },
		{ "frame.len > 3500", XF_FRAME_LEN, TC_MAX_FRAME + 1, ~0ULL },
	};
	size_t xdp_only = 0, n;

	(void)state;
	for (size_t i = 0; i < ncorpus; i++)
		xdp_only += corpus[i].xdp_only;
	print_message("corpus: %zu frames, %zu of them XDP only\n", ncorpus, xdp_only);
	assert_true(ncorpus >= 5000);
	assert_true(ncorpus - xdp_only >= 5000);
	for (size_t c = 0; c < ARRAY_SIZE(corners); c++) {
		n = 0;
		for (size_t i = 0; i < ncorpus; i++) {
			const struct xf_summary *s = &corpus[i].ref;
			unsigned f = corners[c].field;

			n += xf_present(s, f) && s->v[f] >= corners[c].lo && s->v[f] <= corners[c].hi;
		}
		print_message("  %-20s %zu frames\n", corners[c].what, n);
		assert_true(n >= 10);
	}
}

/* The scratch value starts with struct xf_sum, read here as a struct
 * xf_summary: both objects' BTF must say it is as large and laid out alike
 * (the static asserts at the top pin the userspace side). */
static void test_summary_layout(void **state)
{
	const struct bpf_object *objs[] = { xu->obj, pe->obj };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		const struct btf *btf = bpf_object__btf(objs[i]);
		const struct btf_member *m;
		const struct btf_type *t;
		int id;

		assert_non_null(btf);
		id = btf__find_by_name_kind(btf, "xf_sum", BTF_KIND_STRUCT);
		assert_true(id > 0);
		t = btf__type_by_id(btf, id);
		assert_int_equal(t->size, sizeof(struct xf_summary));
		assert_int_equal(btf_vlen(t), 2);
		m = btf_members(t);
		assert_string_equal(btf__name_by_offset(btf, m[0].name_off), "v");
		assert_int_equal(m[0].offset, 0);
		assert_string_equal(btf__name_by_offset(btf, m[1].name_off), "present");
		assert_int_equal(m[1].offset, 8 * offsetof(struct xf_summary, present));
		id = btf__find_by_name_kind(btf, "xf_scratch", BTF_KIND_STRUCT);
		assert_true(id > 0);
		m = btf_members(btf__type_by_id(btf, id));
		assert_string_equal(btf__name_by_offset(btf, m[0].name_off), "s");
		assert_int_equal(m[0].offset, 0);
	}
}

static void test_summary_xdp_uplink(void **state)
{
	(void)state;
	summary_check(false, XF_NEED_ALL, 1);
}

static void test_summary_pod_entry(void **state)
{
	(void)state;
	summary_check(true, XF_NEED_ALL, 1);
}

/* A walk no rule needs is skipped, and only its fields go: the others are
 * the same whatever the config asks for. */
static void test_summary_need(void **state)
{
	static const uint32_t needs[] = { 0, XF_NEED_IP4_OPTS, XF_NEED_TCP_OPTS, XF_NEED_ND_OPTS };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(needs); i++) {
		summary_check(false, needs[i], 7);
		summary_check(true, needs[i], 11);
	}
}

/* ---- 2. the evaluator ---------------------------------------------------- */

static const struct frame *sample[EVAL_SAMPLE];
static size_t nsample;

/* The unmutated bases, then frames spread evenly over the corpus. */
static void sample_build(void)
{
	size_t step;

	if (nsample)
		return;
	for (size_t i = 0; i < ncorpus && nsample < EVAL_SAMPLE; i++)
		if (!corpus[i].mutated)
			sample[nsample++] = &corpus[i];
	step = ncorpus / (EVAL_SAMPLE - nsample);
	for (size_t i = ncorpus - 1; i > 0 && nsample < EVAL_SAMPLE; i -= i > step ? step : i)
		if (corpus[i].mutated)
			sample[nsample++] = &corpus[i];
	assert_int_equal(nsample, EVAL_SAMPLE);
}

struct eval_res {
	unsigned drops, passes, bad;
};

static unsigned eval_reports;

static void eval_mismatch(const char *who, const char *text, const struct xf_match *m,
			  const struct frame *fr, bool want, bool got)
{
	char fmt[4096];

	if (eval_reports++ >= MAX_REPORTS)
		return;
	xf_match_format(m, fmt, sizeof(fmt));
	fprintf(stderr, "%s: '%s' %s, reference %s; compiled:\n%s\n", who, text,
		got ? "dropped" : "passed", want ? "matches" : "does not match", fmt);
	frame_title(fr, (size_t)(fr - corpus));
	hexdump(fr->b, fr->len);
}

/* Publish m as a drop rule in both scopes and run the frames through
 * xdp_uplink (and, for pods, pod_entry on the frames TC takes): the verdict
 * must be the reference's. */
static struct eval_res eval_rule(const char *text, const struct xf_match *m,
				 const struct frame *const *frames, size_t n, bool pods)
{
	struct xf_rule rule = { .action = XF_ACT_DROP, .scope = XF_SCOPE_UPLINK | XF_SCOPE_PODS };
	struct eval_res res = { 0 };
	uint32_t slot, gen;
	int err;

	rule.m = *m;
	err = filtermap_add(&fm, &rule, &slot, &gen);
	if (err)
		fail_msg("filtermap_add '%s': %s", text, strerror(-err));
	for (size_t i = 0; i < n; i++) {
		const struct frame *fr = frames[i];
		bool want = xf_match_eval(m, &fr->ref, fr->b, fr->len);
		bool got = xdp_run(fr->b, fr->len) == XDP_DROP;

		if (want != got) {
			res.bad++;
			eval_mismatch("xdp_uplink", text, m, fr, want, got);
		}
		if (got)
			res.drops++;
		else
			res.passes++;
		if (pods && !fr->xdp_only) {
			uint64_t before = stats(slot).drops;

			tc_run(fr->b, fr->len, 0);
			got = stats(slot).drops > before;
			if (want != got) {
				res.bad++;
				eval_mismatch("pod_entry", text, m, fr, want, got);
			}
		}
	}
	assert_int_equal(filtermap_del(&fm, slot, gen), 0);
	return res;
}

static void compile_ok(const char *text, struct xf_match *m)
{
	struct xf_error e = { 0 };

	if (xf_compile(text, m, &e))
		fail_msg("'%s' does not compile: column %d: %s", text, e.col, e.msg);
}

/* Hand-written rules: every kind of term, with values the corpus has. */
static const char *const eval_rules[] = {
	/* ranges, sets, CIDRs, MACs */
	"tcp.dport == 80",
	"tcp.dport in {22, 80, 8000..8100}",
	"tcp.sport in 1024..65535",
	"udp.dport == 53",
	"not udp.dport == 53",
	"udp.sport != 5353",
	"ip.src in 10.0.0.0/8",
	"ip.dst == 10.0.0.2",
	"ip.src in {192.168.0.0/16, 10.0.0.1/32}",
	"ip.src != 10.0.0.0/30",
	"ip6.src in 2001:db8::/32",
	"ip6.dst == 2001:db8::2",
	"ip6.src != fe80::/10",
	"ip6.dst in {ff02::/16, 2001:db8::2/128}",
	"eth.dst == 02:00:00:00:00:02",
	"eth.src in {02:00:00:00:00:01, 02:11:22:33:44:55}",
	"eth.type == arp",
	"eth.type in {ip, ip6}",
	"vlan.id == 100",
	"vlan and vlan.id in 200..300",
	"frame.len > 1000",
	"l4.len < 20",
	"ip.ttl < 64",
	"ip6.hlim <= 64 and ip6.flow == 0x12345",
	"ip.id == 0x1234 or ip6.flow != 0x12345",
	/* flags: has / any / exact */
	"tcp.flags has syn",
	"tcp.flags has {syn,ack}",
	"tcp.flags any {fin,rst}",
	"tcp.flags == ack|psh",
	"tcp.flags.syn and not tcp.flags.ack",
	"ip.tos any 0x03",
	"ip.tos has 0x28",
	/* linear comparisons */
	"ip.tot_len > l3.len",
	"ip.tot_len < l3.len",
	"ip.tot_len + 6 == l3.len",
	"not ip.tot_len == l3.len",
	"tcp.sport + tcp.dport > 40100",
	"tcp.sport - tcp.dport < 0",
	"udp.len - 8 > l4.len",
	"udp.len != l4.len",
	"ip6.plen + 40 != l3.len",
	"tcp.hdr_len + ip.hdr_len > ip.tot_len",
	"frame.len - l3.len >= 18",
	/* booleans and layers */
	"ip.df",
	"ip.mf or ip.frag.offset > 0",
	"not frag",
	"frag.first",
	"ip.opt",
	"ip.opt.rr",
	"ip.opt.ts or ip.opt.ra",
	"ip.opt.malformed",
	"tcp.opt.sackperm",
	"tcp.opt.ts and tcp.opt.wscale > 6",
	"tcp.opt.sack",
	"tcp.opt.mss < 1400",
	"tcp.opt.malformed",
	"ip6.frag.m",
	"ip6.ext.count >= 3",
	"ip6.ext.malformed",
	"ip6.upper == udp",
	"ip6.nexthdr == hbh",
	"ip6.rh.type == 0",
	"ip6.frag.offset > 0",
	"icmp.type == echo",
	"icmp.code == 0 and icmp.type in {0, 8}",
	"icmp6.type == ns",
	"icmp6.code != 0",
	"icmp6.nd.malformed",
	"icmp6.nd.rdnss_bad",
	"udp.csum == 0",
	"tcp.seq > 0x11223300",
	"tcp.ack != 0",
	"tcp.win < 1024",
	"tcp.urgptr != 0 or tcp.flags.urg",
	"tcp.payload_len > 0",
	"tcp.doff < 5",
	"ip.version != 4",
	"ip6.version != 6",
	"ip.ihl > 5",
	"ip.rf",
	"udp.sport == udp.dport",
	/* raw bytes */
	"l4[2:2] == 53",
	"l4[0:2] == 53",
	"l3[0] == 0x45",
	"l2[12:2] == 0x86dd",
	"l4[13] any 0x12",
	"l3[9] in {6, 17}",
	"l4[4:4] > 0x10000",
	"l2[0:8] != 0",
	"not l4[20] == 2",
	"l3[40:2] has 0x0600",
	"53 == l4[2:2]",
	/* combinations */
	"(tcp.dport == 80 or udp.dport == 53) and ip.ttl > 1",
	"ip and not tcp and not udp",
	"ip6 and (icmp6 or udp)",
	"not (ip.src == 10.0.0.1 and tcp.flags.syn)",
	"vlan or (ip6 and not ip6.ext.count == 0)",
	"eth and not ip and not ip6",
};

static void test_eval_rules(void **state)
{
	unsigned nrules = 0, bad = 0, trivial = 0;
	struct xf_match m;

	(void)state;
	sample_build();
	eval_reports = 0;
	for (size_t i = 0; i < ARRAY_SIZE(eval_rules) + xf_catalog_len; i++) {
		const char *text = i < ARRAY_SIZE(eval_rules) ? eval_rules[i]
							      : xf_catalog[i - ARRAY_SIZE(eval_rules)].rule;
		struct eval_res r;

		compile_ok(text, &m);
		r = eval_rule(text, &m, sample, nsample, true);
		if (r.bad)
			fprintf(stderr, "'%s': %u verdicts differ from the reference\n", text, r.bad);
		bad += r.bad;
		nrules++;
		/* A rule the sample never (or always) matches checks little. */
		if (!r.drops || !r.passes)
			trivial++;
	}
	print_message("%u rules (%zu catalog) x %zu frames, %u matching all or none, %u mismatches\n",
		      nrules, xf_catalog_len, nsample, trivial, bad);
	assert_true(nrules >= 60);
	assert_int_equal(bad, 0);
}

/* A test on field (or layer) value v of one frame, in the language. */
static bool field_test_text(const struct xf_field_info *fi, const struct frame *fr, int op,
			    char *out, size_t n)
{
	static const char *const ops[] = { "==", "!=", "<" };
	const struct xf_summary *s = &fr->ref;
	unsigned long long v = s->v[fi->field];
	char val[64];

	switch (fi->type) {
	case XT_PROTO:
		if (op > 1)
			return false;
		snprintf(out, n, "%s%s", op ? "not " : "", fi->name);
		return true;
	case XT_UINT:
	case XT_FLAGS:
		snprintf(val, sizeof(val), "%llu", v);
		break;
	case XT_BOOL:
		if (op == 2)
			return false; /* a flag compares with == / != only */
		snprintf(val, sizeof(val), "%d", fi->mask ? (v & fi->mask) != 0 : v != 0);
		break;
	case XT_IP4:
		if (op == 2)
			return false;
		snprintf(val, sizeof(val), "%llu.%llu.%llu.%llu", v >> 24, v >> 16 & 255,
			 v >> 8 & 255, v & 255);
		break;
	case XT_IP6: {
		uint8_t a[16];

		if (op == 2)
			return false;
		for (int i = 0; i < 8; i++) {
			a[i] = (uint8_t)(s->v[fi->field] >> (56 - 8 * i));
			a[8 + i] = (uint8_t)(s->v[fi->field + 1] >> (56 - 8 * i));
		}
		inet_ntop(AF_INET6, a, val, sizeof(val));
		break;
	}
	case XT_MAC:
		if (op == 2)
			return false;
		snprintf(val, sizeof(val), "%02llx:%02llx:%02llx:%02llx:%02llx:%02llx", v >> 40,
			 v >> 32 & 255, v >> 24 & 255, v >> 16 & 255, v >> 8 & 255, v & 255);
		break;
	default:
		return false;
	}
	if (op == 3)
		snprintf(out, n, "not %s == %s", fi->name, val);
	else
		snprintf(out, n, "%s %s %s", fi->name, ops[op], val);
	return true;
}

/* A raw-byte test on layer (0, 1, 2: l2, l3, l4) of fr at a place that
 * is in the frame, or false if the frame has no such layer. */
static bool raw_test_text(unsigned layer, const struct frame *fr, int op, uint64_t *rs, char *out,
			  size_t n)
{
	static const char *const ops[] = { "==", "!=", "<" };
	static const unsigned widths[] = { 1, 2, 4, 8 };
	unsigned f = layer == 1 ? XF_L3_OFF : XF_L4_OFF, w = widths[rnd(rs, 4)];
	uint64_t at = 0, off, v = 0;

	if (layer) {
		if (!xf_present(&fr->ref, f))
			return false;
		at = fr->ref.v[f];
	}
	if (at + w > fr->len)
		return false;
	off = rnd(rs, (uint32_t)(fr->len - at - w + 1 < 64 ? fr->len - at - w + 1 : 64));
	for (unsigned i = 0; i < w; i++)
		v = v << 8 | fr->b[at + off + i];
	if (op == 3)
		snprintf(out, n, "not l%u[%llu:%u] == %llu", layer + 2, (unsigned long long)off, w,
			 (unsigned long long)v);
	else
		snprintf(out, n, "l%u[%llu:%u] %s %llu", layer + 2, (unsigned long long)off, w,
			 ops[op], (unsigned long long)v);
	return true;
}

/* The fields a compiled match reads. */
static void match_fields(const struct xf_match *m, bool *seen)
{
	for (int c = 0; c < m->nconj; c++)
		for (int j = 0; j < m->nterms[c]; j++) {
			const struct xf_term *t = &m->t[c][j];

			if (t->kind == XF_T_RANGE && t->field < XF_FIELD_MAX)
				seen[t->field] = true;
			else if (t->kind == XF_T_LINEAR)
				for (int i = 0; i < XF_LIN_FIELDS; i++)
					seen[t->f[i] < XF_FIELD_MAX ? t->f[i] : 0] = true;
			else if (t->kind == XF_T_BYTES && t->field == XF_LAYER_L3)
				seen[XF_L3_OFF] = true;
			else if (t->kind == XF_T_BYTES && t->field == XF_LAYER_L4)
				seen[XF_L4_OFF] = true;
		}
}

/* Tests made from packet values: for every field of the language (and
 * every layer of the raw-byte tests), two frames that have it, and on each
 * F == v, F != v, F < v, not F == v with v the frame's own value. A field is
 * exercised when a rule reading it both dropped and passed frames, each
 * time as the reference says. */
static void test_eval_field_values(void **state)
{
	static const struct frame *frames[FIELD_SAMPLE + 1];
	static bool exercised[XF_FIELD_MAX];
	uint64_t rs = seed ^ 0xf1e1d;
	unsigned nrules = 0, bad = 0, missing = 0;
	char text[256], nb[48];
	struct xf_match m;
	size_t nframes = 0;

	(void)state;
	sample_build();
	eval_reports = 0;
	memset(exercised, 0, sizeof(exercised));
	for (size_t i = 0; i < FIELD_SAMPLE; i++)
		frames[nframes++] = sample[i * nsample / FIELD_SAMPLE];
	for (size_t i = 0; i < xf_nfields + 3; i++) {
		const struct xf_field_info *fi = i < xf_nfields ? &xf_fields[i] : NULL;
		unsigned layer = fi ? 0 : (unsigned)(i - xf_nfields);
		unsigned f = fi ? fi->field : (layer == 1 ? XF_L3_OFF : layer == 2 ? XF_L4_OFF : 0);
		size_t start = rnd(&rs, (uint32_t)ncorpus), npick = 0;
		const struct frame *pick[2] = { NULL, NULL };

		/* the first frame of the corpus that has the field (a base, the
		 * value meant), then the next one from a random place (a value
		 * mutations made) */
		for (size_t k = 0; k < 2 * ncorpus && npick < 2; k++) {
			const struct frame *fr = &corpus[k < ncorpus ? k : (start + k) % ncorpus];

			if ((k < ncorpus) == (npick > 0) || fr == pick[0])
				continue;
			if (!f || xf_present(&fr->ref, f))
				pick[npick++] = fr;
		}
		for (size_t k = 0; k < npick; k++) {
			const struct frame *fr = pick[k];
			bool seen[XF_FIELD_MAX] = { false };

			for (int op = 0; op < 4; op++) {
				struct eval_res r;

				if (fi ? !field_test_text(fi, fr, op, text, sizeof(text))
				       : !raw_test_text(layer, fr, op, &rs, text, sizeof(text)))
					continue;
				compile_ok(text, &m);
				frames[nframes] = fr;
				r = eval_rule(text, &m, frames, nframes + 1, false);
				nrules++;
				bad += r.bad;
				if (r.bad || !r.drops || !r.passes)
					continue;
				match_fields(&m, seen);
				for (unsigned g = 1; g < XF_FIELD_MAX; g++)
					exercised[g] |= seen[g];
			}
		}
	}
	for (unsigned f = 1; f < XF_FIELD_MAX; f++)
		if (!exercised[f]) {
			fprintf(stderr, "field %u (%s) never exercised\n", f,
				field_name(f, nb, sizeof(nb)));
			missing++;
		}
	print_message("%u generated tests x %zu frames, %u mismatches, %u fields not exercised\n",
		      nrules, nframes + 1, bad, missing);
	assert_int_equal(bad, 0);
	assert_int_equal(missing, 0);
}

/* ---- 3. actions and the table -------------------------------------------- */

static struct fb tf;        /* the frame of the test being built */

/* IPv4 from src to DST_4: TCP SYN to dport (proto 6) or UDP to dport (17). */
static const struct fb *v4(uint32_t src, unsigned proto, unsigned dport)
{
	fb_eth(&tf, "test", ETH_P_IP);
	fb_ip4(&tf, proto, src, DST_4, NULL, 0);
	if (proto == 6)
		fb_tcp(&tf, 40000, dport, TCP_SYN, NULL, 0);
	else
		fb_udp(&tf, 40000, dport);
	fb_fill(&tf, 32);
	if (proto != 6)
		fb_udp_done(&tf);
	fb_ip4_done(&tf);
	return &tf;
}

/* Compile text and publish it with action and scope. */
static uint32_t add_rule(const char *text, enum xf_action action, unsigned scope, uint32_t *gen)
{
	struct xf_rule rule = { .action = action, .scope = scope };
	uint32_t slot, g;
	int err;

	compile_ok(text, &rule.m);
	err = filtermap_add(&fm, &rule, &slot, &g);
	if (err)
		fail_msg("filtermap_add '%s': %s", text, strerror(-err));
	if (gen)
		*gen = g;
	return slot;
}

#define BOTH (XF_SCOPE_UPLINK | XF_SCOPE_PODS)

static void expect_stats(uint32_t slot, uint64_t packets, uint64_t bytes, uint64_t drops)
{
	struct xf_stats st = stats(slot);

	assert_int_equal(st.packets, packets);
	assert_int_equal(st.bytes, bytes);
	assert_int_equal(st.drops, drops);
}

static void test_action_count(void **state)
{
	const struct fb *f;
	uint32_t slot;

	(void)state;
	slot = add_rule("tcp.dport == 80", XF_ACT_COUNT, BOTH, NULL);
	f = v4(SRC_A, 6, 80);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	expect_stats(slot, 2, 2 * f->n, 0);
	f = v4(SRC_A, 6, 81);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	expect_stats(slot, 2, 2 * v4(SRC_A, 6, 80)->n, 0);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);
}

static void test_action_drop(void **state)
{
	const struct fb *f = v4(SRC_A, 17, 53);
	uint32_t slot, other, count;
	struct xdp_counter c;

	(void)state;
	slot = add_rule("udp.dport == 53", XF_ACT_DROP, BOTH, NULL);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	expect_stats(slot, 1, f->n, 1);
	c = drops_get(XDP_DROP_FILTER);
	assert_int_equal(c.packets, 1);
	assert_int_equal(c.bytes, f->n);

	/* Two drop rules and a count rule match: all three count the
	 * packet, one drop is counted, by one of the drop rules. */
	other = add_rule("ip.src == 10.0.0.1", XF_ACT_DROP, BOTH, NULL);
	count = add_rule("udp", XF_ACT_COUNT, BOTH, NULL);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	assert_int_equal(stats(slot).packets, 2);
	assert_int_equal(stats(other).packets, 1);
	expect_stats(count, 1, f->n, 0);
	assert_int_equal(stats(slot).drops + stats(other).drops, 2);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 2);
}

/* A matching pass rule wins over a drop rule, whichever is linked first
 * and whether indexed or scanned: both count the packet, nothing counts a
 * drop. */
static void test_action_pass_beats_drop(void **state)
{
	const struct fb *f = v4(SRC_A, 6, 22);
	uint32_t drop, pass, gen;

	(void)state;
	drop = add_rule("tcp.dport in {22, 23}", XF_ACT_DROP, BOTH, NULL);
	pass = add_rule("ip.src == 10.0.0.1", XF_ACT_PASS, BOTH, &gen);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	expect_stats(drop, 1, f->n, 0);
	expect_stats(pass, 1, f->n, 0);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);
	/* without the pass rule it drops */
	assert_int_equal(filtermap_del(&fm, pass, gen), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	expect_stats(drop, 2, 2 * f->n, 1);

	test_setup(NULL);
	pass = add_rule("tcp.flags.syn", XF_ACT_PASS, BOTH, NULL);
	drop = add_rule("ip.src == 10.0.0.1", XF_ACT_DROP, BOTH, NULL);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	expect_stats(drop, 1, f->n, 0);
	expect_stats(pass, 1, f->n, 0);
	assert_int_equal(tc_run(f->b, f->n, 0), TC_ACT_SHOT); /* from_pod: unknown source */
	expect_stats(drop, 2, 2 * f->n, 0);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_BOOTTIME, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* xdp_uplink repeat times on f: every run matches, those over the budget
 * drop. Returns the runs that passed. */
static uint64_t rate_burst(uint32_t slot, const struct fb *f, uint32_t repeat)
{
	struct xf_stats a = stats(slot), b;

	xdp_run_n(f->b, f->n, 0, repeat);
	b = stats(slot);
	assert_int_equal(b.packets - a.packets, repeat);
	return repeat - (b.drops - a.drops);
}

/* What GCRA lets through at 10 pps (interval 100 ms, burst 10 / 10 + 1)
 * from one budget in `since` ns: the burst, a token per interval, one for
 * the edges. A loaded machine only widens it; the bursts themselves take
 * about a millisecond. */
#define RATE_PPS 10
static uint64_t rate_allowance(uint64_t since)
{
	return RATE_PPS / 10 + 1 + since / (1000000000ULL / RATE_PPS) + 1;
}

static void test_action_rate(void **state)
{
	struct xf_rule rule = { .action = XF_ACT_RATE, .scope = BOTH, .rate_pps = RATE_PPS };
	const struct fb *f = v4(SRC_A, 17, 53);
	uint64_t passed, t0;
	uint32_t slot, gen;

	(void)state;
	compile_ok("udp.dport == 53", &rule.m);
	assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
	/* 1000 packets in far less than the 100 ms a token takes: the burst
	 * passes (the very first packet always does), the rest drops. */
	t0 = boot_ns();
	passed = rate_burst(slot, f, 1000);
	print_message("rate 10 pps: %llu of 1000 passed\n", (unsigned long long)passed);
	assert_true(passed >= 1 && passed <= rate_allowance(boot_ns() - t0));
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 1000 - passed);
	assert_int_equal(stats(slot).drops, 1000 - passed);
	/* a second later the budget is back */
	sleep(1);
	t0 = boot_ns();
	passed = rate_burst(slot, f, 1000);
	print_message("rate 10 pps, 1 s later: %llu of 1000 passed\n", (unsigned long long)passed);
	assert_true(passed >= 1 && passed <= rate_allowance(boot_ns() - t0));
}

/* Per source: each address has its own budget; per destination, two
 * sources to one address share one. */
static void test_action_rate_per_addr(void **state)
{
	struct xf_rule rule = { .action = XF_ACT_RATE, .scope = BOTH, .rate_pps = RATE_PPS,
				.rate_per = XF_RATE_SRC };
	static struct fb a, b;
	uint64_t pa, pb, ta, tb;
	uint32_t slot, gen;

	(void)state;
	a = *v4(SRC_A, 17, 53);
	b = *v4(SRC_B, 17, 53);
	compile_ok("udp.dport == 53", &rule.m);
	assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
	ta = boot_ns();
	pa = rate_burst(slot, &a, 1000);
	tb = boot_ns();
	pb = rate_burst(slot, &b, 1000);
	print_message("per source: %llu and %llu of 1000 passed\n", (unsigned long long)pa,
		      (unsigned long long)pb);
	assert_true(pa >= 1 && pa <= rate_allowance(boot_ns() - ta));
	assert_true(pb >= 1 && pb <= rate_allowance(boot_ns() - tb));
	/* A's budget is still spent */
	pa += rate_burst(slot, &a, 1000);
	assert_true(pa <= rate_allowance(boot_ns() - ta));
	assert_int_equal(filtermap_del(&fm, slot, gen), 0);

	rule.rate_per = XF_RATE_DST;
	assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
	ta = boot_ns();
	pa = rate_burst(slot, &a, 1000);
	pb = rate_burst(slot, &b, 1000);
	print_message("per destination: %llu and %llu of 1000 passed\n", (unsigned long long)pa,
		      (unsigned long long)pb);
	assert_true(pa >= 1);
	assert_true(pa + pb <= rate_allowance(boot_ns() - ta));
}

/* A rule past its expiry never matches (not even counted), indexed or
 * scanned; one before it does. */
static void test_expiry(void **state)
{
	static const char *const texts[] = { "ip.src == 10.0.0.1", "udp.dport in {53, 54}" };
	const struct fb *f = v4(SRC_A, 17, 53);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct xf_rule rule = { .action = XF_ACT_DROP, .scope = BOTH };
		uint32_t slot, gen;

		compile_ok(texts[i], &rule.m);
		rule.expire_ns = boot_ns() - 1000000000ULL;
		assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
		assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
		expect_stats(slot, 0, 0, 0);
		assert_int_equal(filtermap_del(&fm, slot, gen), 0);

		rule.expire_ns = boot_ns() + 3600 * 1000000000ULL;
		assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
		assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
		expect_stats(slot, 1, f->n, 1);
		assert_int_equal(filtermap_del(&fm, slot, gen), 0);
	}
}

/* A rule acts only where its scope says: the uplink (xdp_uplink) or pods
 * (pod_entry). Indexed and scanned rules alike. */
static void test_scope(void **state)
{
	static const char *const texts[] = { "ip.src == 10.0.0.1", "udp.dport in {53, 54}" };
	const struct fb *f = v4(SRC_A, 17, 53);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		uint32_t slot, gen;

		drops_zero();
		slot = add_rule(texts[i], XF_ACT_DROP, XF_SCOPE_UPLINK, &gen);
		assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
		/* pod_entry: not the filter; from_pod drops the unknown source */
		assert_int_equal(tc_run(f->b, f->n, 5), TC_ACT_SHOT);
		expect_stats(slot, 1, f->n, 1);
		assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 1);
		assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 1);
		assert_int_equal(filtermap_del(&fm, slot, gen), 0);

		drops_zero();
		slot = add_rule(texts[i], XF_ACT_DROP, XF_SCOPE_PODS, &gen);
		assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
		assert_int_equal(tc_run(f->b, f->n, 5), TC_ACT_SHOT);
		expect_stats(slot, 1, f->n, 1);
		assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 1);
		assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 0);
		assert_int_equal(filtermap_del(&fm, slot, gen), 0);
	}
}

/* An interface other than lo, for XDP test_run's ingress_ifindex (which
 * must exist); 0 if there is none. */
static unsigned other_ifindex(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	unsigned found = 0;

	for (i = ifs; i && i->if_index; i++)
		if (i->if_index != 1) {
			found = i->if_index;
			break;
		}
	if (ifs)
		if_freenameindex(ifs);
	return found;
}

/* A rule with an ifindex acts only on packets that came in there. */
static void test_ifindex(void **state)
{
	const struct fb *f = v4(SRC_A, 17, 53);
	struct xf_rule rule = { .action = XF_ACT_DROP, .scope = BOTH, .ifindex = 1 };
	unsigned other = other_ifindex();
	uint32_t slot, gen;

	(void)state;
	compile_ok("udp.dport == 53", &rule.m);
	assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
	assert_int_equal(xdp_run_n(f->b, f->n, 1, 1), XDP_DROP);
	if (other)
		assert_int_equal(xdp_run_n(f->b, f->n, other, 1), XDP_PASS);
	drops_zero();
	assert_int_equal(tc_run(f->b, f->n, 1), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 1);
	assert_int_equal(tc_run(f->b, f->n, 2), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 1); /* from_pod's drop */
	expect_stats(slot, 2, 2 * f->n, 2);
	assert_int_equal(filtermap_del(&fm, slot, gen), 0);

	/* the other way round: a rule for an interface the packet is not on */
	rule.ifindex = other ? other : 0x7ffffff0;
	assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
	assert_int_equal(xdp_run_n(f->b, f->n, 1, 1), XDP_PASS);
	if (other)
		assert_int_equal(xdp_run_n(f->b, f->n, other, 1), XDP_DROP);
	drops_zero();
	assert_int_equal(tc_run(f->b, f->n, 1), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);
	assert_int_equal(tc_run(f->b, f->n, rule.ifindex), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 1);
}

/* An exact test on an indexed field goes to the index: one bucket. */
static void test_index(void **state)
{
	const struct fb *f;
	uint32_t slot, count;

	(void)state;
	slot = add_rule("ip.src == 10.0.0.1", XF_ACT_DROP, BOTH, NULL);
	assert_true(fm.slot[slot].indexed);
	assert_int_equal(fm.slot[slot].field, XF_IP_SRC);
	assert_int_equal(fm.slot[slot].key, SRC_A);
	assert_true(cfg_get().idx_fields & (1ULL << XF_IP_SRC));
	assert_int_equal(cfg_get().scan_scope, 0);
	f = v4(SRC_A, 6, 80);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	f = v4(SRC_B, 6, 80);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	expect_stats(slot, 1, f->n, 1);

	/* a port, with an extra test that is evaluated after the probe */
	slot = add_rule("tcp.dport == 8080 and tcp.flags.syn", XF_ACT_DROP, BOTH, NULL);
	assert_true(fm.slot[slot].indexed);
	assert_int_equal(fm.slot[slot].field, XF_TCP_DPORT);
	f = v4(SRC_B, 6, 8080);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	f = v4(SRC_B, 17, 8080);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);

	/* One packet hits the bucket of a rule that is just its index test
	 * and one of a rule with more tests: each matching rule counts it
	 * once, however the program gets to them. */
	test_setup(NULL);
	count = add_rule("ip.src == 10.0.0.9", XF_ACT_COUNT, BOTH, NULL);
	slot = add_rule("tcp.dport == 8080 and tcp.flags.syn", XF_ACT_COUNT, BOTH, NULL);
	f = v4(SRC_B, 6, 8080);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	assert_int_equal(tc_run(f->b, f->n, 3), TC_ACT_SHOT); /* from_pod: unknown source */
	expect_stats(count, 2, 2 * f->n, 0);
	expect_stats(slot, 2, 2 * f->n, 0);
	f = v4(SRC_B, 6, 8081);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	expect_stats(count, 3, 3 * f->n, 0);
	expect_stats(slot, 2, 2 * f->n, 0);
}

/* The table holds XF_MAX_RULES rules, all indexed on distinct sources,
 * all working; one more is -ENOSPC. */
static void test_index_full(void **state)
{
	static const uint32_t check[] = { 0, 1, 511, 777, XF_MAX_RULES - 1 };
	struct xf_rule rule = { .action = XF_ACT_DROP, .scope = BOTH };
	char text[64];
	uint32_t slot, gen;
	const struct fb *f;

	(void)state;
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		snprintf(text, sizeof(text), "ip.src == 10.1.%u.%u", i >> 8, i & 255);
		compile_ok(text, &rule.m);
		assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), 0);
		assert_true(fm.slot[slot].indexed);
	}
	assert_int_equal(fm.nrules, XF_MAX_RULES);
	assert_int_equal(cfg_get().nrules, XF_MAX_RULES);
	compile_ok("ip.src == 10.2.0.1", &rule.m);
	assert_int_equal(filtermap_add(&fm, &rule, &slot, &gen), -ENOSPC);
	for (size_t i = 0; i < ARRAY_SIZE(check); i++) {
		f = v4(IP4(10, 1, check[i] >> 8, check[i] & 255), 17, 53);
		assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	}
	f = v4(IP4(10, 1, 4, 0), 17, 53);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	f = v4(SRC_A, 17, 53);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
}

/* A full bucket sends the next rule with its key to the scan list. */
static void test_index_bucket_full(void **state)
{
	uint32_t slots[XF_BUCKET_MAX + 1], gens[XF_BUCKET_MAX + 1];
	const struct fb *f = v4(SRC_A, 17, 53);

	(void)state;
	for (int i = 0; i <= XF_BUCKET_MAX; i++) {
		slots[i] = add_rule("ip.src == 10.0.0.1", i ? XF_ACT_COUNT : XF_ACT_DROP, BOTH,
				    &gens[i]);
		assert_int_equal(fm.slot[slots[i]].indexed, i < XF_BUCKET_MAX);
	}
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	for (int i = 0; i <= XF_BUCKET_MAX; i++)
		assert_int_equal(stats(slots[i]).packets, 1);
	assert_int_equal(filtermap_del(&fm, slots[0], gens[0]), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	assert_int_equal(stats(slots[XF_BUCKET_MAX]).packets, 2);
}

/* A set of ports is not one key: scanned, and both ports work. */
static void test_scan(void **state)
{
	const struct fb *f;
	uint32_t slot;

	(void)state;
	slot = add_rule("tcp.dport in {22, 80}", XF_ACT_DROP, BOTH, NULL);
	assert_false(fm.slot[slot].indexed);
	assert_int_equal(cfg_get().scan_scope, BOTH);
	assert_int_equal(cfg_get().idx_fields, 0);
	f = v4(SRC_A, 6, 22);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	f = v4(SRC_A, 6, 80);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	expect_stats(slot, 2, 2 * f->n, 2);
	f = v4(SRC_A, 6, 443);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	f = v4(SRC_A, 17, 80);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	assert_int_equal(stats(slot).packets, 2);
}

/* A free slot, away from the round robin's next one. */
static uint32_t free_slot(void)
{
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		uint32_t s = (fm.next + XF_MAX_RULES / 2 + i) % XF_MAX_RULES;

		if (!fm.slot[s].gen)
			return s;
	}
	fail_msg("no free slot");
	return 0;
}

/* A reference whose gen is not the slot's is ignored, in the scan list
 * and in a bucket; with the right gen the same crafted entries work. */
static void test_gen_mismatch(void **state)
{
	struct xf_rule rule = { .action = XF_ACT_DROP, .scope = BOTH };
	struct xf_cfg c = { .nrules = 1, .scan_scope = BOTH };
	struct xf_idx_key key = { .field = XF_IP_SRC, .value = SRC_A };
	const struct fb *f = v4(SRC_A, 17, 53);
	struct xf_bucket bucket = { .n = 1 };
	struct xf_scan *scan = calloc(1, sizeof(*scan));
	uint32_t zero = 0, slot = free_slot();
	struct xf_rule empty = { 0 };

	(void)state;
	assert_non_null(scan);
	compile_ok("udp.dport == 53", &rule.m);
	rule.gen = fm.last_gen + 1000;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_rules), &slot, &rule, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_cfg), &zero, &c, BPF_ANY), 0);

	scan->n = 1;
	scan->r[0] = (struct xf_ref){ .slot = (uint16_t)slot, .gen = rule.gen + 1 };
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_scan), &zero, scan, BPF_ANY), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	scan->r[0].gen = rule.gen;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_scan), &zero, scan, BPF_ANY), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	scan->n = 0;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_scan), &zero, scan, BPF_ANY), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);

	c.scan_scope = 0;
	c.idx_fields = 1ULL << XF_IP_SRC;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_cfg), &zero, &c, BPF_ANY), 0);
	bucket.r[0] = (struct xf_ref){ .slot = (uint16_t)slot, .gen = rule.gen - 1 };
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_index), &key, &bucket, BPF_ANY), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	bucket.r[0].gen = rule.gen;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_index), &key, &bucket, BPF_ANY), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);

	/* an empty slot (gen 0) is never a rule, whatever names it */
	rule.gen = 0;
	bucket.r[0].gen = 0;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_rules), &slot, &rule, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_index), &key, &bucket, BPF_ANY), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);

	/* undo behind filtermap's back what was done behind its back */
	assert_int_equal(bpf_map_delete_elem(MAPFD(xu, xdp_filter_index), &key), 0);
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_rules), &slot, &empty, BPF_ANY), 0);
	cfg_restore();
	free(scan);
}

/* Deleting a rule stops it, and the config goes back to no rules. */
static void test_delete(void **state)
{
	const struct fb *f = v4(SRC_A, 6, 80);
	uint32_t a, b, ga, gb;

	(void)state;
	a = add_rule("tcp.dport == 80", XF_ACT_DROP, BOTH, &ga);
	b = add_rule("tcp.dport in {80, 81}", XF_ACT_DROP, BOTH, &gb);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	assert_int_equal(filtermap_del(&fm, a, ga), 0);
	assert_int_equal(filtermap_del(&fm, a, ga), -ENOENT);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	assert_int_equal(filtermap_del(&fm, b, gb), 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	assert_int_equal(stats(a).packets, 1);
	assert_int_equal(stats(b).packets, 2);
	assert_int_equal(cfg_get().nrules, 0);
	assert_int_equal(cfg_get().idx_fields, 0);
	assert_int_equal(cfg_get().scan_scope, 0);
}

/* An agent restart: filtermap_init over the same maps finds the same
 * rules in the same slots with the same gens, clears a slot written but
 * never linked, and the rules keep working; new gens never repeat one. */
static void test_rebuild(void **state)
{
	static struct filtermap old;
	struct xf_rule rule = { .action = XF_ACT_DROP, .scope = BOTH }, back;
	uint32_t slot, gen, orphan, shift = fm.sample_shift;
	const struct fb *f;

	(void)state;
	add_rule("ip.src == 10.0.0.1", XF_ACT_DROP, XF_SCOPE_UPLINK, NULL);
	add_rule("tcp.dport in {22, 80}", XF_ACT_DROP, BOTH, NULL);
	add_rule("udp", XF_ACT_COUNT, XF_SCOPE_PODS, NULL);
	add_rule("ip.src == 10.0.0.9 and udp", XF_ACT_PASS, BOTH, NULL);
	add_rule("tcp.opt.mss < 500", XF_ACT_DROP, BOTH, NULL);
	assert_int_equal(filtermap_set_sampling(&fm, 3), 0);
	orphan = free_slot();
	compile_ok("udp.dport == 53", &rule.m);
	rule.gen = fm.last_gen + 7;
	assert_int_equal(bpf_map_update_elem(MAPFD(xu, xdp_filter_rules), &orphan, &rule, BPF_ANY), 0);

	old = fm;
	assert_int_equal(fm_init(), 0);
	assert_int_equal(fm.nrules, old.nrules);
	assert_int_equal(fm.sample_shift, 3);
	for (uint32_t i = 0; i < XF_MAX_RULES; i++) {
		assert_int_equal(fm.slot[i].gen, old.slot[i].gen);
		if (!old.slot[i].gen)
			continue;
		assert_int_equal(fm.slot[i].indexed, old.slot[i].indexed);
		assert_int_equal(fm.slot[i].scope, old.slot[i].scope);
		assert_int_equal(fm.slot[i].need, old.slot[i].need);
		if (old.slot[i].indexed) {
			assert_int_equal(fm.slot[i].field, old.slot[i].field);
			assert_int_equal(fm.slot[i].key, old.slot[i].key);
		}
	}
	assert_int_equal(bpf_map_lookup_elem(MAPFD(xu, xdp_filter_rules), &orphan, &back), 0);
	assert_int_equal(back.gen, 0);
	assert_int_equal(cfg_get().nrules, old.nrules);
	assert_int_equal(cfg_get().need, XF_NEED_TCP_OPTS);

	f = v4(SRC_A, 17, 53);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	f = v4(SRC_B, 6, 22);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	f = v4(SRC_B, 17, 22);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);
	f = v4(SRC_B, 17, 53);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);

	slot = add_rule("udp.dport == 53", XF_ACT_DROP, BOTH, &gen);
	assert_true(gen > rule.gen);
	assert_int_equal(old.slot[slot].gen, 0);
	assert_int_equal(xdp_run(f->b, f->n), XDP_PASS);   /* the pass rule wins */
	f = v4(IP4(10, 0, 0, 3), 17, 53);
	assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	assert_int_equal(filtermap_set_sampling(&fm, shift), 0);
}

struct ring_ctx {
	struct xf_event ev[16];
	int n;
};

static int ring_cb(void *ctx, void *data, size_t size)
{
	struct ring_ctx *r = ctx;

	if (size >= sizeof(struct xf_event) && r->n < (int)ARRAY_SIZE(r->ev))
		memcpy(&r->ev[r->n], data, sizeof(struct xf_event));
	r->n++;
	return 0;
}

static void expect_event(const struct xf_event *e, uint32_t slot, uint32_t gen, unsigned at,
			 uint32_t ifindex, const struct fb *f)
{
	uint32_t cap = f->n < XF_SAMPLE_BYTES ? f->n : XF_SAMPLE_BYTES;

	assert_int_equal(e->slot, slot);
	assert_int_equal(e->gen, gen);
	assert_int_equal(e->at, at);
	assert_int_equal(e->action, XF_ACT_DROP);
	assert_int_equal(e->ifindex, ifindex);
	assert_int_equal(e->len, f->n);
	assert_int_equal(e->caplen, cap);
	assert_memory_equal(e->data, f->b, cap);
	assert_true(e->ts_ns > 0);
}

/* Sampled drops reach the ring: every one with shift 0, 1 in 2 with 1. */
static void test_sample_ring(void **state)
{
	struct ring_ctx *rc = calloc(1, sizeof(*rc));
	uint32_t shift = fm.sample_shift;
	struct ring_buffer *rb;
	static struct fb big;
	uint32_t slot, gen;
	const struct fb *f;

	(void)state;
	assert_non_null(rc);
	rb = ring_buffer__new(MAPFD(xu, xdp_filter_events), ring_cb, rc, NULL);
	assert_non_null(rb);
	assert_true(ring_buffer__consume(rb) >= 0);   /* earlier tests' drops */
	rc->n = 0;
	assert_int_equal(filtermap_set_sampling(&fm, 0), 0);
	slot = add_rule("udp.dport == 53", XF_ACT_DROP, BOTH, &gen);

	f = v4(SRC_A, 17, 53);
	assert_int_equal(xdp_run_n(f->b, f->n, 1, 1), XDP_DROP);
	assert_int_equal(ring_buffer__consume(rb), 1);
	assert_int_equal(rc->n, 1);
	expect_event(&rc->ev[0], slot, gen, XF_AT_UPLINK, 1, f);

	/* longer than a sample: the first XF_SAMPLE_BYTES bytes */
	fb_eth(&big, "big", ETH_P_IP);
	fb_ip4(&big, 17, SRC_A, DST_4, NULL, 0);
	fb_udp(&big, 1, 53);
	fb_fill(&big, 300);
	fb_udp_done(&big);
	fb_ip4_done(&big);
	rc->n = 0;
	assert_int_equal(tc_run(big.b, big.n, 42), TC_ACT_SHOT);
	assert_int_equal(ring_buffer__consume(rb), 1);
	expect_event(&rc->ev[0], slot, gen, XF_AT_POD, 42, &big);

	/* 1 in 2 per CPU: the 1st, 3rd, ... drop of the rule */
	assert_int_equal(filtermap_set_sampling(&fm, 1), 0);
	slot = add_rule("udp.dport == 54", XF_ACT_DROP, BOTH, &gen);
	f = v4(SRC_A, 17, 54);
	rc->n = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(xdp_run(f->b, f->n), XDP_DROP);
	assert_int_equal(ring_buffer__consume(rb), 5);
	assert_int_equal(rc->n, 5);
	assert_int_equal(rc->ev[4].slot, slot);
	assert_int_equal(filtermap_set_sampling(&fm, shift), 0);
	ring_buffer__free(rb);
	free(rc);
}

/* A pods rule drops in pod_entry, counted as a filter drop. */
static void test_pod_entry_drop(void **state)
{
	const struct fb *f = v4(SRC_A, 17, 53);
	struct xdp_counter c;
	uint32_t slot;

	(void)state;
	slot = add_rule("udp.dport == 53 and ip.src == 10.0.0.0/24", XF_ACT_DROP, XF_SCOPE_PODS,
			NULL);
	assert_int_equal(tc_run(f->b, f->n, 7), TC_ACT_SHOT);
	expect_stats(slot, 1, f->n, 1);
	c = drops_get(XDP_DROP_FILTER);
	assert_int_equal(c.packets, 1);
	assert_int_equal(c.bytes, f->n);
	assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 0);
	assert_int_equal(drops_get(XDP_DROP_NO_PROG).packets, 0);
}

/* With no rule (or none matching) pod_entry hands the packet to from_pod,
 * whose verdict it is: an unknown source is a spoof drop, ARP goes to the
 * stack. */
static void test_pod_entry_tail_call(void **state)
{
	const struct fb *f = v4(IP4(10, 9, 9, 9), 17, 53);
	static struct fb arp;

	(void)state;
	assert_int_equal(cfg_get().nrules, 0);
	assert_int_equal(tc_run(f->b, f->n, 7), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 1);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);
	assert_int_equal(drops_get(XDP_DROP_NO_PROG).packets, 0);

	add_rule("udp.dport == 54", XF_ACT_DROP, XF_SCOPE_PODS, NULL);
	assert_int_equal(tc_run(f->b, f->n, 7), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 2);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);

	for (unsigned i = 0; i < nbases; i++)
		if (!strcmp(bases[i].name, "arp-request"))
			arp = bases[i];
	assert_int_equal(tc_run(arp.b, arp.n, 7), TC_ACT_OK);
	assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 2);
}

/* Without from_pod in the prog array pod_entry fails closed. */
static void test_pod_entry_no_prog(void **state)
{
	const struct fb *f = v4(IP4(10, 9, 9, 9), 17, 53);
	uint32_t key = XDP_POD_PROG_MAIN;

	(void)state;
	assert_int_equal(bpf_map_delete_elem(MAPFD(pe, xdp_pod_progs), &key), 0);
	assert_int_equal(tc_run(f->b, f->n, 7), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_NO_PROG).packets, 1);
	assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 0);
	assert_int_equal(drops_get(XDP_DROP_FILTER).packets, 0);
	assert_int_equal(prog_array_set(), 0);
	assert_int_equal(tc_run(f->b, f->n, 7), TC_ACT_SHOT);
	assert_int_equal(drops_get(XDP_DROP_SPOOF_IP).packets, 1);
}

/* ---- 4. verifier cost ---------------------------------------------------- */

static uint32_t verified_insns(const struct bpf_program *p)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len), 0);
	return info.verified_insns;
}

static void test_verified_insns(void **state)
{
	(void)state;
	print_message("verified_insns: xdp_uplink %u, pod_entry %u, from_pod %u\n",
		      verified_insns(xu->progs.xdp_uplink), verified_insns(pe->progs.pod_entry),
		      verified_insns(fp->progs.from_pod));
}

/* ---- main ---------------------------------------------------------------- */

static void cleanup(void)
{
	pin_dir_remove();
}

#define T(f) cmocka_unit_test_setup(f, test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_corpus_size),
		T(test_summary_layout),
		T(test_summary_xdp_uplink),
		T(test_summary_pod_entry),
		T(test_summary_need),
		T(test_eval_rules),
		T(test_eval_field_values),
		T(test_action_count),
		T(test_action_drop),
		T(test_action_pass_beats_drop),
		T(test_action_rate),
		T(test_action_rate_per_addr),
		T(test_expiry),
		T(test_scope),
		T(test_ifindex),
		T(test_index),
		T(test_index_full),
		T(test_index_bucket_full),
		T(test_scan),
		T(test_gen_mismatch),
		T(test_delete),
		T(test_rebuild),
		T(test_sample_ring),
		T(test_pod_entry_drop),
		T(test_pod_entry_tail_call),
		T(test_pod_entry_no_prog),
		T(test_verified_insns),
	};
	const char *s = getenv("XDPT_FLT_SEED");

	if (geteuid() != 0) {
		fprintf(stderr, "test_bpf_filter: must run as root (BPF, bpffs)\n");
		return 1;
	}
	/* Another corpus for exploring; the default one is what CI runs. */
	if (s)
		seed = strtoull(s, NULL, 0);
	atexit(cleanup);
	fatal_signals();
#ifdef __SANITIZE_ADDRESS__
	/* a sanitizer report ends the process without atexit or a signal */
	__sanitizer_set_death_callback(cleanup);
#endif
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
