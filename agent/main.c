/* xdpathd: the node agent. Parses the command line and the config, runs
 * the start-up steps (each one short, in the order below), then serves
 * events until SIGTERM/SIGINT: endpoint records appearing or vanishing
 * (inotify), a resync every AGENT_RESYNC_SEC, SIGHUP (reload the config),
 * local API requests. Exiting never detaches or unpins anything. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fsutil.h"
#include "agent.h"
#include "ctsweep.h"
#include "events.h"
#include "filters.h"
#include "api.h"
#include "cniconf.h"
#include "httpd.h"
#include "kubesrc.h"
#include "log.h"
#include "prom.h"
#include "masq.h"
#include "node.h"
#include "policysrc.h"
#include "reconcile.h"
#include "sock.h"
#include "xdpath/datapath.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

struct opts {
	const char *config;
	bool check_config;         /* --check-config: parse, report, exit */
	const char *pin_root;      /* --pin-root, overrides the config */
	enum log_level level;      /* --log-level, overrides the config */
	bool level_set;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: xdpathd --config FILE [--log-level debug|info|warn|error] "
		   "[--pin-root DIR] [--help]\n"
		   "       xdpathd --check-config FILE    validate a config and exit (0 / 2)\n"
		   "       xdpathd --api-resources        the Kubernetes API resources used, as JSON\n"
		   "The xdpath node agent: loads and pins the BPF datapath, attaches it to the\n"
		   "uplink and to every pod's host veth, serves <stateDir>/" AGENT_SOCKET_NAME ".\n");
}

/* 0, or the exit status (help: 0 via -1). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "pin-root", required_argument, NULL, 'p' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "api-resources", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:l:p:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level)) {
				fprintf(stderr, "xdpathd: --log-level: \"%s\" is not debug, info, "
						"warn or error\n", optarg);
				return EXIT_USAGE;
			}
			o->level_set = true;
			break;
		case 'p':
			if (optarg[0] != '/') {
				fprintf(stderr, "xdpathd: --pin-root: must be an absolute path\n");
				return EXIT_USAGE;
			}
			o->pin_root = optarg;
			break;
		case 'C':
			o->config = optarg;
			o->check_config = true;
			break;
		case 'R': {
			struct json_object *r = kubesrc_api_resources();

			printf("%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY));
			json_object_put(r);
			return -1;
		}
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || !o->config) {
		fprintf(stderr, "xdpathd: %s\n", optind < argc ? "unexpected argument" : "--config is required");
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* The config file with the command line's overrides; logs what is wrong. */
static int load_config(const struct opts *o, struct agent_config *cfg)
{
	char err[512], esc[1024];

	if (config_load(o->config, cfg, err, sizeof(err))) {
		log_error("config", "invalid config", "file=%s key=%.*s error=\"%s\"", o->config,
			  (int)strcspn(err, ":"), err, log_esc(err, esc, sizeof(esc)));
		return -EINVAL;
	}
	if (o->pin_root)
		snprintf(cfg->pin_root, sizeof(cfg->pin_root), "%s", o->pin_root);
	if (o->level_set) {
		cfg->log_level = o->level;
		cfg->log_level_set = true;
	}
	log_min_level = cfg->log_level;
	return 0;
}

/* ---- start-up steps --------------------------------------------------------- */

/* <stateDir>/xdpathd.sock; -ENAMETOOLONG if it does not fit. */
static int socket_path(const struct agent *a, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s/" AGENT_SOCKET_NAME, a->cfg.state_dir) >= len
		       ? -ENAMETOOLONG
		       : 0;
}

static int lock_fd = -1;

/* One agent per state dir: a second one would steal the socket and fight
 * over the datapath. The lock dies with the process, kill -9 included. */
