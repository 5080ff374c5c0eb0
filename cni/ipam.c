/* ipam: host-local compatible range sets and the on-disk reservation store.
 *
 * Every store call expects an open (locked) store. Lease arrays passed to
 * ipam_alloc()/ipam_lookup() must hold IPAM_MAX_SETS entries; *nout is output
 * only. */
#include "ipam.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

/* glibc 2.36 has SIGEV_THREAD_ID but not the field's name. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define ATT_DIR      "attachments"
#define ATT_TMP      ATT_DIR "/.tmp"
#define CURSOR_FMT   "last_reserved_ip.%d"
#define PROBE        ".probe"
#define PATH_LEN     48 /* "ranges[i][j]" */
#define FIELD_MAX    64 /* PATH_LEN + ".rangeStart" */
/* "<id>\n<ifname>\n": the attachment name plus one byte. */
#define OWNER_MAX    (NAME_MAX + 2)
#define ATT_PATH_MAX (sizeof(ATT_DIR "/") + NAME_MAX)
#define REC_MAX      1024
#define LOCK_TICK_MS 10

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- config ---------------------------------------------------------- */

static const char *jstr(struct json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* "ranges[0][1]" + "subnet" -> "ranges[0][1].subnet"; the legacy top-level
 * range has an empty path. */
static const char *fld(char *buf, const char *path, const char *key)
{
	snprintf(buf, FIELD_MAX, "%s%s%s", path, *path ? "." : "", key);
	return buf;
}

/* Optional string member: *out is NULL when absent or null. */
static int get_str(struct json_object *o, const char *path, const char *key, const char **out,
		   char *err, size_t errlen)
{
	struct json_object *v;
	char name[FIELD_MAX];

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return errf(err, errlen, "ipam: %s %s: not a string", fld(name, path, key), jstr(v));
	*out = json_object_get_string(v);
	return 0;
}

/* Optional array member: *out is NULL when absent or null. */
static int get_array(struct json_object *o, const char *key, struct json_object **out,
		     char *err, size_t errlen)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return errf(err, errlen, "ipam: %s %s: not an array", key, jstr(v));
	*out = v;
	return 0;
}

/* An address member of a range. It must be a usable host address of the
 * subnet: allocating the network or IPv4 broadcast address breaks the pod. */
static int range_addr(struct json_object *o, const char *path, const char *key,
		      const struct ipnet *sn, struct ipaddr *out, char *err, size_t errlen)
{
	char name[FIELD_MAX], net[CIDR_STRLEN];
	struct ipaddr a, last;
	const char *s;

	if (get_str(o, path, key, &s, err, errlen))
		return -1;
	if (!s)
		return 0;
	fld(name, path, key);
	ipnet_fmt(sn, net);
	if (ipaddr_parse(s, &a))
		return errf(err, errlen, "ipam: %s \"%s\": invalid IP address", name, s);
	if (!ipnet_contains(sn, &a))
		return errf(err, errlen, "ipam: %s \"%s\": not in subnet %s", name, s, net);
	if (ipaddr_equal(&a, &sn->ip))
		return errf(err, errlen, "ipam: %s \"%s\": is the network address of %s",
			    name, s, net);
	ipnet_last(sn, &last);
	if (a.family == AF_INET && ipaddr_equal(&a, &last))
		return errf(err, errlen, "ipam: %s \"%s\": is the broadcast address of %s",
			    name, s, net);
	*out = a;
	return 0;
}

static int range_subnet(struct json_object *o, const char *path, struct ipnet *sn,
			char *err, size_t errlen)
{
	char name[FIELD_MAX], buf[CIDR_STRLEN];
	struct ipnet canon;
	const char *s;

	if (get_str(o, path, "subnet", &s, err, errlen))
		return -1;
	fld(name, path, "subnet");
	if (!s)
		return errf(err, errlen, "ipam: %s: missing", name);
	if (ipnet_parse(s, sn))
		return errf(err, errlen, "ipam: %s \"%s\": invalid CIDR", name, s);
	if (ipnet_has_host_bits(sn)) {
		canon = *sn;
		ipnet_first(sn, &canon.ip);
		return errf(err, errlen, "ipam: %s \"%s\": has host bits set (network is %s)",
			    name, s, ipnet_fmt(&canon, buf));
	}
	/* Network, gateway and (IPv4) broadcast need at least a /30. */
	if (sn->prefix > ipaddr_bits(&sn->ip) - 2)
		return errf(err, errlen, "ipam: %s \"%s\": network %s too small to allocate from",
			    name, s, ipnet_fmt(sn, buf));
	return 0;
}

