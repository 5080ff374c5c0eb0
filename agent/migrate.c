/* migrate: moving pinned maps across layout changes. */
#include "migrate.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* bpffs refuses names with a dot (reserved for the kernel's own files), so
 * not "<pin>_old". */
#define OLD_SUFFIX "_old"

/* bpf_obj_get() opens any pinned object; fdinfo says whether it is a map
 * (bpf_map_info on a program fd would be filled with program info). */
static bool fd_is_map(int fd)
{
	char path[64], line[128];
	bool map = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!map && fgets(line, sizeof(line), f))
		map = !strncmp(line, "map_type:", 9);
	fclose(f);
	return map;
}

/* 0 and info, -ENOENT (no pin) or -EINVAL (pinned, but not a map). */
static int pin_info(const char *path, int *fd_out, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	if (!fd_is_map(fd) || bpf_obj_get_info_by_fd(fd, info, &len)) {
		close(fd);
		return -EINVAL;
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

/* What libbpf checks before it reuses a pin. */
static bool compatible(const struct bpf_map *m, const struct bpf_map_info *i)
{
	return i->type == bpf_map__type(m) && i->key_size == bpf_map__key_size(m) &&
	       i->value_size == bpf_map__value_size(m) &&
	       i->max_entries == bpf_map__max_entries(m) && i->map_flags == bpf_map__map_flags(m);
}

static int old_path(const char *pin, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s" OLD_SUFFIX, pin) >= len ? -ENAMETOOLONG : 0;
}

static int prepare_map(const struct bpf_map *m)
{
	const char *pin = bpf_map__pin_path(m);
	struct bpf_map_info i;
	char old[PATH_MAX];
	int err;

	if (!pin)
		return 0;
	err = pin_info(pin, NULL, &i);
	if (err == -ENOENT || (!err && compatible(m, &i)))
		return 0;
	if (old_path(pin, old, sizeof(old)))
		return -ENAMETOOLONG;
	log_warn("migrate", "pinned map layout changed, moving it aside",
		 "map=%s pinned=\"type %u key %u value %u max %u flags %#x\" "
		 "wanted=\"type %u key %u value %u max %u flags %#x\"",
		 bpf_map__name(m), i.type, i.key_size, i.value_size, i.max_entries, i.map_flags,
		 bpf_map__type(m), bpf_map__key_size(m), bpf_map__value_size(m),
		 bpf_map__max_entries(m), bpf_map__map_flags(m));
	/* rename(2) replaces a leftover _old of an interrupted migration. */
	if (rename(pin, old))
		return -errno;
	return 1;
}

int migrate_prepare(struct bpf_object *obj)
{
	struct bpf_map *m;
	int n = 0, err;

	bpf_object__for_each_map(m, obj) {
		err = prepare_map(m);
		if (err < 0) {
			log_error("migrate", "cannot move pinned map aside", "map=%s err=\"%s\"",
				  bpf_map__name(m), strerror(-err));
			return err;
		}
		n += err;
	}
	return n;
}

static bool is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* Bytes a lookup fills: per-CPU maps return one 8-byte aligned value per
 * possible CPU. */
static size_t value_len(__u32 type, __u32 value_size)
{
	int ncpus = libbpf_num_possible_cpus();

	if (!is_percpu(type))
		return value_size;
	return ((value_size + 7) & ~7u) * (size_t)(ncpus > 0 ? ncpus : 1);
}

struct copy_result {
	int copied;
	int dropped;
};

/* Entries of old into new, one by one (every map type has get_next_key;
 * not all have batch ops). */
static int copy_entries(int old_fd, const struct bpf_map_info *oi, int new_fd,
			const struct bpf_map *m, struct copy_result *r)
{
	bool fits = oi->key_size == bpf_map__key_size(m) &&
		    oi->value_size == bpf_map__value_size(m) &&
		    is_percpu(oi->type) == is_percpu(bpf_map__type(m));
	void *key = calloc(1, oi->key_size), *next = calloc(1, oi->key_size);
	void *val = calloc(1, value_len(oi->type, oi->value_size));
	void *prev = NULL;
	int err = 0;

	if (!key || !next || !val) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(old_fd, prev, next)) {
		memcpy(key, next, oi->key_size);
		prev = key;
		if (!fits || bpf_map_lookup_elem(old_fd, key, val) ||
		    bpf_map_update_elem(new_fd, key, val, BPF_ANY))
			r->dropped++;
		else
			r->copied++;
	}
out:
	free(key);
	free(next);
	free(val);
	return err;
}

static int finish_map(const struct bpf_map *m)
{
	const char *pin = bpf_map__pin_path(m);
	struct copy_result r = { 0, 0 };
	struct bpf_map_info oi;
	char old[PATH_MAX];
	int fd = -1, err;

	if (!pin || old_path(pin, old, sizeof(old)))
		return 0;
	err = pin_info(old, &fd, &oi);
	if (err == -ENOENT)
		return 0;
	if (!err)
		err = copy_entries(fd, &oi, bpf_map__fd(m), m, &r);
	if (fd >= 0)
		close(fd);
	if (err && err != -EINVAL)
		return err;
	log_info("migrate", "pinned map migrated", "map=%s copied=%d dropped=%d%s",
		 bpf_map__name(m), r.copied, r.dropped,
		 err == -EINVAL ? " reason=\"old pin is not a map\""
		 : r.dropped    ? " reason=\"entries that no longer fit the layout\""
				: "");
	if (unlink(old) && errno != ENOENT)
		return -errno;
	return 1;
}

int migrate_finish(struct bpf_object *obj)
{
	struct bpf_map *m;
	int n = 0, err;

	bpf_object__for_each_map(m, obj) {
		err = finish_map(m);
		if (err < 0) {
			log_error("migrate", "cannot migrate map", "map=%s err=\"%s\"",
				  bpf_map__name(m), strerror(-err));
			return err;
		}
		n += err;
	}
	return n;
}