static int step_lock(struct agent *a)
{
	char path[PATH_MAX];
	int err = mkdir_p(a->cfg.state_dir, 0755);

	if (err)
		return err;
	if (snprintf(path, sizeof(path), "%s/xdpathd.lock", a->cfg.state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0)
		return -errno;
	if (flock(lock_fd, LOCK_EX | LOCK_NB)) {
		log_error("main", "another xdpathd runs with this stateDir", "lock=%s", path);
		return -EBUSY;
	}
	return mkdir_p(a->cfg.endpoint_dir, 0755);
}

static int step_bpffs(struct agent *a)
{
	return bpffs_ensure(a->cfg.pin_root);
}

/* Before loading: the lists run while the programs verify, and the node's
 * own addresses may come from its Node object. */
static int step_kube(struct agent *a)
{
	return a->cfg.kube.enabled ? kubesrc_open(a) : 0;
}

static int step_load(struct agent *a)
{
	int err = loader_load(&a->ld, a->cfg.pin_root);

	if (err)
		return err;
	a->from_pod_id = bpf_fd_id(loader_from_pod_fd(&a->ld));
	log_info("loader", "datapath loaded", "pin_root=%s from_pod_id=%u", a->cfg.pin_root,
		 a->from_pod_id);
	/* The same client the CNI plugin uses, on the pins just made. */
	return dp_open(&a->dp, a->cfg.pin_root);
}

static int step_uplink(struct agent *a)
{
	struct nl_link l;
	int err = nl_link_get(&a->nl, a->cfg.uplink, &l);

	if (err) {
		log_error("main", "uplink not found", "uplink=%s err=\"%s\"", a->cfg.uplink,
			  strerror(-err));
		return err;
	}
	a->uplink_ifindex = l.ifindex;
	a->uplink_is_veth = !strcmp(l.kind, "veth");
	return 0;
}

static int step_tunnel(struct agent *a)
{
	int err = node_tunnel_sync(a);

	if (err)
		log_error("node", "cannot set up the vxlan device", "dev=" AGENT_TUNNEL_DEV " err=\"%s\"",
			  strerror(-err));
	return err;
}

/* A restart reuses a pinned datapath that keeps forwarding and whose
 * programs are replaced atomically: if it was ready, it stays ready, so
 * CNI ADDs are not refused (code 11) while the agent restarts. */
static int step_config(struct agent *a)
{
	if (!a->ready && node_config_was_ready(a))
		a->ready = true;
	/* Likewise enforcement: the pinned policy maps hold the previous run's
	 * state until the first apply replaces it; dropping the flag meanwhile
	 * would open every isolated pod. Without policyDir it stays clear. */
	if (!a->cfg.policy_dir[0] && !a->cfg.kube.enabled)
		a->policy_on = false;
	else if (!a->policy_on && node_config_was_enforcing(a))
		a->policy_on = true;
	return node_config_write(a, a->ready);
}

static int step_peers(struct agent *a)
{
	int n = node_peers_sync(a);

	if (n < 0)
		return n;
	node_routes_sync(a); /* failures are logged and retried at every resync */
	return 0;
}

static int step_masq(struct agent *a)
{
	masq_sync(a); /* logged; retried at every resync */
	return 0;
}

/* "auto": native XDP, except on a veth uplink. There every GSO packet that
 * reaches an XDP-enabled veth is copied into XDP buffers, which costs about
 * 3-4x in throughput (measured: 12 -> 3.3 Gbit/s node to node) for a hook
 * that does nothing until filters exist; so the program stays loaded but
 * detached on veth unless the config asks for it. Physical NICs run native
 * XDP without that cost. */
static int xdp_wanted(const struct agent *a)
{
	if (a->cfg.xdp_uplink != CFG_XDP_AUTO)
		return a->cfg.xdp_uplink;
	/* Filters on the uplink need the hook whatever it costs; attached
	 * while some are active, detached again when the last goes. */
	if (a->uplink_is_veth && !filters_want_uplink(a))
		return CFG_XDP_OFF;
	return CFG_XDP_NATIVE;
}

/* The filters before the uplink's XDP: attaching reads whether uplink
 * rules exist (a restart must not detach XDP while they do). Unavailable
 * filters do not stop the agent. */
static int step_filters(struct agent *a)
{
	filters_open(a);
	return 0;
}

static int step_attach(struct agent *a)
{
	const char *mode;
	int err;

	err = loader_attach_to_pod(&a->ld, a->uplink_ifindex);
	/* The tunnel's decapsulated frames: uplink filters, then to_pod. */
	if (!err && a->tunnel_ifindex)
		err = loader_attach_tunnel(&a->ld, a->tunnel_ifindex);
	if (err) {
		log_error("loader", "cannot attach to_pod (uplink) or pod_entry (tunnel)", "err=\"%s\"",
			  strerror(-err));
		return err;
	}
	err = loader_attach_xdp(&a->ld, a->uplink_ifindex, xdp_wanted(a), &mode);
	if (err) {
		log_error("loader", "cannot attach xdp_uplink", "uplink=%s err=\"%s\"", a->cfg.uplink,
			  strerror(-err));
		return err;
	}
	log_info("loader", "attached", "uplink=%s xdp=%s tunnel_ifindex=%d", a->cfg.uplink, mode,
		 a->tunnel_ifindex);
	return 0;
}

static int endpoints(struct agent *a, bool force)
{
	long t0 = agent_uptime_ms(a);
	struct reconcile_stats st;
	int err = reconcile_all(a, force, &st);

	a->nendpoints = st.live;
	a->waiting_keys = st.waiting_keys;
	log_kv(st.removed_records || st.removed_keys || st.failed ? LOG_INFO : LOG_DEBUG,
	       "reconcile", "endpoints reconciled", "live=%d failed=%d removed_records=%d "
	       "removed_keys=%d duration_ms=%ld", st.live, st.failed, st.removed_records,
	       st.removed_keys, agent_uptime_ms(a) - t0);
	return err;
}

/* Freshly loaded: from_pod cannot be on any veth yet, attach without asking. */
static int step_endpoints(struct agent *a)
{
	return endpoints(a, true);
}

/* The policy source (policyDir, or what the informers have listed by now):
 * compiled and written to the policy maps; enforcement starts after the
 * first write. A failed load is logged and does not stop the agent. */
static int step_policies(struct agent *a)
{
	if (a->kube)
		kubesrc_changed(a); /* whatever the informers have by now */
	else
		policysrc_load(a, true);
	return 0;
}


/* With the API server, ready waits for the first full sync (fail closed: a
 * fresh node takes no pods before it knows their policies); a restarted
 * one stays ready meanwhile, its pinned maps enforcing the last state. */
static int step_ready(struct agent *a)
{
	if (!a->kube) {
		agent_synced(a);
		return a->synced ? 0 : -EIO;
	}
	if (!a->synced)
		log_info("main", "waiting for the first sync with the API server", "ready=%d",
			 a->ready);
	return 0;
}

struct step {
	const char *name;
	int (*fn)(struct agent *a);
};

static int step_events(struct agent *a);

static const struct step startup[] = {
	{ "lock state dir", step_lock },
	{ "mount bpffs", step_bpffs },
	{ "kubernetes", step_kube },
	{ "load datapath", step_load },
	{ "find uplink", step_uplink },
	{ "vxlan device", step_tunnel },
	{ "write xdp_config", step_config },
	{ "peers", step_peers },
	{ "masquerade", step_masq },
	{ "filters", step_filters },
	{ "attach uplink", step_attach },
	{ "watch endpoints, open API", step_events },
	{ "reconcile endpoints", step_endpoints },
	{ "load policies", step_policies },
	{ "ready", step_ready },
};

/* What a reload re-applies: everything after loading, idempotent. */
static const struct step reapply[] = {
	{ "find uplink", step_uplink },
	{ "vxlan device", step_tunnel },
	{ "write xdp_config", step_config },
	{ "peers", step_peers },
	{ "masquerade", step_masq },
	{ "attach uplink", step_attach },
};

static int run_steps(struct agent *a, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long t0 = agent_uptime_ms(a);
		int err = s[i].fn(a);

		if (err) {
			log_error("main", "step failed", "step=\"%s\" err=\"%s\"", s[i].name,
				  strerror(-err));
			return err;
		}
		log_debug("main", "step done", "step=\"%s\" ms=%ld", s[i].name,
			  agent_uptime_ms(a) - t0);
	}
	return 0;
}

