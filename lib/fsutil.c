/* fsutil: filesystem helpers. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int read_all_at(int dfd, const char *path, char **text, size_t *len)
{
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int err;

	*text = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		err = -errno;
		close(fd);
		return err;
	}
	/* NUL as the delimiter: the whole file, however long, in one call */
	n = getdelim(text, &cap, '\0', f);
	err = n < 0 && ferror(f) ? -errno : 0;
	fclose(f);
	if (err) {
		free(*text);
		*text = NULL;
		return err;
	}
	*len = n < 0 ? 0 : (size_t)n;
	return 0;
}

int atomic_tmp_path(const char *path, char *buf, size_t size)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if ((size_t)snprintf(buf, size, "%.*s.%s.tmp", (int)(base - path), path, base) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int write_atomic(const char *path, const char *text, size_t len, bool durable)
{
	char tmp[PATH_MAX];
	int fd, err;

	err = atomic_tmp_path(path, tmp, sizeof(tmp));
	if (err)
		return err;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || (durable && fsync(fd)))
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