static int parse_range(struct json_object *o, const char *path, struct ipam_range *r,
		       char *err, size_t errlen)
{
	char name[FIELD_MAX], a[IPADDR_STRLEN], b[IPADDR_STRLEN];

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object))
		return errf(err, errlen, "ipam: %s %s: not an object", path, jstr(o));
	if (range_subnet(o, path, &r->subnet, err, errlen))
		return -1;
	r->start = r->subnet.ip;
	ipaddr_inc(&r->start);
	r->gateway = r->start;
	r->has_gateway = true;
	ipnet_last(&r->subnet, &r->end);
	if (r->end.family == AF_INET)
		ipaddr_dec(&r->end);
	if (range_addr(o, path, "rangeStart", &r->subnet, &r->start, err, errlen) ||
	    range_addr(o, path, "rangeEnd", &r->subnet, &r->end, err, errlen) ||
	    range_addr(o, path, "gateway", &r->subnet, &r->gateway, err, errlen))
		return -1;
	if (ipaddr_cmp(&r->start, &r->end) > 0)
		return errf(err, errlen, "ipam: %s \"%s\": after rangeEnd %s",
			    fld(name, path, "rangeStart"), ipaddr_fmt(&r->start, a),
			    ipaddr_fmt(&r->end, b));
	return 0;
}

static const char *range_label(char *buf, bool legacy, int set, int idx)
{
	if (legacy && set == 0)
		snprintf(buf, FIELD_MAX, "subnet");
	else
		snprintf(buf, FIELD_MAX, "ranges[%d][%d]", set - legacy, idx);
	return buf;
}

static const char *range_span(const struct ipam_range *r, char *buf)
{
	char a[IPADDR_STRLEN], b[IPADDR_STRLEN];

	snprintf(buf, 2 * IPADDR_STRLEN, "%s-%s", ipaddr_fmt(&r->start, a), ipaddr_fmt(&r->end, b));
	return buf;
}

static bool ranges_overlap(const struct ipam_range *a, const struct ipam_range *b)
{
	if (a->start.family != b->start.family)
		return false;
	return ipaddr_cmp(&a->start, &b->end) <= 0 && ipaddr_cmp(&b->start, &a->end) <= 0;
}

/* The range just parsed at (set, idx) against every earlier one: families
 * must agree within a set, and no address may belong to two ranges anywhere
 * (the reservation files are keyed by address alone). */
static int check_range(const struct ipam_config *cfg, bool legacy, int set, int idx,
		       char *err, size_t errlen)
{
	const struct ipam_range *r = &cfg->sets[set].r[idx], *o;
	char me[FIELD_MAX], other[FIELD_MAX], sa[2 * IPADDR_STRLEN], sb[2 * IPADDR_STRLEN];
	char net[CIDR_STRLEN];

	range_label(me, legacy, set, idx);
	if (idx > 0 && r->subnet.ip.family != cfg->sets[set].r[0].subnet.ip.family)
		return errf(err, errlen,
			    "ipam: %s.subnet \"%s\": mixed address families in range set ranges[%d]",
			    me, ipnet_fmt(&r->subnet, net), set - legacy);
	for (int s = 0; s <= set; s++) {
		for (int i = 0; i < (s == set ? idx : cfg->sets[s].n); i++) {
			o = &cfg->sets[s].r[i];
			if (!ranges_overlap(r, o))
				continue;
			return errf(err, errlen, "ipam: %s %s: overlaps %s %s", me,
				    range_span(r, sa), range_label(other, legacy, s, i),
				    range_span(o, sb));
		}
	}
	return 0;
}

static int parse_set(struct json_object *arr, int jidx, bool legacy, struct ipam_config *cfg,
		     char *err, size_t errlen)
{
	struct ipam_rangeset *rs = &cfg->sets[cfg->nsets];
	char path[PATH_LEN];
	size_t n;

	if (!json_object_is_type(arr, json_type_array))
		return errf(err, errlen, "ipam: ranges[%d] %s: not an array", jidx, jstr(arr));
	n = json_object_array_length(arr);
	if (n == 0)
		return errf(err, errlen, "ipam: ranges[%d]: empty range set", jidx);
	if (n > IPAM_MAX_RANGES)
		return errf(err, errlen, "ipam: ranges[%d]: %zu ranges, at most %d", jidx, n,
			    IPAM_MAX_RANGES);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "ranges[%d][%zu]", jidx, i);
		if (parse_range(json_object_array_get_idx(arr, i), path, &rs->r[i], err, errlen))
			return -1;
		rs->n++;
		if (check_range(cfg, legacy, cfg->nsets, (int)i, err, errlen))
			return -1;
	}
	cfg->nsets++;
	return 0;
}