/* ---- events ---------------------------------------------------------------- */

struct loop {
	int ep;
	int sig;
	int ino;
	int watch;      /* -1 when endpointDir is not watched (yet) */
	int pwatch;     /* -1 when policyDir is not watched (none, missing, not yet) */
	int fwatch;     /* -1 when filterDir is not watched (none, missing, not yet) */
	int timer;
	int api;
	int events;     /* the drop-event ring buffer's epoll fd, -1 if none */
	int kube;       /* the informers' eventfd, -1 without the API server */
	int http;       /* httpAddress's listening socket, -1 if none */
	int fevents;    /* the filters' sampled-drop ring's epoll fd, -1 if none */
	bool full;      /* a full reconcile is due */
	bool policy;    /* policyDir changed: reload it */
	bool filters;   /* filterDir changed: re-read its XdpFilter objects */
};

#define INO_MASK (IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)

static int watch_dir(struct agent *a, struct loop *l)
{
	if (l->watch >= 0)
		return 0;
	mkdir_p(a->cfg.endpoint_dir, 0755);
	l->watch = inotify_add_watch(l->ino, a->cfg.endpoint_dir, INO_MASK);
	if (l->watch < 0) {
		log_error("main", "cannot watch endpointDir", "dir=%s err=\"%s\"",
			  a->cfg.endpoint_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/* policyDir is not ours to create: a missing one is watched once it exists
 * (retried at every resync). */
static void watch_policy_dir(struct agent *a, struct loop *l)
{
	const char *dir = policysrc_dir(a);

	if (l->pwatch >= 0 || !dir[0])
		return;
	l->pwatch = inotify_add_watch(l->ino, dir, INO_MASK);
	if (l->pwatch < 0)
		log_debug("policy", "cannot watch policyDir", "dir=%s err=\"%s\"", dir,
			  strerror(errno));
}

/* filterDir likewise (XdpFilter manifests: filtersrc.h). */
static void watch_filter_dir(struct agent *a, struct loop *l)
{
	if (l->fwatch >= 0 || !a->cfg.filter_dir[0])
		return;
	l->fwatch = inotify_add_watch(l->ino, a->cfg.filter_dir, INO_MASK);
	if (l->fwatch < 0)
		log_debug("filter", "cannot watch filterDir", "dir=%s err=\"%s\"", a->cfg.filter_dir,
			  strerror(errno));
}

static int epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int loop_open(struct agent *a, struct loop *l)
{
	struct itimerspec its = { { AGENT_RESYNC_SEC, 0 }, { AGENT_RESYNC_SEC, 0 } };
	char path[PATH_MAX];
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	l->sig = signalfd(-1, &set, SFD_CLOEXEC);
	l->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	l->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->watch = -1;
	l->pwatch = -1;
	if (l->sig < 0 || l->ino < 0 || l->timer < 0 || l->ep < 0 ||
	    timerfd_settime(l->timer, 0, &its, NULL))
		return -errno;
	l->api = socket_path(a, path, sizeof(path));
	if (!l->api)
		l->api = api_listen(path);
	if (l->api < 0) {
		log_error("api", "cannot listen", "socket=%s err=\"%s\"", path, strerror(-l->api));
		return l->api;
	}
	log_info("api", "listening", "socket=%s", path);
	/* A descriptor kept back so running out of them cannot spin the loop. */
	if (sock_reserve())
		log_warn("main", "no reserve descriptor", "err=\"%s\"", strerror(errno));
	if (epoll_add(l->ep, l->sig) || epoll_add(l->ep, l->ino) || epoll_add(l->ep, l->timer) ||
	    epoll_add(l->ep, l->api))
		return -errno;
	/* Drop events are a diagnostic: without them the agent runs on. */
	l->events = events_open(a);
	if (l->events >= 0 && epoll_add(l->ep, l->events))
		l->events = -1;
	l->fevents = filters_ring(a);
	if (l->fevents >= 0 && epoll_add(l->ep, l->fevents))
		l->fevents = -1;
	l->kube = kubesrc_fd(a);
	if (l->kube >= 0 && epoll_add(l->ep, l->kube))
		return -errno;
	if (a->cfg.http_address[0]) {
		l->http = httpd_listen(a->cfg.http_address);
		if (l->http < 0) {
			log_error("http", "cannot listen", "address=%s err=\"%s\"",
				  a->cfg.http_address, strerror(-l->http));
			return l->http;
		}
		if (epoll_add(l->ep, l->http))
			return -errno;
		log_info("http", "listening", "address=%s", a->cfg.http_address);
	}
	watch_policy_dir(a, l);
	watch_filter_dir(a, l);
	return watch_dir(a, l);
}

static struct loop loop = { .ep = -1, .sig = -1, .ino = -1, .watch = -1, .pwatch = -1,
			    .fwatch = -1, .timer = -1, .api = -1, .events = -1, .fevents = -1,
			    .kube = -1, .http = -1 };

/* ---- /healthz /readyz /metrics ---------------------------------------------- */

static int http_text(struct httpd_resp *r, int status, const char *text)
{
	r->status = status;
	r->body = strdup(text);
	r->len = r->body ? strlen(text) : 0;
	return r->body ? 0 : -ENOMEM;
}

static int http_metrics(struct agent *a, struct httpd_resp *r)
{
	struct json_object *m = api_metrics(a);
	struct hbuf b = { 0 };
	int err = prom_render(m, &b);

	json_object_put(m);
	if (!err)
		err = prom_gauge(&b, "xdpath_ready", "1 once the first full sync is enforced.", NULL,
				 a->synced && a->ready);
	if (!err)
		err = prom_counter(&b, "xdpath_agent_connections_shed_total",
				   "API and HTTP connections closed unserved: out of file descriptors.",
				   NULL, sock_shed_count());
	if (!err)
		err = kubesrc_prom(a, &b);
	if (err) {
		hbuf_free(&b);
		return err;
	}
	r->ctype = PROM_CONTENT_TYPE;
	httpd_resp_take(r, &b);
	return 0;
}

static int http_handle(void *ctx, const char *method, const char *path, struct httpd_resp *r)
{
	struct agent *a = ctx;
	bool ready = a->synced && a->ready;

	(void)method;
	if (!strcmp(path, "/healthz"))
		return http_text(r, 200, "ok\n");
	if (!strcmp(path, "/readyz"))
		return http_text(r, ready ? 200 : 503, ready ? "ok\n" : "waiting for the first sync\n");
	if (!strcmp(path, "/metrics"))
		return http_metrics(a, r);
	return http_text(r, 404, "not found: /healthz, /readyz, /metrics\n");
}

/* Before the first reconcile, so that no record written meanwhile is missed
 * (one written during the pass is just applied twice). */
static int step_events(struct agent *a)
{
	return loop_open(a, &loop);
}

/* Adds are handled one record at a time; anything else (a record deleted,
 * renamed away, events lost) takes one full pass, after the batch. */
static void on_inotify(struct agent *a, struct loop *l)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;

	while ((n = read(l->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->wd == l->pwatch && l->pwatch >= 0) {
				if (ev->mask & IN_IGNORED)
					l->pwatch = -1; /* re-watched at resync */
				l->policy = true;
				continue;
			}
			if (ev->wd == l->fwatch && l->fwatch >= 0) {
				if (ev->mask & IN_IGNORED)
					l->fwatch = -1; /* re-watched at resync */
				l->filters = true;
				continue;
			}
			if (ev->mask & IN_Q_OVERFLOW)
				l->policy = true;
			if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE | IN_MOVED_FROM))
				l->full = true;
			if (ev->mask & IN_IGNORED) {
				l->watch = -1; /* the directory went away; re-watched at resync */
				l->full = true;
			}
			if (ev->len && (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE))) {
				if (!l->full)
					reconcile_one(a, ev->name);
				/* A new endpoint has no policy state (denied once
				 * enforcing): recompile now, not at the resync. */
				l->policy = true;
			}
		}
	}
}

