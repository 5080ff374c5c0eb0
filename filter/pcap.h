/* pcap: read a classic pcap file (libpcap format, either byte order,
 * micro- or nanosecond timestamps, Ethernet link type) frame by frame, for
 * `xdpathctl filter test --pcap`. No libpcap: the format is 40 lines. */
#ifndef XDPATH_FILTER_PCAP_H
#define XDPATH_FILTER_PCAP_H

#include <stddef.h>

/* cb gets every frame (caplen bytes captured of origlen on the wire); a
 * non-zero return stops the walk and is returned. 0, or -errno with err. */
int xf_pcap_each(const char *path, int (*cb)(void *ctx, const unsigned char *frame,
					     size_t caplen, size_t origlen),
		 void *ctx, char *err, size_t errlen);

#endif
