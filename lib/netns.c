/* netns: network namespace handles and per-netns sysctls. */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/nsfs.h>

int netns_open(const char *path)
{
	struct statfs sfs;
	int fd, err;

	if (!path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0) {
		err = -errno;
		goto fail;
	}
	/* Check the filesystem first: on any other file the nsfs ioctl number
	 * could mean something else to a driver. */
	err = -EINVAL;
	if (sfs.f_type != NSFS_MAGIC || ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		goto fail;
	return fd;
fail:
	close(fd);
	return err;
}

int netns_self(void)
{
	/* thread-self: setns() moves one thread, not the process. */
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int netns_enter(int fd)
{
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

/* Keys are built from interface names: nothing may climb out of /proc/sys. */
static bool sysctl_key_ok(const char *key)
{
	const char *p;

	if (!key || !key[0] || key[0] == '/')
		return false;
	for (p = key;; p++) {
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2]))
			return false;
		p = strchr(p, '/');
		if (!p)
			return true;
	}
}

/* The key keeps its '/' separators, so dots in interface names are literal. */
static int sysctl_open(const char *key, int flags)
{
	char path[PATH_MAX];
	int n, fd;

	if (!sysctl_key_ok(key))
		return -EINVAL;
	n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int sysctl_write(const char *key, const char *value)
{
	size_t len = strlen(value);
	ssize_t n;
	int fd, err = 0;

	fd = sysctl_open(key, O_WRONLY);
	if (fd < 0)
		return fd;
	/* procfs takes a sysctl value in one write. */
	n = write(fd, value, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

/* buf gets the value without its trailing newline ("" on error);
 * -EOVERFLOW if it does not fit. Values are single lines. */
int sysctl_read(const char *key, char *buf, int len)
{
	ssize_t n;
	int fd, err = 0;

	if (!buf || len <= 0)
		return -EINVAL;
	fd = sysctl_open(key, O_RDONLY);
	if (fd < 0)
		return fd;
	/* procfs hands the whole value to one read. */
	n = read(fd, buf, len);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
	} else if (n == len) {
		err = -EOVERFLOW;
		goto out;
	}
	buf[n] = '\0';
out:
	if (err)
		buf[0] = '\0';
	close(fd);
	return err;
}