/* Next full pass in first_ms, then every AGENT_RESYNC_SEC. */
static void timer_arm(struct loop *l, long first_ms)
{
	struct itimerspec its = { { AGENT_RESYNC_SEC, 0 },
				  { first_ms / 1000, (first_ms % 1000) * 1000000 } };

	timerfd_settime(l->timer, 0, &its, NULL);
}

static void resync(struct agent *a, struct loop *l)
{
	watch_dir(a, l);
	loader_repin(&a->ld, a->cfg.pin_root);
	endpoints(a, false);
	node_peers_sync(a);
	node_routes_sync(a);
	if (!a->masq_ok)
		step_masq(a);
	watch_policy_dir(a, l);
	policysrc_load(a, false);
	if (a->policy_on)
		ct_sweep(a);
	filters_resync(a);
	if (a->synced)
		cniconf_write(a); /* restored if someone removed it; unchanged: untouched */
	watch_filter_dir(a, l);
	filters_sync_dir(a);
	l->filters = false;
	l->policy = false;
	l->full = false;
}

/* Entries waiting out their grace get a pass as soon as it is over. */
static void after_pass(struct agent *a, struct loop *l)
{
	if (a->waiting_keys)
		timer_arm(l, RECONCILE_GRACE_MS + 100);
}

/* New config: keys that name where state lives need a restart; the rest
 * is re-applied. A config that does not parse changes nothing. */