static int parse_sets(struct json_object *ipam, struct ipam_config *cfg, char *err, size_t errlen)
{
	static const char *const legacy_keys[] = { "rangeStart", "rangeEnd", "gateway" };
	struct json_object *ranges, *v;
	bool legacy;
	size_t n = 0;

	legacy = json_object_object_get_ex(ipam, "subnet", &v) && v;
	if (legacy) {
		if (parse_range(ipam, "", &cfg->sets[0].r[0], err, errlen))
			return -1;
		cfg->sets[0].n = 1;
		cfg->nsets = 1;
	} else {
		/* Without a subnet host-local ignores these; a silent no-op hides
		 * a config mistake. */
		for (size_t i = 0; i < sizeof(legacy_keys) / sizeof(legacy_keys[0]); i++) {
			if (json_object_object_get_ex(ipam, legacy_keys[i], &v) && v)
				return errf(err, errlen, "ipam: %s %s: needs a top-level subnet",
					    legacy_keys[i], jstr(v));
		}
	}
	if (get_array(ipam, "ranges", &ranges, err, errlen))
		return -1;
	if (ranges)
		n = json_object_array_length(ranges);
	if (cfg->nsets + n > IPAM_MAX_SETS)
		return errf(err, errlen, "ipam: ranges: %zu range sets, at most %d",
			    cfg->nsets + n, IPAM_MAX_SETS);
	for (size_t i = 0; i < n; i++) {
		if (parse_set(json_object_array_get_idx(ranges, i), (int)i, legacy, cfg, err,
			      errlen))
			return -1;
	}
	if (!cfg->nsets)
		return errf(err, errlen, "ipam: no ranges: set \"ranges\" or \"subnet\"");
	return 0;
}

static int parse_route(struct json_object *o, int idx, struct ipam_route *rt, char *err,
		       size_t errlen)
{
	char path[PATH_LEN], name[FIELD_MAX], buf[CIDR_STRLEN];
	const char *s;

	snprintf(path, sizeof(path), "routes[%d]", idx);
	if (!json_object_is_type(o, json_type_object))
		return errf(err, errlen, "ipam: %s %s: not an object", path, jstr(o));
	if (get_str(o, path, "dst", &s, err, errlen))
		return -1;
	fld(name, path, "dst");
	if (!s)
		return errf(err, errlen, "ipam: %s: missing", name);
	if (ipnet_parse(s, &rt->dst))
		return errf(err, errlen, "ipam: %s \"%s\": invalid CIDR", name, s);
	/* The kernel refuses such a route; say so here, with the field name. */
	if (ipnet_has_host_bits(&rt->dst)) {
		ipnet_first(&rt->dst, &rt->dst.ip);
		return errf(err, errlen, "ipam: %s \"%s\": has host bits set (network is %s)",
			    name, s, ipnet_fmt(&rt->dst, buf));
	}
	if (get_str(o, path, "gw", &s, err, errlen))
		return -1;
	if (!s)
		return 0;
	fld(name, path, "gw");
	if (ipaddr_parse(s, &rt->gw))
		return errf(err, errlen, "ipam: %s \"%s\": invalid IP address", name, s);
	if (rt->gw.family != rt->dst.ip.family)
		return errf(err, errlen, "ipam: %s \"%s\": address family differs from dst", name,
			    s);
	rt->has_gw = true;
	return 0;
}

static int parse_routes(struct json_object *ipam, struct ipam_config *cfg, char *err,
			size_t errlen)
{
	struct json_object *routes;
	size_t n;

	if (get_array(ipam, "routes", &routes, err, errlen))
		return -1;
	if (!routes)
		return 0;
	n = json_object_array_length(routes);
	if (n > IPAM_MAX_ROUTES)
		return errf(err, errlen, "ipam: routes: %zu routes, at most %d", n,
			    IPAM_MAX_ROUTES);
	for (size_t i = 0; i < n; i++) {
		if (parse_route(json_object_array_get_idx(routes, i), (int)i, &cfg->routes[i],
				err, errlen))
			return -1;
		cfg->nroutes++;
	}
	return 0;
}

