/* fsutil: small filesystem helpers shared by the plugin and the agent. */
#ifndef XDPATH_LIB_FSUTIL_H
#define XDPATH_LIB_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: create path and its missing parents with mode; 0 also when it
 * exists already, else -errno (-ENAMETOOLONG beyond PATH_MAX). */
int mkdir_p(const char *path, mode_t mode);
/* The whole file at path (relative to dfd, or AT_FDCWD) into *text (malloc'd,
 * NUL-terminated; may be NULL for an empty file) and *len. 0 or -errno. */
int read_all_at(int dfd, const char *path, char **text, size_t *len);

/* text (len bytes) into path atomically: written to ".<name>.tmp" in the
 * same directory, then rename(2)d over path, so a reader sees the old file
 * or the new one, never a part (a hidden *.tmp name no reader picks up).
 * durable: fsync before the rename. 0 or -errno (the temporary removed). */
int write_atomic(const char *path, const char *text, size_t len, bool durable);
/* The temporary write_atomic(path) uses, into buf: what a writer killed
 * before its rename leaves, for whoever removes path to remove too.
 * 0 or -ENAMETOOLONG. */
int atomic_tmp_path(const char *path, char *buf, size_t size);

#endif