static void reload(struct agent *a, struct loop *l, const struct opts *o)
{
	struct agent_config n;

	log_info("main", "SIGHUP: reloading config", "file=%s", o->config);
	if (load_config(o, &n)) {
		log_error("main", "reload failed, keeping the running config", NULL);
		return;
	}
	if (strcmp(n.pin_root, a->cfg.pin_root) || strcmp(n.state_dir, a->cfg.state_dir) ||
	    strcmp(n.endpoint_dir, a->cfg.endpoint_dir))
		log_warn("main", "pinRoot, stateDir and endpointDir change only with a restart", NULL);
	memcpy(n.pin_root, a->cfg.pin_root, sizeof(n.pin_root));
	memcpy(n.state_dir, a->cfg.state_dir, sizeof(n.state_dir));
	memcpy(n.endpoint_dir, a->cfg.endpoint_dir, sizeof(n.endpoint_dir));
	if (memcmp(&n.kube, &a->cfg.kube, sizeof(n.kube)))
		log_warn("main", "kubernetes changes only with a restart", NULL);
	n.kube = a->cfg.kube;
	/* Addresses and pod CIDRs the Node object gave stay until a restart. */
	if (a->kube && !n.node_ip4.family && !n.node_ip6.family) {
		n.node_ip4 = a->cfg.node_ip4;
		n.node_ip6 = a->cfg.node_ip6;
	}
	if (a->kube && !n.npod_cidrs) {
		memcpy(n.pod_cidrs, a->cfg.pod_cidrs, sizeof(n.pod_cidrs));
		n.npod_cidrs = a->cfg.npod_cidrs;
	}
	if (strcmp(n.policy_dir, a->cfg.policy_dir) && l->pwatch >= 0) {
		inotify_rm_watch(l->ino, l->pwatch);
		l->pwatch = -1;
	}
	if (strcmp(n.filter_dir, a->cfg.filter_dir) && l->fwatch >= 0) {
		inotify_rm_watch(l->ino, l->fwatch);
		l->fwatch = -1;
	}
	config_free(&a->cfg);
	a->cfg = n;
	if (!run_steps(a, reapply, sizeof(reapply) / sizeof(reapply[0])))
		log_info("main", "config reloaded", "mode=%s peers=%d", config_mode_name(a->cfg.mode),
			 a->cfg.npeers);
	l->full = true;
}

