/* pindir: a private directory under bpffs for the programs that load the
 * datapath objects themselves (the BPF unit tests, the test_run
 * benchmarks): bpffs is mounted first if it is not (a fresh machine), and
 * removal unlinks whatever libbpf pinned there, then the directory.
 * Header only: one directory per process. */
#ifndef XDPATH_LIB_PINDIR_H
#define XDPATH_LIB_PINDIR_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#define PINDIR_BPFFS "/sys/fs/bpf"

static char pindir[sizeof(PINDIR_BPFFS) + 64];

/* bpffs mounted, then PINDIR_BPFFS/<prefix>-<pid> created. 0 or -errno
 * (pindir empty then). */
static int pindir_make(const char *prefix)
{
	struct statfs st;

	pindir[0] = 0;
	if ((statfs(PINDIR_BPFFS, &st) || st.f_type != BPF_FS_MAGIC) &&
	    mount("bpf", PINDIR_BPFFS, "bpf", 0, NULL))
		return -errno;
	snprintf(pindir, sizeof(pindir), PINDIR_BPFFS "/%s-%d", prefix, (int)getpid());
	if (mkdir(pindir, 0700)) {
		int err = -errno;

		pindir[0] = 0;
		return err;
	}
	return 0;
}

/* Unlink the pins, then the directory. Idempotent. 0 or -errno of rmdir. */
static int pindir_remove(void)
{
	char path[sizeof(pindir) + 257];
	struct dirent *de;
	int err = 0;
	DIR *d;

	if (!pindir[0])
		return 0;
	d = opendir(pindir);
	if (d) {
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", pindir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	if (rmdir(pindir) && errno != ENOENT)
		err = -errno;
	pindir[0] = 0;
	return err;
}

#endif
