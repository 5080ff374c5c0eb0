/* fsutil: small filesystem helpers shared by the plugin and the agent. */
#ifndef XDPATH_LIB_FSUTIL_H
#define XDPATH_LIB_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: create path and its missing parents with mode; 0 also when it
 * exists already, else -errno (-ENAMETOOLONG beyond PATH_MAX). */
int mkdir_p(const char *path, mode_t mode);

#endif
