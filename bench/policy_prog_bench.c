/* policy_prog_bench: per-packet cost of the NetworkPolicy check in from_pod
 * (bpf/lib/policy.h) under BPF_PROG_TEST_RUN, against the number of allow
 * entries in the policy maps.
 *
 * Bench mode (default): loads the from_pod skeleton with its maps pinned
 * under a fresh directory /sys/fs/bpf/xdpath-polbench-XXXXXX (bpffs is
 * mounted there first if it is not; the pins and the directory are removed
 * at exit, on errors and on SIGINT/SIGTERM/SIGHUP) and fills them:
 *   xdp_config     XDP_CFG_F_READY | XDP_CFG_F_POLICY, native mode
 *   xdp_endpoints  A 10.1.0.10, B 10.1.0.20, C 10.1.0.30, ready, each on a
 *                  made-up host ifindex (test_run takes any ingress_ifindex;
 *                  the redirect helpers only record their target)
 *   xdp_ep_policy  A and C ready, B ready and ingress-isolated
 *   xdp_ipcache_host A, B, C /32 -> their identities
 *   xdp_policy     B ingress: A's identity, TCP 80 (the only real allow)
 * plus N filler entries (fill_key(): distinct identities, four entries per
 * identity, half of them for B and half for 64 other endpoints, one in
 * eight egress, single TCP/UDP ports, aligned 16-port blocks and any-port
 * entries) and an ipcache /32 in 172.16.0.0/12 for each filler identity.
 * xdp_pol_cidr (ipBlock peers) stays empty: its lookup is on every denied
 * packet's path but does not grow with N here.
 *
 * Packet kinds, all IPv4 TCP from_pod on A's (or C's) host veth:
 *   off   A -> B:80 SYN with XDP_CFG_F_POLICY clear: the reference
 *   syn   A -> B:80 SYN: always meets the policy (reply-ct miss, A's
 *         egress (not isolated) and B's ingress: ipcache + xdp_policy
 *         lookups, ct refresh)
 *   ack   A -> B:80 ACK of the tracked connection: conntrack fast path
 *   deny  C -> B:80 SYN: every lookup misses (identity, XDP_ID_ANY, CIDR),
 *         dropped
 * Verdicts are checked before the measurements (syn/ack/off redirect,
 * deny and SYN to port 81 dropped as XDP_DROP_POLICY, the ACK passes by
 * conntrack alone once A's allow entry is gone) and on every test_run call.
 *
 * test_run runs the program `repeat` times on ONE skb, and from_pod
 * rewrites what it delivers: the TTL goes down by one per run (at TTL 1 the
 * packet would go to the stack instead) and the MACs are rewritten (a second
 * run would fail the anti-spoofing check). So frames start at TTL 255, each
 * call runs CHUNK (250) times, and B's MACs are A's gateway/pod MACs swapped,
 * which makes the rewrite write the same bytes (same work, same frame). The
 * kernel times the loop itself (syscall and skb setup excluded) and reports
 * whole ns per run; a sample is the mean over its calls.
 *
 * For each repeat every size is measured once (ascending on even repeats,
 * descending on odd ones; the filler is added or deleted in between, same
 * program and maps throughout), each kind once per size (their order
 * rotates between repeats). The table shows medians, [min-max] over
 * repeats, ratios against N=0 of the same kind (ratio of the medians, and
 * "paired": the median of the per-repeat ratios, which cancels slow drifts
 * of a shared machine) and against "off" at the same N. The target:
 * the largest N (100000) within +10% of N=0; exit status 0 either way, 1
 * only if something failed (a check, a load, a test_run call).
 *
 * Options (environment in brackets):
 *   --sizes 0,100,10000,100000   [BENCH_POL_SIZES]
 *   --repeats 9                  [BENCH_POL_PROG_REPEATS]
 *   --packets 200000             packets per sample [BENCH_POL_PACKETS]
 *   --cpu N                      pin to a CPU [BENCH_POL_PROG_CPU]
 *   --json FILE                  every sample and the summary [BENCH_POL_PROG_JSON]
 *
 * Injector modes (for bench/policy_rr_bench.py), on a live agent's pins:
 *   --fill PIN_ROOT N SERVER_IP  add the N filler entries (SERVER_IP's
 *                                endpoint plays B) and their ipcache /32s
 *   --count PIN_ROOT             count xdp_policy / xdp_ipcache_host entries,
 *                                and how many of them are filler
 * Needs root. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include "benchutil.h"
#include "from_pod.skel.h"
#include "xdpath/datapath.h"
#include "xdpath/policy.h"

#define CHUNK         250        /* runs per test_run call: TTL 255 stays > 1 */
#define TTL_START     255
#define MAX_FRAME     256
#define MAX_SIZES     16
#define MAX_REPEATS   1000

