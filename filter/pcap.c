/* pcap: classic pcap reader. */
#include "pcap.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define LINKTYPE_ETHERNET 1
#define SNAP_MAX (256 * 1024)

static uint32_t u32(const unsigned char *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

int xf_pcap_each(const char *path, int (*cb)(void *ctx, const unsigned char *frame,
					     size_t caplen, size_t origlen),
		 void *ctx, char *err, size_t errlen)
{
	unsigned char gh[24], rh[16], *buf = NULL;
	FILE *f = fopen(path, "rb");
	uint32_t magic;
	int swap, rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fread(gh, 1, sizeof(gh), f) != sizeof(gh)) {
		snprintf(err, errlen, "%s: not a pcap file (too short)", path);
		rc = -EINVAL;
		goto out;
	}
	memcpy(&magic, gh, 4);
	swap = magic == __builtin_bswap32(PCAP_MAGIC_US) || magic == __builtin_bswap32(PCAP_MAGIC_NS);
	if (!swap && magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS) {
		snprintf(err, errlen, "%s: not a pcap file (magic %#x; pcapng is not read: "
			 "convert with editcap -F pcap)", path, magic);
		rc = -EINVAL;
		goto out;
	}
	if ((u32(gh + 20, swap) & 0x0fffffff) != LINKTYPE_ETHERNET) {
		snprintf(err, errlen, "%s: link type %u, only Ethernet (1) is read", path,
			 u32(gh + 20, swap));
		rc = -EINVAL;
		goto out;
	}
	buf = malloc(SNAP_MAX);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (!rc && fread(rh, 1, sizeof(rh), f) == sizeof(rh)) {
		uint32_t caplen = u32(rh + 8, swap), origlen = u32(rh + 12, swap);

		if (caplen > SNAP_MAX) {
			snprintf(err, errlen, "%s: a record of %u bytes (corrupt file?)", path, caplen);
			rc = -EINVAL;
			break;
		}
		if (fread(buf, 1, caplen, f) != caplen) {
			snprintf(err, errlen, "%s: the last record is cut short", path);
			rc = -EINVAL;
			break;
		}
		rc = cb(ctx, buf, caplen, origlen);
	}
out:
	free(buf);
	fclose(f);
	return rc;
}
