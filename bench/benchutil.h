/* benchutil: what the test_run micro-benchmarks share: a private pin
 * directory under bpffs (lib/pindir.h), removed at exit, on
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

#include "pindir.h"

#define BENCH_BPFFS "/sys/fs/bpf"

static const char *bench_name = "bench";
static volatile sig_atomic_t bench_stop_sig;

static int bench_fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, strerror(err < 0 ? -err : err));
	return -1;
}

/* The pin directory (lib/pindir.h), its errors reported. */
static void bench_pin_dir_remove(void)
{
	int err = pindir_remove();

	if (err)
		bench_fail("rmdir pin dir", err);
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

static int bench_pin_dir_make(const char *prefix)
{
	int err = pindir_make(prefix);

	return err ? bench_fail("pin dir under " PINDIR_BPFFS, err) : 0;
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
