/* sock: accept without spinning when descriptors run out (sock.h). */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int reserve = -1;
static unsigned long shed;

int sock_reserve(void)
{
	if (reserve >= 0)
		return 0;
	reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return reserve < 0 ? -errno : 0;
}

/* Out of descriptors: free the reserve, take the waiting connection and
 * close it, take the reserve back. If another thread took the freed slot
 * first, pause briefly so the loop does not spin until one frees. */
static void shed_one(int lfd)
{
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	bool starved;
	int fd;

	if (reserve >= 0) {
		close(reserve);
		reserve = -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	starved = fd < 0 && (errno == EMFILE || errno == ENFILE);
	if (fd >= 0) {
		close(fd);
		shed++;
	}
	if (sock_reserve() || starved)
		nanosleep(&pause, NULL);
}

int sock_accept(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd >= 0 || (errno != EMFILE && errno != ENFILE))
		return fd;
	shed_one(lfd);
	errno = EAGAIN;
	return -1;
}

unsigned long sock_shed_count(void)
{
	return shed;
}