#define EP_A          11         /* ep_id = host ifindex, made up */
#define EP_B          12
#define EP_C          13
#define ID_A          1000
#define ID_B          1001
#define ID_C          1002
#define PORT_ALLOWED  80
#define PORT_OTHER    81
#define SPORT         40000

#define FILL_ID_BASE  0x10000000u /* far above what the agent allocates */
#define FILL_EP_BASE  0x00100000u
#define FILL_EPS      64
#define FILL_NET      0xac100000u /* 172.16.0.0/12: the filler identities' /32s */
#define FILL_PER_ID   4
#define FILL_MAX      (1u << 20)  /* FILL_NET's size; the maps hold less anyway */

static const char *addr_a = "10.1.0.10", *addr_b = "10.1.0.20", *addr_c = "10.1.0.30";
static const uint8_t gw_a_mac[6]  = { 0x02, 0x0b, 0x00, 0x00, 0x01, 0x0a };
static const uint8_t pod_a_mac[6] = { 0x02, 0x0b, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t gw_c_mac[6]  = { 0x02, 0x0b, 0x00, 0x00, 0x01, 0x1e };
static const uint8_t pod_c_mac[6] = { 0x02, 0x0b, 0x00, 0x00, 0x00, 0x1e };

enum kind { K_OFF, K_SYN, K_ACK, K_DENY, K_MAX };

static const char *const kind_name[K_MAX] = { "off", "syn", "ack", "deny" };
static const char *const kind_what[K_MAX] = {
	"A->B SYN, XDP_CFG_F_POLICY clear (reference)",
	"A->B:80 SYN, allowed (reply-ct miss, ipcache + xdp_policy lookups, ct refresh)",
	"A->B:80 ACK, tracked connection (conntrack fast path)",
	"C->B:80 SYN, denied (identity, XDP_ID_ANY and CIDR lookups miss)",
};

static struct from_pod *fp;
static int ncpus;

static void cleanup(void)
{
	from_pod__destroy(fp);
	fp = NULL;
	bench_pin_dir_remove();
}

/* ---- map contents ---------------------------------------------------------------- */

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "policy_prog_bench: bad IPv4 address %s\n", s);
		exit(2);
	}
	return a.s_addr; /* network order */
}

static struct xdp_cidr_key host_key(uint32_t addr)
{
	struct xdp_cidr_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_CIDR_PREFIX(32);
	k.family = XDP_EP_FAMILY_V4;
	memcpy(k.addr, &addr, 4);
	return k;
}

/* Filler entry i (0-based). Identity FILL_ID_BASE + i / 4; odd i belong to
 * B (ep_b), even i to one of FILL_EPS other endpoints; one in eight is
 * egress; the kind rotates per pair: one TCP port, one UDP port, an
 * aligned block of 16 TCP ports, every TCP port. Keys are unique. */
static void fill_key(uint32_t i, uint32_t ep_b, struct xdp_pol_key *k)
{
	uint16_t port = 1024 + (i * 7919u) % 60000;

	memset(k, 0, sizeof(*k));
	k->ep_id = i & 1 ? ep_b : FILL_EP_BASE + (i >> 1) % FILL_EPS;
	k->dir = i % 8 == 7 ? XDP_DIR_EGRESS : XDP_DIR_INGRESS;
	k->identity = FILL_ID_BASE + i / FILL_PER_ID;
	switch ((i >> 1) & 3) {
	case 0:
		k->prefixlen = XDP_POL_PREFIX_PORT;
		k->proto = IPPROTO_TCP;
		k->dport = htons(port);
		break;
	case 1:
		k->prefixlen = XDP_POL_PREFIX_PORT;
		k->proto = IPPROTO_UDP;
		k->dport = htons(port);
		break;
	case 2:
		k->prefixlen = XDP_POL_PREFIX_BLOCK(4);
		k->proto = IPPROTO_TCP;
		k->dport = htons(port & ~15u);
		break;
	default:
		k->prefixlen = XDP_POL_PREFIX_ANY_PORT;
		k->proto = IPPROTO_TCP;
		break;
	}
}

static uint32_t fill_ids(uint32_t n)
{
	return (n + FILL_PER_ID - 1) / FILL_PER_ID;
}

