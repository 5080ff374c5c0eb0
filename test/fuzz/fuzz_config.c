/* libFuzzer target: the network config parser (netconf_parse, including the
 * ipam section) and the prevResult parser, for every command. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum cni_cmd cmds[] = { CMD_ADD, CMD_DEL, CMD_CHECK, CMD_GC, CMD_STATUS,
					     CMD_VERSION };
	char *buf = malloc(size + 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct cni_err e = { 0 };
		struct netconf nc;
		struct cni_result r;

		netconf_parse(buf, size, cmds[i], &nc, &e);
		if (!e.code && nc.prev) {
			struct cni_err e2 = { 0 };

			cni_result_parse(nc.prev, &r, &e2);
		}
		netconf_free(&nc);
	}
	free(buf);
	return 0;
}