static int parse_names(struct json_object *ipam, const char *network, struct ipam_config *cfg,
		       char *err, size_t errlen)
{
	const char *dir;

	if (!network || !*network || strchr(network, '/') || !strcmp(network, ".") ||
	    !strcmp(network, ".."))
		return errf(err, errlen, "ipam: network name \"%s\": not usable as a directory name",
			    network ? network : "");
	if (strlen(network) >= sizeof(cfg->network))
		return errf(err, errlen, "ipam: network name \"%s\": longer than %zu bytes",
			    network, sizeof(cfg->network) - 1);
	strcpy(cfg->network, network);
	if (get_str(ipam, "", "dataDir", &dir, err, errlen))
		return -1;
	/* Empty means default, as in host-local. */
	if (!dir || !*dir)
		dir = IPAM_DEFAULT_DATA_DIR;
	if (strlen(dir) >= sizeof(cfg->data_dir))
		return errf(err, errlen, "ipam: dataDir \"%.64s...\": longer than %zu bytes", dir,
			    sizeof(cfg->data_dir) - 1);
	strcpy(cfg->data_dir, dir);
	return 0;
}

int ipam_config_parse(struct json_object *ipam, const char *network, struct ipam_config *out,
		      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(ipam, json_type_object))
		return errf(err, errlen, "ipam: %s: not an object", ipam ? jstr(ipam) : "null");
	if (parse_names(ipam, network, out, err, errlen) ||
	    parse_sets(ipam, out, err, errlen) ||
	    parse_routes(ipam, out, err, errlen))
		return -1;
	return 0;
}

/* ---- store: files ---------------------------------------------------- */

/* Read a small file into buf (NUL-terminated, truncated to size - 1).
 * Returns the length or -errno. */
static int read_small(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	ret = (int)len;
out:
	buf[len] = '\0';
	close(fd);
	return ret;
}

/* Write name with data; flags adds O_EXCL or O_TRUNC. A file this call
 * created is removed again if the write fails. */
static int write_file(int dirfd, const char *name, const char *data, size_t len, int flags)
{
	ssize_t n;
	int fd, ret = 0;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0644);
	if (fd < 0)
		return -errno;
	while (len) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		data += n;
		len -= n;
	}
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		unlinkat(dirfd, name, 0);
	return ret;
}

/* mkdir + open, tolerating an existing directory. */
static int mkdir_open(int at, const char *name)
{
	int ret = 0, fd;

	if (mkdirat(at, name, 0755) && errno != EEXIST)
		ret = -errno;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ret ? ret : -errno;
	return fd;
}

/* mkdir -p, handing back the directory's fd. */
static int mkdir_p(const char *path)
{
	char buf[PATH_MAX], *c, *save;
	int at, fd;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	at = open(buf[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (at < 0)
		return -errno;
	for (c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		fd = mkdir_open(at, c);
		close(at);
		if (fd < 0)
			return fd;
		at = fd;
	}
	return at;
}

/* ---- store: lock ----------------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
}

static struct timespec ts_add_ms(struct timespec t, long ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static bool ts_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Blocking flock(), interrupted by SIGALRM from a timer aimed at this thread
 * (handler without SA_RESTART). The timer keeps ticking after the deadline so
 * a tick that lands just before flock() is entered cannot leave it blocked. */
static int lock_wait(int fd, int timeout_ms)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	struct itimerspec its = { 0 };
	struct timespec deadline;
	sigset_t alrm, old_mask;
	timer_t timer;
	int ret;

	if (!flock(fd, LOCK_EX | LOCK_NB))
		return 0;
	if (errno != EWOULDBLOCK)
		return -errno;
	if (timeout_ms <= 0)
		return -EAGAIN;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline = ts_add_ms(deadline, timeout_ms);
	sev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer))
		return -errno;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old_sa);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, &old_mask);
	its.it_value = ts_add_ms(its.it_value, timeout_ms);
	its.it_interval = ts_add_ms(its.it_interval, LOCK_TICK_MS);
	timer_settime(timer, 0, &its, NULL);

	for (;;) {
		if (!flock(fd, LOCK_EX)) {
			ret = 0;
			break;
		}
		if (errno != EINTR) {
			ret = -errno;
			break;
		}
		if (ts_passed(&deadline)) {
			ret = -EAGAIN;
			break;
		}
	}

	/* A tick raised before the delete is delivered to on_alarm on the way
	 * out of the syscall, so restoring the old handler after is safe. */
	timer_delete(timer);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	return ret;
}

