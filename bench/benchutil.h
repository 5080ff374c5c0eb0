/* benchutil: what the test_run micro-benchmarks share: a private pin
 * directory under bpffs (mounted first if it is not), removed at exit, on
 * errors and on SIGINT/SIGTERM/SIGHUP (the main loop polls bench_check_stop
 * between test_run calls, so the handler does nothing unsafe), a CPU pin,
 * and medians. Header only: each bench is one file. */
#ifndef XDPATH_BENCH_BENCHUTIL_H
#define XDPATH_BENCH_BENCHUTIL_H

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#define BENCH_BPFFS "/sys/fs/bpf"

static const char *bench_name = "bench";
static char bench_pin_dir[sizeof(BENCH_BPFFS) + 64];
static volatile sig_atomic_t bench_stop_sig;

static int bench_fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, strerror(err < 0 ? -err : err));
	return -1;
}

/* Unlink whatever libbpf pinned, then the directory. Idempotent. */
static void bench_pin_dir_remove(void)
{
	char path[sizeof(bench_pin_dir) + 256];
	struct dirent *de;
	DIR *d;

	if (!bench_pin_dir[0])
		return;
	d = opendir(bench_pin_dir);
	if (d) {
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", bench_pin_dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	if (rmdir(bench_pin_dir) && errno != ENOENT)
		bench_fail("rmdir pin dir", errno);
	bench_pin_dir[0] = 0;
}

static void bench_on_signal(int sig)
{
	bench_stop_sig = sig;
}

static void bench_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Exit (through the atexit cleanup) if a signal came. */
static void bench_check_stop(void)
{
	if (bench_stop_sig) {
		fprintf(stderr, "%s: signal %d, cleaning up\n", bench_name, (int)bench_stop_sig);
		exit(128 + bench_stop_sig);
	}
}

/* bpffs mounted, and a fresh bench_pin_dir "<bpffs>/<prefix>-XXXXXX". */
static int bench_pin_dir_make(const char *prefix)
{
	struct statfs st;

	if ((statfs(BENCH_BPFFS, &st) || st.f_type != BPF_FS_MAGIC) &&
	    mount("bpf", BENCH_BPFFS, "bpf", 0, NULL))
		return bench_fail("mount bpffs on " BENCH_BPFFS, errno);
	snprintf(bench_pin_dir, sizeof(bench_pin_dir), BENCH_BPFFS "/%s-%d", prefix, (int)getpid());
	if (mkdir(bench_pin_dir, 0700)) {
		bench_pin_dir[0] = 0;
		return bench_fail("mkdir pin dir", errno);
	}
	return 0;
}

static int bench_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? bench_fail("sched_setaffinity", errno) : 0;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