/* Grow or shrink the filler from *cur to n entries (entries [0, n) present). */
static int fill_to(int pol_fd, int ipc_fd, uint32_t ep_b, uint32_t *cur, uint32_t n)
{
	struct xdp_pol_val v = { .rule_cookie = 0xf111 };
	struct xdp_pol_key k;

	if (n > FILL_MAX)
		return bench_fail("filler size", E2BIG);
	for (uint32_t j = fill_ids(*cur); j < fill_ids(n); j++) {
		struct xdp_cidr_key ck = host_key(htonl(FILL_NET + j));
		struct xdp_ipcache_val iv = { .identity = FILL_ID_BASE + j };

		if (bpf_map_update_elem(ipc_fd, &ck, &iv, BPF_ANY))
			return bench_fail("ipcache filler", errno);
	}
	for (uint32_t i = *cur; i < n; i++) {
		fill_key(i, ep_b, &k);
		if (bpf_map_update_elem(pol_fd, &k, &v, BPF_ANY))
			return bench_fail("policy filler", errno);
	}
	for (uint32_t i = n; i < *cur; i++) {
		fill_key(i, ep_b, &k);
		if (bpf_map_delete_elem(pol_fd, &k))
			return bench_fail("delete policy filler", errno);
	}
	for (uint32_t j = fill_ids(n); j < fill_ids(*cur); j++) {
		struct xdp_cidr_key ck = host_key(htonl(FILL_NET + j));

		if (bpf_map_delete_elem(ipc_fd, &ck))
			return bench_fail("delete ipcache filler", errno);
	}
	*cur = n;
	return 0;
}

#define FD(name) bpf_map__fd(fp->maps.name)

static int config_set(int policy)
{
	struct xdp_config c;
	uint32_t zero = 0;

	memset(&c, 0, sizeof(c));
	c.flags = XDP_CFG_F_READY | (policy ? XDP_CFG_F_POLICY : 0);
	c.mode = XDP_MODE_NATIVE;
	c.uplink_ifindex = 1;
	c.tunnel_ifindex = 1;
	c.node_ip4 = ip4("192.168.99.1");
	if (bpf_map_update_elem(FD(xdp_config), &zero, &c, BPF_ANY))
		return bench_fail("xdp_config", errno);
	return 0;
}

static int ep_add(const char *addr, uint32_t ep_id, const uint8_t *host_mac,
		  const uint8_t *pod_mac, uint32_t identity, uint32_t pol_flags)
{
	uint32_t a = ip4(addr);
	struct xdp_ep_key k;
	struct xdp_ep_info v;
	struct xdp_cidr_key ck = host_key(a);
	struct xdp_ipcache_val iv = { .identity = identity };
	/* B's filler has 16-port blocks both ways: the agent would set that
	 * size in B's mask, and so the datapath looks it up (for every N). */
	struct xdp_ep_pol pv = { .flags = pol_flags, .generation = 1,
				 .blocks = { ep_id == EP_B ? 1u << 3 : 0, ep_id == EP_B ? 1u << 3 : 0 } };

	memset(&k, 0, sizeof(k));
	k.family = XDP_EP_FAMILY_V4;
	memcpy(k.addr, &a, 4);
	memset(&v, 0, sizeof(v));
	v.host_ifindex = ep_id;
	v.pod_ifindex = 2;
	memcpy(v.host_mac, host_mac, 6);
	memcpy(v.pod_mac, pod_mac, 6);
	v.ep_id = ep_id;
	v.flags = XDP_EP_F_READY;
	if (bpf_map_update_elem(FD(xdp_endpoints), &k, &v, BPF_ANY) ||
	    bpf_map_update_elem(FD(xdp_ipcache_host), &ck, &iv, BPF_ANY) ||
	    bpf_map_update_elem(FD(xdp_ep_policy), &ep_id, &pv, BPF_ANY))
		return bench_fail(addr, errno);
	return 0;
}

static int allow_a(int add)
{
	struct xdp_pol_key k;
	struct xdp_pol_val v = { .rule_cookie = 1 };

	memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_POL_PREFIX_PORT;
	k.ep_id = EP_B;
	k.dir = XDP_DIR_INGRESS;
	k.identity = ID_A;
	k.proto = IPPROTO_TCP;
	k.dport = htons(PORT_ALLOWED);
	if (add ? bpf_map_update_elem(FD(xdp_policy), &k, &v, BPF_ANY)
		: bpf_map_delete_elem(FD(xdp_policy), &k))
		return bench_fail("A's allow entry", errno);
	return 0;
}