int ipam_open(const struct ipam_config *cfg, struct ipam_store *st, int timeout_ms)
{
	int top, ret;

	st->dirfd = st->lockfd = -1;
	top = mkdir_p(cfg->data_dir);
	if (top < 0)
		return top;
	st->dirfd = mkdir_open(top, cfg->network);
	close(top);
	if (st->dirfd < 0) {
		ret = st->dirfd;
		goto fail;
	}
	st->lockfd = openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (st->lockfd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = lock_wait(st->lockfd, timeout_ms);
	if (ret)
		goto fail;
	if (mkdirat(st->dirfd, ATT_DIR, 0755) && errno != EEXIST) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	ipam_close(st);
	return ret;
}

void ipam_close(struct ipam_store *st)
{
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->lockfd = st->dirfd = -1;
}

/* ---- store: attachment records ------------------------------------- */

struct rec {
	struct {
		int set;
		struct ipnet addr;
	} e[IPAM_MAX_SETS];
	int n;
	bool bad;                 /* had lines that did not parse */
};

/* "attachments/<id>:<ifname>" and the matching IP file content. The caller
 * validates both names; this only refuses what would escape the directory. */
static int att_names(const char *id, const char *ifname, char *path, char *owner)
{
	if (!id || !ifname || !*id || !*ifname || *id == '.' || strchr(id, '/') ||
	    strchr(id, ':') || strchr(ifname, '/') || strchr(ifname, ':'))
		return -EINVAL;
	if (snprintf(path, ATT_PATH_MAX, ATT_DIR "/%s:%s", id, ifname) >= (int)ATT_PATH_MAX ||
	    snprintf(owner, OWNER_MAX + 1, "%s\n%s\n", id, ifname) > OWNER_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int rec_line(char *line, struct ipnet *addr, int *set)
{
	char *end;
	long s;

	s = strtol(line, &end, 10);
	if (end == line || *end != ' ' || s < 0 || s >= IPAM_MAX_SETS)
		return -1;
	*set = (int)s;
	return ipnet_parse(end + 1, addr);
}

static int rec_read(int dirfd, const char *path, struct rec *r)
{
	char buf[REC_MAX], *line, *save;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = read_small(dirfd, path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (r->n == IPAM_MAX_SETS || rec_line(line, &r->e[r->n].addr, &r->e[r->n].set)) {
			r->bad = true;
			continue;
		}
		r->n++;
	}
	return 0;
}

/* Atomic replace: a reader sees the old record or the whole new one. */
static int rec_write(int dirfd, const char *path, const struct rec *r)
{
	char buf[REC_MAX], cidr[CIDR_STRLEN];
	size_t len = 0;
	int ret;

	for (int i = 0; i < r->n; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%d %s\n", r->e[i].set,
				ipnet_fmt(&r->e[i].addr, cidr));
	ret = write_file(dirfd, ATT_TMP, buf, len, O_TRUNC);
	if (ret)
		return ret;
	if (renameat(dirfd, ATT_TMP, dirfd, path)) {
		ret = -errno;
		unlinkat(dirfd, ATT_TMP, 0);
	}
	return ret;
}

enum { IP_OTHER, IP_OURS, IP_EMPTY };

/* Whose is the IP file? IP_EMPTY is a file created by an allocation that was
 * killed before writing it; only that allocation's record names it. */
static int ip_owner(int dirfd, const struct ipaddr *ip, const char *owner)
{
	char name[IPADDR_STRLEN], buf[OWNER_MAX + 2];
	int n;

	n = read_small(dirfd, ipaddr_fmt(ip, name), buf, sizeof(buf));
	if (n < 0)
		return n;
	if (n == 0)
		return IP_EMPTY;
	return strcmp(buf, owner) ? IP_OTHER : IP_OURS;
}

/* 1 when every address of the record is reserved for owner, 0 if not (the
 * allocation that wrote it was interrupted), -errno. */
static int rec_complete(int dirfd, const struct rec *r, const char *owner)
{
	int ret;

	if (r->bad || !r->n)
		return 0;
	for (int i = 0; i < r->n; i++) {
		ret = ip_owner(dirfd, &r->e[i].addr.ip, owner);
		if (ret == -ENOENT)
			return 0;
		if (ret < 0)
			return ret;
		if (ret != IP_OURS)
			return 0;
	}
	return 1;
}

static void lease_fill(const struct ipam_config *cfg, int set, const struct ipnet *addr,
		       struct ipam_lease *l)
{
	const struct ipam_rangeset *rs;

	memset(l, 0, sizeof(*l));
	l->addr = *addr;
	l->set = set;
	if (set >= cfg->nsets)
		return;
	rs = &cfg->sets[set];
	for (int i = 0; i < rs->n; i++) {
		if (!ipnet_contains(&rs->r[i].subnet, &addr->ip))
			continue;
		l->gateway = rs->r[i].gateway;
		l->has_gateway = rs->r[i].has_gateway;
		return;
	}
}

static void rec_leases(const struct ipam_config *cfg, const struct rec *r,
		       struct ipam_lease *out, int *nout)
{
	for (int i = 0; i < r->n; i++)
		lease_fill(cfg, r->e[i].set, &r->e[i].addr, &out[i]);
	*nout = r->n;
}

/* ---- store: allocation ----------------------------------------------- */

static bool is_gateway(const struct ipam_config *cfg, const struct ipaddr *ip)
{
	for (int s = 0; s < cfg->nsets; s++) {
		for (int i = 0; i < cfg->sets[s].n; i++) {
			const struct ipam_range *r = &cfg->sets[s].r[i];

			if (r->has_gateway && ipaddr_equal(&r->gateway, ip))
				return true;
		}
	}
	return false;
}

/* 1 if ip can be handed out, 0 if not, -errno. */
static int ip_free(int dirfd, const struct ipam_config *cfg, const struct ipaddr *ip)
{
	char name[IPADDR_STRLEN];
	struct stat sb;

	if (is_gateway(cfg, ip))
		return 0;
	if (!fstatat(dirfd, ipaddr_fmt(ip, name), &sb, AT_SYMLINK_NOFOLLOW))
		return 0;
	return errno == ENOENT ? 1 : -errno;
}

static bool in_range(const struct ipam_range *r, const struct ipaddr *ip)
{
	return ip->family == r->start.family && ipaddr_cmp(ip, &r->start) >= 0 &&
	       ipaddr_cmp(ip, &r->end) <= 0;
}

/* Advance (range k, ip) through the set, wrapping at the end of the last range. */
static void step(const struct ipam_rangeset *rs, int *k, struct ipaddr *ip)
{
	if (!ipaddr_equal(ip, &rs->r[*k].end)) {
		ipaddr_inc(ip);
		return;
	}
	*k = (*k + 1) % rs->n;
	*ip = rs->r[*k].start;
}

/* The address after the set's cursor; the first range's start when there is
 * no cursor or it left the ranges (config change). */
static void cursor_next(int dirfd, const struct ipam_rangeset *rs, int set, int *k,
			struct ipaddr *ip)
{
	char name[32], buf[IPADDR_STRLEN + 2];
	struct ipaddr last;

	*k = 0;
	*ip = rs->r[0].start;
	snprintf(name, sizeof(name), CURSOR_FMT, set);
	if (read_small(dirfd, name, buf, sizeof(buf)) <= 0)
		return;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (ipaddr_parse(buf, &last))
		return;
	for (int i = 0; i < rs->n; i++) {
		if (!in_range(&rs->r[i], &last))
			continue;
		*k = i;
		*ip = last;
		step(rs, k, ip);
		return;
	}
}

/* Round-robin walk from the cursor to the first free address. Each probe is
 * one fstatat(), so the cost is the run of taken addresses after the cursor,
 * not the number of reservations. */
static int pick(int dirfd, const struct ipam_config *cfg, int set, struct ipnet *out)
{
	const struct ipam_rangeset *rs = &cfg->sets[set];
	struct ipaddr ip, first;
	int k, ret;

	cursor_next(dirfd, rs, set, &k, &ip);
	first = ip;
	do {
		ret = ip_free(dirfd, cfg, &ip);
		if (ret < 0)
			return ret;
		if (ret) {
			out->ip = ip;
			out->prefix = rs->r[k].subnet.prefix;
			return 0;
		}
		step(rs, &k, &ip);
	} while (!ipaddr_equal(&ip, &first));
	return -ENOSPC;
}

static void nospc_msg(const struct ipam_rangeset *rs, char *err, size_t errlen)
{
	char span[2 * IPADDR_STRLEN];
	size_t len;

	if (!err || !errlen)
		return;
	len = snprintf(err, errlen, "no IP addresses available in range set: ");
	for (int i = 0; i < rs->n && len < errlen; i++)
		len += snprintf(err + len, errlen - len, "%s%s", i ? "," : "",
				range_span(&rs->r[i], span));
}

/* Best effort: a lost cursor only costs a longer walk next time. */
static void cursor_write(int dirfd, int set, const struct ipaddr *ip)
{
	char name[32], buf[IPADDR_STRLEN];

	snprintf(name, sizeof(name), CURSOR_FMT, set);
	ipaddr_fmt(ip, buf);
	write_file(dirfd, name, buf, strlen(buf), O_TRUNC);
}

/* Reserve r's addresses for owner: the record first, so that a kill at any
 * later point leaves something release() can undo. */
static int reserve(int dirfd, const char *path, const char *owner, const struct rec *r,
		   char *err, size_t errlen)
{
	char name[IPADDR_STRLEN];
	int i, ret;

	ret = rec_write(dirfd, path, r);
	if (ret) {
		errf(err, errlen, "ipam: write %s: %s", path, strerror(-ret));
		return ret;
	}
	for (i = 0; i < r->n; i++) {
		ipaddr_fmt(&r->e[i].addr.ip, name);
		ret = write_file(dirfd, name, owner, strlen(owner), O_EXCL);
		if (ret)
			goto undo;
	}
	return 0;
undo:
	errf(err, errlen, "ipam: reserve %s: %s", name, strerror(-ret));
	while (i--)
		unlinkat(dirfd, ipaddr_fmt(&r->e[i].addr.ip, name), 0);
	unlinkat(dirfd, path, 0);
	return ret;
}

int ipam_alloc(struct ipam_store *st, const struct ipam_config *cfg, const char *id,
	       const char *ifname, struct ipam_lease *out, int *nout, char *err, size_t errlen)
{
	char path[ATT_PATH_MAX], owner[OWNER_MAX + 1];
	struct rec r;
	int ret;

	*nout = 0;
	ret = att_names(id, ifname, path, owner);
	if (ret) {
		errf(err, errlen, "ipam: attachment \"%s\" \"%s\": invalid name", id ? id : "",
		     ifname ? ifname : "");
		return ret;
	}
	ret = rec_read(st->dirfd, path, &r);
	if (!ret)
		ret = rec_complete(st->dirfd, &r, owner);
	if (ret == 1) {
		rec_leases(cfg, &r, out, nout);
		return 0;
	}
	/* A record whose addresses are not all ours is what an interrupted
	 * allocation leaves: undo it and allocate afresh. */
	if (ret == 0)
		ret = ipam_release(st, id, ifname);
	if (ret && ret != -ENOENT) {
		errf(err, errlen, "ipam: read %s: %s", path, strerror(-ret));
		return ret;
	}

	memset(&r, 0, sizeof(r));
	for (int s = 0; s < cfg->nsets; s++) {
		ret = pick(st->dirfd, cfg, s, &r.e[s].addr);
		if (ret == -ENOSPC) {
			nospc_msg(&cfg->sets[s], err, errlen);
			return ret;
		}
		if (ret) {
			errf(err, errlen, "ipam: range set %d: %s", s, strerror(-ret));
			return ret;
		}
		r.e[s].set = s;
		r.n++;
	}
	ret = reserve(st->dirfd, path, owner, &r, err, errlen);
	if (ret)
		return ret;
	for (int s = 0; s < r.n; s++)
		cursor_write(st->dirfd, s, &r.e[s].addr.ip);
	rec_leases(cfg, &r, out, nout);
	return 0;
}

int ipam_lookup(struct ipam_store *st, const struct ipam_config *cfg, const char *id,
		const char *ifname, struct ipam_lease *out, int *nout)
{
	char path[ATT_PATH_MAX], owner[OWNER_MAX + 1];
	struct rec r;
	int ret;

	*nout = 0;
	ret = att_names(id, ifname, path, owner);
	if (ret)
		return ret;
	ret = rec_read(st->dirfd, path, &r);
	if (ret)
		return ret;
	/* An interrupted allocation reserved nothing that can be relied on. */
	ret = rec_complete(st->dirfd, &r, owner);
	if (ret <= 0)
		return ret ? ret : -ENOENT;
	rec_leases(cfg, &r, out, nout);
	return 0;
}

/* ---- store: release, gc, status -------------------------------------- */

static int unlink_if_owned(int dirfd, const struct ipaddr *ip, const char *owner)
{
	char name[IPADDR_STRLEN];
	int ret;

	ret = ip_owner(dirfd, ip, owner);
	if (ret == -ENOENT || ret == IP_OTHER)
		return 0;
	if (ret < 0)
		return ret;
	if (unlinkat(dirfd, ipaddr_fmt(ip, name), 0) && errno != ENOENT)
		return -errno;
	return 0;
}

int ipam_release(struct ipam_store *st, const char *id, const char *ifname)
{
	char path[ATT_PATH_MAX], owner[OWNER_MAX + 1];
	struct rec r;
	int ret, first = 0;

	ret = att_names(id, ifname, path, owner);
	if (ret)
		return ret;
	ret = rec_read(st->dirfd, path, &r);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	for (int i = 0; i < r.n; i++) {
		ret = unlink_if_owned(st->dirfd, &r.e[i].addr.ip, owner);
		if (ret && !first)
			first = ret;
	}
	/* Keep the record while an address may still be held, so a retry works. */
	if (first)
		return first;
	if (unlinkat(st->dirfd, path, 0) && errno != ENOENT)
		return -errno;
	return 0;
}

static bool is_valid(const struct ipam_attachment *valid, int nvalid, const char *id,
		     const char *ifname)
{
	for (int i = 0; i < nvalid; i++) {
		if (!strcmp(valid[i].id, id) && !strcmp(valid[i].ifname, ifname))
			return true;
	}
	return false;
}

/* Open a second description of a directory for readdir (fdopendir owns it). */
static DIR *open_dir(int dirfd, const char *name, int *err)
{
	DIR *d;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		*err = -errno;
		close(fd);
	}
	return d;
}

static int gc_records(struct ipam_store *st, const struct ipam_attachment *valid, int nvalid,
		      void (*freed)(const char *id, const char *ifname, void *ctx), void *ctx)
{
	char name[NAME_MAX + 1], *colon;
	struct dirent *de;
	int ret, first = 0;
	DIR *d;

	d = open_dir(st->dirfd, ATT_DIR, &ret);
	if (!d)
		return ret == -ENOENT ? 0 : ret;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		if (!strcmp(de->d_name, ".tmp"))
			unlinkat(dirfd(d), de->d_name, 0);
		if (de->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%s", de->d_name);
		colon = strchr(name, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (is_valid(valid, nvalid, name, colon + 1))
			continue;
		ret = ipam_release(st, name, colon + 1);
		if (ret && !first)
			first = ret;
		if (!ret && freed)
			freed(name, colon + 1, ctx);
	}
	if (errno && !first)
		first = -errno;
	closedir(d);
	return first;
}

/* An IP file naming an attachment that is neither valid nor recorded: nothing
 * else would ever free it. */
static int gc_leftover(struct ipam_store *st, const char *name,
		       const struct ipam_attachment *valid, int nvalid)
{
	char buf[OWNER_MAX + 2], path[ATT_PATH_MAX], *ifname, *nl;
	struct stat sb;
	int n;

	n = read_small(st->dirfd, name, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? 0 : n;
	ifname = strchr(buf, '\n');
	if (!ifname || ifname == buf)
		return 0;
	*ifname++ = '\0';
	nl = strchr(ifname, '\n');
	if (!nl || nl == ifname || nl[1])
		return 0;
	*nl = '\0';
	if (is_valid(valid, nvalid, buf, ifname))
		return 0;
	if ((size_t)snprintf(path, sizeof(path), ATT_DIR "/%s:%s", buf, ifname) < sizeof(path) &&
	    !fstatat(st->dirfd, path, &sb, AT_SYMLINK_NOFOLLOW))
		return 0;
	if (unlinkat(st->dirfd, name, 0) && errno != ENOENT)
		return -errno;
	return 0;
}

static int gc_leftovers(struct ipam_store *st, const struct ipam_attachment *valid, int nvalid)
{
	struct dirent *de;
	struct ipaddr a;
	int ret, first = 0;
	DIR *d;

	d = open_dir(st->dirfd, ".", &ret);
	if (!d)
		return ret;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		if (ipaddr_parse(de->d_name, &a))
			continue;
		ret = gc_leftover(st, de->d_name, valid, nvalid);
		if (ret && !first)
			first = ret;
	}
	if (errno && !first)
		first = -errno;
	closedir(d);
	return first;
}

int ipam_gc(struct ipam_store *st, const struct ipam_attachment *valid, int nvalid,
	    void (*freed)(const char *id, const char *ifname, void *ctx), void *ctx)
{
	int ret, first;

	first = gc_records(st, valid, nvalid, freed, ctx);
	ret = gc_leftovers(st, valid, nvalid);
	return first ? first : ret;
}

int ipam_status(struct ipam_store *st, const struct ipam_config *cfg, char *err, size_t errlen)
{
	struct ipnet free_ip;
	int ret;

	/* faccessat() says yes to root on a full or read-only-remounted disk. */
	ret = write_file(st->dirfd, PROBE, "", 0, O_TRUNC);
	if (!ret && unlinkat(st->dirfd, PROBE, 0))
		ret = -errno;
	if (ret) {
		errf(err, errlen, "ipam: store not writable: %s", strerror(-ret));
		return ret;
	}
	for (int s = 0; s < cfg->nsets; s++) {
		ret = pick(st->dirfd, cfg, s, &free_ip);
		if (ret == -ENOSPC) {
			nospc_msg(&cfg->sets[s], err, errlen);
			return ret;
		}
		if (ret) {
			errf(err, errlen, "ipam: range set %d: %s", s, strerror(-ret));
			return ret;
		}
	}
	return 0;
}
