/* loader: bpffs, skeletons, pins, uplink attachment. */
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "dp.h"
#include "log.h"
#include "migrate.h"
#include "config.h"
#include "xdpath/datapath.h"

#include "from_pod.skel.h"
#include "pod_entry.skel.h"
#include "to_pod.skel.h"
#include "xdp_uplink.skel.h"

#define SYS_BPFFS "/sys/fs/bpf"

/* ---- bpffs ------------------------------------------------------------- */

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/* The deepest existing directory on the way to path. */
static void existing_ancestor(const char *path, char *out, size_t len)
{
	struct stat st;
	char *slash;

	snprintf(out, len, "%s", path);
	while (stat(out, &st) && (slash = strrchr(out, '/'))) {
		if (slash == out) {
			out[1] = '\0';
			return;
		}
		*slash = '\0';
	}
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

/* A bpffs mounted in a mount namespace of our own (ip netns exec makes one)
 * dies with it, and the pins with it: restarts are then not hitless. Say
 * so; when init's namespace cannot be looked at, say it may be the case. */
static void warn_private_mount(const char *where)
{
	struct stat self, init;
	const char *hint = "run xdpathd in the host mount namespace (nsenter --net) or "
			   "bind-mount the host's /sys/fs/bpf";

	if (stat("/proc/self/ns/mnt", &self) || stat("/proc/1/ns/mnt", &init)) {
		log_info("loader", "if this is a private mount namespace, pins will not outlive it",
			 "path=%s hint=\"%s\"", where, hint);
		return;
	}
	if (self.st_ino != init.st_ino)
		log_warn("loader", "bpffs mounted in a private mount namespace: pins will not "
			 "outlive it", "path=%s hint=\"%s\"", where, hint);
}

int bpffs_ensure(const char *pin_root)
{
	char at[PATH_MAX];
	const char *where;
	int err;

	existing_ancestor(pin_root, at, sizeof(at));
	if (!is_bpffs(at)) {
		where = under(pin_root, SYS_BPFFS) ? SYS_BPFFS : pin_root;
		err = mkdir_p(where, 0755);
		if (err)
			return err;
		if (mount("bpf", where, "bpf", 0, NULL))
			return -errno;
		log_info("loader", "mounted bpffs", "path=%s", where);
		warn_private_mount(where);
	}
	return mkdir_p(pin_root, 0755);
}

/* ---- objects ------------------------------------------------------------ */

static struct bpf_object *const *objects(const struct loader *ld, struct bpf_object **out)
{
	out[0] = ld->from_pod->obj;
	out[1] = ld->to_pod->obj;
	out[2] = ld->xdp_uplink->obj;
	out[3] = ld->pod_entry->obj;
	return out;
}

#define NOBJ 4

static int open_all(struct loader *ld, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);

	ld->from_pod = from_pod__open_opts(&opts);
	if (!ld->from_pod)
		return -errno;
	ld->to_pod = to_pod__open_opts(&opts);
	if (!ld->to_pod)
		return -errno;
	ld->pod_entry = pod_entry__open_opts(&opts);
	if (!ld->pod_entry)
		return -errno;
	ld->xdp_uplink = xdp_uplink__open_opts(&opts);
	if (!ld->xdp_uplink)
		return -errno;
	return 0;
}

/* The second thread's loads: the two filter programs. */
static void *load_filters(void *arg)
{
	struct loader *ld = arg;
	long err = pod_entry__load(ld->pod_entry);

	if (!err)
		err = xdp_uplink__load(ld->xdp_uplink);
	return (void *)err;
}

/* to_pod first: it declares every pinned map (the filters' too), so its
 * load creates every pin. Then, in parallel, from_pod on this thread and
 * the two filter programs on another: their verification is most of the
 * agent's start-up, and they only reuse pins, so they cannot race to
 * create one. */
static int load_all(struct loader *ld)
{
	void *ret = NULL;
	pthread_t t;
	int err;

	err = to_pod__load(ld->to_pod);
	if (err)
		return err;
	if (pthread_create(&t, NULL, load_filters, ld)) {
		err = from_pod__load(ld->from_pod);
		return err ? err : (int)(long)load_filters(ld);
	}
	err = from_pod__load(ld->from_pod);
	pthread_join(t, &ret);
	return err ? err : (int)(long)ret;
}

/* Pin to a temporary name, then rename(2) over the old pin: whoever opens
 * the pin (the CNI at ADD) finds the old program or the new one, never none.
 * (No dot in the name: bpffs reserves those.) */
