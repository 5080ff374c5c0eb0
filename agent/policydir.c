/* policydir: the manifest-directory policy source (policyDir). */
#include "policysource.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "fsutil.h"
#include "log.h"
#include "parse.h"

static bool manifest_name(const char *n)
{
	size_t len = strlen(n);
	static const char *const ext[] = { ".yaml", ".yml", ".json" };

	if (n[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t e = strlen(ext[i]);

		if (len > e && !strcmp(n + len - e, ext[i]))
			return true;
	}
	return false;
}

static int filter(const struct dirent *d)
{
	return manifest_name(d->d_name);
}

/* Parse every manifest of dir into set; sig covers what was read. */
static int load_dir(struct agent *a, struct policy_set *set, uint64_t *sig, int *nfiles,
		    const char **why)
{
	const char *dir = a->cfg.policy_dir;
	struct dirent **names = NULL;
	int dfd, n, err = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		*why = "cannot open policyDir";
		return -errno;
	}
	n = scandirat(dfd, ".", &names, filter, alphasort);
	if (n < 0) {
		err = -errno;
		*why = "cannot read policyDir";
		close(dfd);
		return err;
	}
	*nfiles = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct stat st;
		char *text;
		size_t len = 0;

		if (err || fstatat(dfd, name, &st, 0) || !S_ISREG(st.st_mode))
			goto next; /* vanished or not a file: the next event reloads */
		*sig = policy_sig(*sig, name, strlen(name) + 1);
		*sig = policy_sig(*sig, &st.st_size, sizeof(st.st_size));
		*sig = policy_sig(*sig, &st.st_mtim, sizeof(st.st_mtim));
		*sig = policy_sig(*sig, &st.st_ino, sizeof(st.st_ino));
		err = read_all_at(dfd, name, &text, &len);
		if (err == -ENOENT) {
			err = 0;
			goto next;
		}
		if (err) {
			*why = "cannot read a manifest";
			log_warn("policy", "cannot read a manifest", "dir=%s file=%s err=\"%s\"", dir,
				 name, strerror(-err));
			goto next;
		}
		err = policy_parse(set, text ? text : "", len, name);
		if (err)
			*why = "out of memory parsing manifests";
		free(text);
		(*nfiles)++;
next:
		free(names[i]);
	}
	free(names);
	close(dfd);
	return err;
}

const struct policy_source policy_source_dir = {
	.name = "policyDir",
	.load = load_dir,
};
