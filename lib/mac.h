/* mac: Ethernet address text form ("02:00:5e:10:00:01"). */
#ifndef XDPATH_CNI_MAC_H
#define XDPATH_CNI_MAC_H

#include <stdint.h>

#define MAC_STRLEN 18

const char *mac_fmt(const uint8_t m[6], char buf[MAC_STRLEN]);
int mac_parse(const char *s, uint8_t m[6]); /* 0 or -1 */

#endif