/* 0 on SIGTERM/SIGINT. */
static int on_signal(struct agent *a, struct loop *l, const struct opts *o)
{
	struct signalfd_siginfo si;

	if (read(l->sig, &si, sizeof(si)) != sizeof(si))
		return 1;
	if (si.ssi_signo == SIGHUP) {
		reload(a, l, o);
		return 1;
	}
	log_info("main", "exiting; the datapath stays attached", "signal=%s",
		 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	return 0;
}

/* A filter change that starts or ends the need for uplink XDP: attached
 * (or detached) now, before the change is acknowledged. */
static void settle(struct agent *a)
{
	if (filters_uplink_changed(a))
		step_attach(a);
}

static int loop_run(struct agent *a, struct loop *l, const struct opts *o)
{
	struct epoll_event evs[8];
	uint64_t ticks;

	after_pass(a, l); /* the start-up pass */
	for (;;) {
		int n;

		if (l->full) {
			resync(a, l);
			after_pass(a, l);
		}
		if (l->policy) {
			l->policy = false;
			policysrc_load(a, false);
		}
		if (l->filters) {
			l->filters = false;
			filters_sync_dir(a);
		}
		settle(a);
		n = epoll_wait(l->ep, evs, 8, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == l->sig && !on_signal(a, l, o))
				return 0;
			if (fd == l->ino)
				on_inotify(a, l);
			if (fd == l->timer && read(l->timer, &ticks, sizeof(ticks)) > 0)
				l->full = true;
			if (fd == l->api)
				api_serve(a, l->api, settle);
			if (fd == l->events)
				events_consume(a);
			if (fd == l->fevents)
				filters_consume(a);
			if (fd == l->kube)
				kubesrc_changed(a);
			if (fd == l->http)
				httpd_serve(l->http, http_handle, a);
		}
	}
}