/* A, B, C as in the header. B's MACs are A's swapped: delivering A's frame
 * to B writes the bytes it already has, so the same skb passes the
 * anti-spoofing check on every run of a test_run loop. */
static int fixture(void)
{
	if (config_set(1) ||
	    ep_add(addr_a, EP_A, gw_a_mac, pod_a_mac, ID_A, XDP_EP_POL_READY) ||
	    ep_add(addr_b, EP_B, pod_a_mac, gw_a_mac, ID_B,
		   XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED) ||
	    ep_add(addr_c, EP_C, gw_c_mac, pod_c_mac, ID_C, XDP_EP_POL_READY))
		return -1;
	return allow_a(1);
}

/* ---- frames and runs ------------------------------------------------------------ */

static uint16_t ip_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Ethernet + IPv4 (TTL_START) + TCP with flags and 64 bytes of payload,
 * what a sockperf ping-pong message looks like. The TCP checksum is not
 * filled in: nothing on this path checks it. */
static uint32_t tcp_frame(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
			  const char *dst, uint16_t dport, uint8_t flags)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct iphdr *ip = (struct iphdr *)(buf + ETH_HLEN);
	struct tcphdr *th = (struct tcphdr *)(ip + 1);
	uint32_t saddr = ip4(src), daddr = ip4(dst);
	size_t payload = flags & 0x02 ? 0 : 64;
	size_t len = ETH_HLEN + sizeof(*ip) + sizeof(*th) + payload;

	memset(buf, 0, len);
	memcpy(eth->h_dest, dmac, 6);
	memcpy(eth->h_source, smac, 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(len - ETH_HLEN);
	ip->id = htons(0x4242);
	ip->frag_off = htons(0x4000); /* DF */
	ip->ttl = TTL_START;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = ip_csum(ip, sizeof(*ip));
	th->source = htons(SPORT);
	th->dest = htons(dport);
	th->seq = htonl(1);
	th->doff = 5;
	((uint8_t *)th)[13] = flags;
	th->window = htons(64240);
	for (size_t i = 0; i < payload; i++)
		buf[len - payload + i] = (uint8_t)(i * 7 + 1);
	return len;
}

struct frame {
	uint8_t data[MAX_FRAME];
	uint32_t len;
	uint32_t ifindex;        /* the sender's host veth (ingress_ifindex) */
};

static struct frame f_syn, f_ack, f_deny, f_other;

static void frames(void)
{
	f_syn.len = tcp_frame(f_syn.data, gw_a_mac, pod_a_mac, addr_a, addr_b, PORT_ALLOWED, 0x02);
	f_syn.ifindex = EP_A;
	f_ack.len = tcp_frame(f_ack.data, gw_a_mac, pod_a_mac, addr_a, addr_b, PORT_ALLOWED, 0x18);
	f_ack.ifindex = EP_A;
	f_deny.len = tcp_frame(f_deny.data, gw_c_mac, pod_c_mac, addr_c, addr_b, PORT_ALLOWED, 0x02);
	f_deny.ifindex = EP_C;
	f_other.len = tcp_frame(f_other.data, gw_a_mac, pod_a_mac, addr_a, addr_b, PORT_OTHER, 0x02);
	f_other.ifindex = EP_A;
}

/* One test_run call: repeat runs on one skb. */
static int run(const struct frame *f, uint32_t repeat, uint32_t *retval, uint32_t *duration)
{
	struct __sk_buff ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.ingress_ifindex = f->ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->data, .data_size_in = f->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);
	if (bpf_prog_test_run_opts(bpf_program__fd(fp->progs.from_pod), &o)) {
		if (errno == EINTR)
			bench_check_stop(); /* test_run stops on a pending signal */
		return bench_fail("BPF_PROG_TEST_RUN", errno);
	}
	*retval = o.retval;
	if (duration)
		*duration = o.duration;
	return 0;
}

static uint64_t policy_drops(void)
{
	struct xdp_counter v[ncpus];
	uint32_t idx = XDP_DROP_POLICY;
	uint64_t n = 0;

	if (bpf_map_lookup_elem(FD(xdp_drops), &idx, v))
		return 0;
	for (int i = 0; i < ncpus; i++)
		n += v[i].packets;
	return n;
}