static int pin_atomic(int fd, const char *root, const char *name)
{
	char path[PATH_MAX], tmp[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/%s_tmp", root, name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp))
		return -errno;
	if (rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

static int migrate_step(struct bpf_object *const *objs, int (*fn)(struct bpf_object *))
{
	for (int i = 0; i < NOBJ; i++) {
		int err = fn(objs[i]);

		if (err < 0)
			return err;
	}
	return 0;
}

/* pod_entry (what host veths run) tail calls from_pod, and on the tunnel
 * device to_pod: set both before pod_entry is pinned or attached. */
static int fill_pod_progs(const struct loader *ld)
{
	__u32 key = XDP_POD_PROG_MAIN, zero = 0;
	int fd = bpf_program__fd(ld->from_pod->progs.from_pod);
	int to = bpf_program__fd(ld->to_pod->progs.to_pod);

	if (bpf_map_update_elem(bpf_map__fd(ld->pod_entry->maps.xdp_pod_progs), &key, &fd, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(ld->pod_entry->maps.xdp_tunnel_progs), &zero, &to,
				BPF_ANY))
		return -errno;
	return 0;
}

int loader_load(struct loader *ld, const char *pin_root)
{
	struct bpf_object *objs[NOBJ];
	int err;

	memset(ld, 0, sizeof(*ld));
	err = open_all(ld, pin_root);
	if (err)
		goto fail;
	objects(ld, objs);
	err = migrate_step(objs, migrate_prepare);
	if (err)
		goto fail;
	err = load_all(ld);
	if (err) {
		log_error("loader", "cannot load BPF objects", "err=\"%s\"", strerror(-err));
		goto fail;
	}
	err = migrate_step(objs, migrate_finish);
	if (err)
		goto fail;
	err = fill_pod_progs(ld);
	if (err) {
		log_error("loader", "cannot set the tail calls to from_pod and to_pod", "err=\"%s\"",
			  strerror(-err));
		goto fail;
	}
	err = pin_atomic(loader_from_pod_fd(ld), pin_root, XDP_PIN_PROG_FROM_POD);
	if (err) {
		log_error("loader", "cannot pin program", "name=" XDP_PIN_PROG_FROM_POD " err=\"%s\"",
			  strerror(-err));
		goto fail;
	}
	return 0;
fail:
	loader_close(ld);
	return err;
}

int loader_repin(const struct loader *ld, const char *pin_root)
{
	char path[PATH_MAX];
	uint32_t id = 0;
	int fd, err;

	if (snprintf(path, sizeof(path), "%s/" XDP_PIN_PROG_FROM_POD, pin_root) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		id = bpf_fd_id(fd);
		close(fd);
	}
	if (id && id == bpf_fd_id(loader_from_pod_fd(ld)))
		return 0;
	err = pin_atomic(loader_from_pod_fd(ld), pin_root, XDP_PIN_PROG_FROM_POD);
	if (err)
		return err;
	log_warn("loader", "program pin was missing or replaced, pinned again",
		 "path=%s", path);
	return 1;
}

/* Closes our fds only: pins and attachments stay. */
void loader_close(struct loader *ld)
{
	from_pod__destroy(ld->from_pod);
	pod_entry__destroy(ld->pod_entry);
	to_pod__destroy(ld->to_pod);
	xdp_uplink__destroy(ld->xdp_uplink);
	memset(ld, 0, sizeof(*ld));
}

/* to_pod declares every pinned map (see load_all). */
int loader_map_fd(const struct loader *ld, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(ld->to_pod->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

/* The program host veths run: pod_entry (the filters, then from_pod). */
int loader_from_pod_fd(const struct loader *ld)
{
	return bpf_program__fd(ld->pod_entry->progs.pod_entry);
}

uint32_t bpf_fd_id(int fd)
{
	/* bpf_prog_info and bpf_map_info both start with type, id. */
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* ---- attachment --------------------------------------------------------- */

int loader_attach_to_pod(const struct loader *ld, int ifindex)
{
	return dp_tc_attach(ifindex, bpf_program__fd(ld->to_pod->progs.to_pod), true);
}

/* The tunnel device runs pod_entry: the uplink-scope filters on the
 * decapsulated frame, then to_pod (bpf/pod_entry.bpf.c). */
int loader_attach_tunnel(const struct loader *ld, int ifindex)
{
	return dp_tc_attach(ifindex, loader_from_pod_fd(ld), true);
}

static int xdp_flags_of(int want)
{
	return want == CFG_XDP_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
}

int loader_attach_xdp(const struct loader *ld, int ifindex, int want, const char **mode)
{
	int fd = bpf_program__fd(ld->xdp_uplink->progs.xdp_uplink);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err;

	err = bpf_xdp_query(ifindex, 0, &q);
	if (err)
		return err;
	if (want == CFG_XDP_OFF) {
		*mode = "off";
		if (q.attach_mode == XDP_ATTACHED_NONE)
			return 0;
		return bpf_xdp_detach(ifindex, q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
										   : XDP_FLAGS_DRV_MODE,
				      NULL);
	}
	/* Switching modes: the kernel refuses native and generic at once. */
	if ((q.attach_mode == XDP_ATTACHED_SKB && want != CFG_XDP_GENERIC) ||
	    (q.attach_mode == XDP_ATTACHED_DRV && want == CFG_XDP_GENERIC))
		bpf_xdp_detach(ifindex, q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
									   : XDP_FLAGS_DRV_MODE,
			       NULL);
	/* Same mode: replaced atomically. */
	*mode = want == CFG_XDP_GENERIC ? "generic" : "native";
	return bpf_xdp_attach(ifindex, fd, xdp_flags_of(want), NULL);
}