static void loop_close(struct agent *a, struct loop *l)
{
	char path[PATH_MAX];
	int *fds[] = { &l->ep, &l->sig, &l->ino, &l->timer, &l->api, &l->http };

	/* A clean exit takes our socket away: clients get "not running". */
	if (l->api >= 0 && !socket_path(a, path, sizeof(path)))
		unlink(path);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	events_close(a); /* owns l->events */
	filters_close(a); /* owns l->fevents */
}

int main(int argc, char **argv)
{
	static struct agent a;
	struct opts o = { 0 };
	sigset_t set;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a.started);
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	log_libbpf();
	if (load_config(&o, &a.cfg))
		return EXIT_USAGE;
	if (o.check_config) {
		printf("%s: valid (node %s)\n", o.config, a.cfg.node_name);
		config_free(&a.cfg);
		return 0;
	}
	/* Signals are read from a signalfd; block them before anything can arrive. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("main", "starting", "version=" XDPATH_VERSION " node=%s config=%s",
		 a.cfg.node_name, o.config);
	a.dp = (struct dp){ -1, -1, -1 };
	rc = nl_open(&a.nl);
	if (!rc)
		rc = run_steps(&a, startup, sizeof(startup) / sizeof(startup[0]));
	if (!rc)
		rc = loop_run(&a, &loop, &o);
	loop_close(&a, &loop);
	kubesrc_close(&a);
	dp_close(&a.dp);
	loader_close(&a.ld);
	policysrc_free(&a);
	nl_close(&a.nl);
	config_free(&a.cfg);
	return rc ? EXIT_RUNTIME : 0;
}
