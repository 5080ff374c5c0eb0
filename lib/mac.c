/* mac: Ethernet address formatting and parsing. */
#include "mac.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *mac_fmt(const uint8_t m[6], char buf[MAC_STRLEN])
{
	snprintf(buf, MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	return buf;
}

/* Exactly "xx:xx:xx:xx:xx:xx": sscanf's %x alone would also take " 2", "-1"
 * and "0x". */
int mac_parse(const char *s, uint8_t m[6])
{
	unsigned v[6];

	if (!s || strlen(s) != MAC_STRLEN - 1)
		return -1;
	for (int i = 0; i < MAC_STRLEN - 1; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -1;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}