static int expect(const char *what, const struct frame *f, uint32_t want)
{
	uint32_t rc;

	if (run(f, 1, &rc, NULL))
		return -1;
	if (rc != want) {
		fprintf(stderr, "policy_prog_bench: check failed: %s: verdict %u, want %u\n", what,
			rc, want);
		return -1;
	}
	return 0;
}

/* The fixture really enforces, and each kind takes the path it is named for. */
static int checks(uint32_t n)
{
	uint64_t d0 = policy_drops();
	char what[128];

	snprintf(what, sizeof(what), "N=%u", n);
	if (expect("SYN A->B:80 allowed", &f_syn, TC_ACT_REDIRECT) ||
	    expect("ACK A->B:80 allowed", &f_ack, TC_ACT_REDIRECT) ||
	    expect("SYN A->B:81 denied", &f_other, TC_ACT_SHOT) ||
	    expect("SYN C->B:80 denied", &f_deny, TC_ACT_SHOT))
		goto bad;
	if (policy_drops() - d0 != 2) {
		fprintf(stderr, "policy_prog_bench: the denied packets were not policy drops\n");
		goto bad;
	}
	/* Without A's entry a new connection is denied, the tracked one goes on. */
	if (allow_a(0))
		goto bad;
	if (expect("SYN A->B:80 without the allow entry", &f_syn, TC_ACT_SHOT) ||
	    expect("ACK A->B:80 by conntrack alone", &f_ack, TC_ACT_REDIRECT) ||
	    allow_a(1))
		goto bad;
	/* Policy off lets C through. */
	if (config_set(0) || expect("SYN C->B with policy off", &f_deny, TC_ACT_REDIRECT) ||
	    config_set(1))
		goto bad;
	return expect("SYN A->B:80 allowed again", &f_syn, TC_ACT_REDIRECT);
bad:
	fprintf(stderr, "policy_prog_bench: checks failed at %s\n", what);
	return -1;
}

/* Mean ns per run over ceil(packets / CHUNK) calls of CHUNK runs each. */
static int sample(enum kind kd, uint64_t packets, double *ns)
{
	const struct frame *f = kd == K_DENY ? &f_deny : kd == K_ACK ? &f_ack : &f_syn;
	uint32_t want = kd == K_DENY ? TC_ACT_SHOT : TC_ACT_REDIRECT;
	uint64_t calls = (packets + CHUNK - 1) / CHUNK, sum = 0;
	uint32_t rc, dur;
	int err = 0;

	if (kd == K_OFF && config_set(0))
		return -1;
	if (kd == K_ACK && run(&f_syn, 1, &rc, NULL)) /* (re)open the tracked connection */
		return -1;
	for (uint64_t c = 0; c < calls && !err; c++) {
		bench_check_stop();
		err = run(f, CHUNK, &rc, &dur);
		if (!err && rc != want) {
			fprintf(stderr, "policy_prog_bench: %s: verdict %u, want %u\n",
				kind_name[kd], rc, want);
			err = -1;
		}
		sum += dur;
	}
	if (kd == K_OFF && config_set(1))
		return -1;
	*ns = (double)sum / (double)calls;
	return err;
}

/* ---- statistics and report -------------------------------------------------------- */

static double median(const double *v, int n)
{
	double s[MAX_REPEATS];

	memcpy(s, v, n * sizeof(*v));
	return bench_median(s, n);
}

static double vmin(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double vmax(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

struct opts {
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	int repeats;
	uint64_t packets;
	int cpu;
	const char *json;
};

/* samples[size][kind][repeat] */
static double samples[MAX_SIZES][K_MAX][MAX_REPEATS];

static double loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	snprintf(buf, len, "?");
	if (f) {
		if (fgets(buf, len, f)) {
			buf[strcspn(buf, "\n")] = 0;
			sscanf(buf, "%lf", &l);
		}
		fclose(f);
	}
	return l;
}

static int size_index(const struct opts *o, uint32_t n)
{
	for (int i = 0; i < o->nsizes; i++)
		if (o->sizes[i] == n)
			return i;
	return -1;
}

/* Median over repeats of sample / the N=0 sample of the same repeat: the
 * two were measured seconds apart, so slow drifts of a shared machine
 * cancel. */
static double paired(const struct opts *o, int s, int base, int k)
{
	double r[MAX_REPEATS];

	for (int i = 0; i < o->repeats; i++)
		r[i] = samples[s][k][i] / samples[base][k][i];
	return median(r, o->repeats);
}

static void report(const struct opts *o, const char *load0, const char *load1, double secs)
{
	int base = size_index(o, 0), top = o->nsizes - 1;
	double med[MAX_SIZES][K_MAX];

	for (int s = 0; s < o->nsizes; s++)
		for (int k = 0; k < K_MAX; k++)
			med[s][k] = median(samples[s][k], o->repeats);
	printf("\nPolicy datapath micro-benchmark: from_pod under BPF_PROG_TEST_RUN, IPv4 TCP\n");
	printf("%d repeat(s) (sizes alternate ascending/descending), %llu packets per sample "
	       "(%llu calls x %d runs on one skb), medians [min-max] in ns/packet; %.1f s\n",
	       o->repeats, (unsigned long long)o->packets,
	       (unsigned long long)((o->packets + CHUNK - 1) / CHUNK), CHUNK, secs);
	printf("machine: %d CPUs, %s; load average at start %s, at end %s\n", ncpus,
	       o->cpu >= 0 ? "pinned to one CPU" : "not pinned", load0, load1);
	printf("xN0: against N=0 of the same kind (ratio of medians; paired: median of the "
	       "per-repeat ratios); xoff: against policy off at the same N\n\n");
	printf("%-8s %-5s %8s %17s %7s %8s %7s %9s\n", "entries", "kind", "ns/pkt", "[min-max]",
	       "xN0", "paired", "xoff", "-off ns");
	for (int s = 0; s < o->nsizes; s++) {
		for (int k = 0; k < K_MAX; k++) {
			char range[48], r0[16] = "n/a", rp[16] = "n/a";

			snprintf(range, sizeof(range), "[%.1f-%.1f]", vmin(samples[s][k], o->repeats),
				 vmax(samples[s][k], o->repeats));
			if (base >= 0) {
				snprintf(r0, sizeof(r0), "%.3f", med[s][k] / med[base][k]);
				snprintf(rp, sizeof(rp), "%.3f", paired(o, s, base, k));
			}
			printf("%-8u %-5s %8.1f %17s %7s %8s %7.3f %+9.1f\n", o->sizes[s],
			       kind_name[k], med[s][k], range, r0, rp, med[s][k] / med[s][K_OFF],
			       med[s][k] - med[s][K_OFF]);
		}
	}
	printf("\nkinds:\n");
	for (int k = 0; k < K_MAX; k++)
		printf("  %-5s %s\n", kind_name[k], kind_what[k]);
	printf("filler: per entry a distinct (endpoint, identity, port) key, 4 per identity, half "
	       "for B, 64 other endpoints, 1/8 egress, TCP/UDP ports, 16-port blocks, any-port; "
	       "one ipcache /32 per identity\n");
	printf("off does not depend on N: its spread across N is the noise floor of the run\n");
	if (base >= 0 && top != base) {
		printf("\ntarget: per-packet cost at N=%u within +10%% of N=0 (ratio of medians; "
		       "exit status 0 either way):\n", o->sizes[top]);
		for (int k = K_SYN; k < K_MAX; k++) {
			double r = med[top][k] / med[base][k];

			printf("  %-4s  %-5s N=%u / N=0 = %.3fx (paired %.3fx, %+.1f ns)  <= 1.100x\n",
			       r <= 1.10 ? "PASS" : "MISS", kind_name[k], o->sizes[top], r,
			       paired(o, top, base, k), med[top][k] - med[base][k]);
		}
	}
}

static int write_json(const struct opts *o, const char *load0, const char *load1)
{
	FILE *f = fopen(o->json, "w");
	int base = size_index(o, 0);

	if (!f)
		return bench_fail(o->json, errno);
	fprintf(f, "{\n  \"bench\": \"policy_prog\",\n  \"family\": \"ipv4\",\n");
	fprintf(f, "  \"repeats\": %d,\n  \"packetsPerSample\": %llu,\n  \"runsPerCall\": %d,\n",
		o->repeats, (unsigned long long)o->packets, CHUNK);
	fprintf(f, "  \"cpus\": %d,\n  \"pinnedCpu\": %d,\n  \"loadavg\": [\"%s\", \"%s\"],\n",
		ncpus, o->cpu, load0, load1);
	fprintf(f, "  \"kinds\": {");
	for (int k = 0; k < K_MAX; k++)
		fprintf(f, "%s\"%s\": \"%s\"", k ? ", " : "", kind_name[k], kind_what[k]);
	fprintf(f, "},\n  \"points\": [\n");
	for (int s = 0; s < o->nsizes; s++) {
		fprintf(f, "    {\"entries\": %u", o->sizes[s]);
		for (int k = 0; k < K_MAX; k++) {
			double m = median(samples[s][k], o->repeats);

			fprintf(f, ", \"%s\": {\"medianNs\": %.2f", kind_name[k], m);
			if (base >= 0)
				fprintf(f, ", \"ratioN0\": %.4f, \"ratioN0Paired\": %.4f",
					m / median(samples[base][k], o->repeats),
					paired(o, s, base, k));
			fprintf(f, ", \"samplesNs\": [");
			for (int r = 0; r < o->repeats; r++)
				fprintf(f, "%s%.2f", r ? ", " : "", samples[s][k][r]);
			fprintf(f, "]}");
		}
		fprintf(f, "}%s\n", s + 1 < o->nsizes ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fclose(f))
		return bench_fail(o->json, errno);
	printf("\nsamples written to %s\n", o->json);
	return 0;
}

/* ---- modes ----------------------------------------------------------------------- */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(struct opts *o)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	char load0[128], load1[128];
	uint32_t cur = 0;
	double t0, dummy;
	int err;

	if (bench_pin_dir_make("xdpath-polbench"))
		return -1;
	oo.pin_root_path = pindir;
	fp = from_pod__open_opts(&oo);
	if (!fp)
		return bench_fail("open from_pod", errno);
	err = from_pod__load(fp);
	if (err)
		return bench_fail("load from_pod", err);
	bench_check_stop();
	frames();
	if (fixture() || checks(0))
		return -1;
	fprintf(stderr, "policy_prog_bench: pins under %s; sizes", pindir);
	for (int s = 0; s < o->nsizes; s++)
		fprintf(stderr, " %u", o->sizes[s]);
	fprintf(stderr, ", %d repeats, %llu packets per sample\n", o->repeats,
		(unsigned long long)o->packets);
	/* Every size once up front: fill and verify, warm up. */
	for (int s = 0; s < o->nsizes; s++) {
		t0 = mono_s();
		if (fill_to(FD(xdp_policy), FD(xdp_ipcache_host), EP_B, &cur, o->sizes[s]) ||
		    checks(o->sizes[s]))
			return -1;
		fprintf(stderr, "  N=%u: filled and checked in %.2f s\n", o->sizes[s], mono_s() - t0);
		bench_check_stop();
	}
	for (int k = 0; k < K_MAX; k++)
		if (sample(k, o->packets / 4 + 1, &dummy))
			return -1;
	loadavg(load0, sizeof(load0));
	t0 = mono_s();
	for (int r = 0; r < o->repeats; r++) {
		for (int i = 0; i < o->nsizes; i++) {
			int s = r % 2 ? o->nsizes - 1 - i : i;

			if (fill_to(FD(xdp_policy), FD(xdp_ipcache_host), EP_B, &cur, o->sizes[s]))
				return -1;
			for (int j = 0; j < K_MAX; j++) {
				int k = (j + r) % K_MAX; /* rotate the kinds' order too */

				if (sample(k, o->packets, &samples[s][k][r]))
					return -1;
			}
			fprintf(stderr, "  [%d/%d] N=%-7u off %.1f  syn %.1f  ack %.1f  deny %.1f ns\n",
				r + 1, o->repeats, o->sizes[s], samples[s][K_OFF][r],
				samples[s][K_SYN][r], samples[s][K_ACK][r], samples[s][K_DENY][r]);
		}
	}
	loadavg(load1, sizeof(load1));
	/* The last size still enforces. */
	if (checks(cur))
		return -1;
	report(o, load0, load1, mono_s() - t0);
	return o->json ? write_json(o, load0, load1) : 0;
}

static int pin_open(const char *root, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		bench_fail(path, errno);
	return fd;
}

static int fill_mode(const char *root, const char *nstr, const char *server)
{
	int pol = pin_open(root, XDP_PIN_POLICY), ipc = pin_open(root, XDP_PIN_IPCACHE_HOST);
	int eps = pin_open(root, XDP_PIN_ENDPOINTS);
	uint32_t a = ip4(server), cur = 0;
	unsigned long n = strtoul(nstr, NULL, 10);
	struct xdp_ep_key k;
	struct xdp_ep_info v;
	double t0 = mono_s();

	if (pol < 0 || ipc < 0 || eps < 0)
		return -1;
	memset(&k, 0, sizeof(k));
	k.family = XDP_EP_FAMILY_V4;
	memcpy(k.addr, &a, 4);
	if (bpf_map_lookup_elem(eps, &k, &v))
		return bench_fail("no endpoint for the server address", errno);
	if (fill_to(pol, ipc, v.ep_id, &cur, (uint32_t)n))
		return -1;
	printf("filled policy=%lu ipcache=%u ep_id=%u seconds=%.3f\n", n, fill_ids(n), v.ep_id,
	       mono_s() - t0);
	return 0;
}

static int count_mode(const char *root)
{
	int pol = pin_open(root, XDP_PIN_POLICY), ipc = pin_open(root, XDP_PIN_IPCACHE_HOST);
	struct xdp_pol_key pk, pn;
	struct xdp_cidr_key ck, cn;
	unsigned long np = 0, pf = 0, nc = 0, fc = 0;
	void *prev = NULL;

	if (pol < 0 || ipc < 0)
		return -1;
	while (!bpf_map_get_next_key(pol, prev, &pn)) {
		pk = pn;
		prev = &pk;
		np++;
		pf += pn.identity >= FILL_ID_BASE && pn.identity < FILL_ID_BASE + FILL_MAX;
	}
	prev = NULL;
	while (!bpf_map_get_next_key(ipc, prev, &cn)) {
		uint32_t addr;

		ck = cn;
		prev = &ck;
		nc++;
		memcpy(&addr, cn.addr, 4);
		fc += cn.family == XDP_EP_FAMILY_V4 && cn.prefixlen == XDP_CIDR_PREFIX(32) &&
		      (ntohl(addr) & 0xfff00000u) == FILL_NET;
	}
	printf("policy=%lu policy_filler=%lu ipcache=%lu ipcache_filler=%lu\n", np, pf, nc, fc);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: policy_prog_bench [--sizes 0,100,10000,100000] [--repeats N] "
		"[--packets N] [--cpu N] [--json FILE]\n"
		"       policy_prog_bench --fill PIN_ROOT N SERVER_IP\n"
		"       policy_prog_bench --count PIN_ROOT\n");
	exit(2);
}

static void parse_sizes(struct opts *o, const char *s)
{
	char *end;

	o->nsizes = 0;
	while (*s) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || o->nsizes == MAX_SIZES || v > FILL_MAX)
			usage();
		if (o->nsizes && v <= o->sizes[o->nsizes - 1]) {
			fprintf(stderr, "policy_prog_bench: sizes must be ascending\n");
			exit(2);
		}
		o->sizes[o->nsizes++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			usage();
	}
	if (!o->nsizes)
		usage();
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "repeats", required_argument, NULL, 'r' },
		{ "packets", required_argument, NULL, 'p' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "json", required_argument, NULL, 'j' },
		{ "fill", no_argument, NULL, 'F' },
		{ "count", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .repeats = 9, .packets = 200000, .cpu = -1 };
	const char *e;
	int c, mode = 0;

	bench_name = "policy_prog_bench";
	parse_sizes(&o, getenv("BENCH_POL_SIZES") ?: "0,100,10000,100000");
	if ((e = getenv("BENCH_POL_PROG_REPEATS")) && *e)
		o.repeats = atoi(e);
	if ((e = getenv("BENCH_POL_PACKETS")) && *e)
		o.packets = strtoull(e, NULL, 10);
	if ((e = getenv("BENCH_POL_PROG_CPU")) && *e && strcmp(e, "none"))
		o.cpu = atoi(e);
	if ((e = getenv("BENCH_POL_PROG_JSON")) && *e)
		o.json = e;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			parse_sizes(&o, optarg);
			break;
		case 'r':
			o.repeats = atoi(optarg);
			break;
		case 'p':
			o.packets = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			o.cpu = strcmp(optarg, "none") ? atoi(optarg) : -1;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'F':
		case 'C':
			mode = c;
			break;
		default:
			usage();
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "policy_prog_bench: must run as root (BPF, bpffs)\n");
		return 1;
	}
	if (mode == 'F')
		return optind + 3 == argc && !fill_mode(argv[optind], argv[optind + 1],
							 argv[optind + 2]) ? 0 : 1;
	if (mode == 'C')
		return optind + 1 == argc && !count_mode(argv[optind]) ? 0 : 1;
	if (optind != argc || o.repeats < 1 || o.repeats > MAX_REPEATS || !o.packets)
		usage();
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return bench_fail("possible cpus", ncpus), 1;
	if (o.cpu >= 0 && bench_pin_cpu(o.cpu))
		return 1;
	bench_signals();
	atexit(cleanup);
	return bench(&o) ? 1 : 0;
}
