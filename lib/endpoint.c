/* endpoint: attachment records on disk, and names derived from the attachment. */
#include "endpoint.h"
#include "fsutil.h"
#include "mac.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t fnv1a(const char *id, const char *ifname, uint8_t salt)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *parts[2] = { id, ifname };

	h = (h ^ salt) * 0x100000001b3ULL;
	for (int p = 0; p < 2; p++) {
		for (const char *c = parts[p]; *c; c++)
			h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
		h = (h ^ 0) * 0x100000001b3ULL; /* separator: ("ab","c") != ("a","bc") */
	}
	return h;
}

void endpoint_host_ifname(const char *prefix, const char *id, const char *ifname, char out[16])
{
	snprintf(out, 16, "%.4s%011llx", prefix,
		 (unsigned long long)(fnv1a(id, ifname, 0) & 0xfffffffffffULL));
}

uint32_t endpoint_pod_table(const char *ifname)
{
	return XDP_POD_TABLE_BASE | (uint32_t)(fnv1a("", ifname, 3) & 0xffff);
}

static void mac_from(uint64_t h, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (mac[0] & 0xfc) | 0x02; /* unicast, locally administered */
}

void endpoint_macs(const char *id, const char *ifname, uint8_t host_mac[6], uint8_t pod_mac[6])
{
	mac_from(fnv1a(id, ifname, 1), host_mac);
	mac_from(fnv1a(id, ifname, 2), pod_mac);
}

static int record_path(const char *dir, const char *id, const char *ifname, char *buf,
		       size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s:%s.json", dir, id, ifname) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static struct json_object *to_json(const struct endpoint *ep)
{
	struct json_object *o = json_object_new_object(), *ips = json_object_new_array();
	char mac[18], cidr[CIDR_STRLEN];

#define S(k, v) json_object_object_add(o, k, json_object_new_string(v))
#define I(k, v) json_object_object_add(o, k, json_object_new_int(v))
	I("schema", 1);
	S("containerId", ep->container_id);
	S("ifname", ep->ifname);
	S("network", ep->network);
	S("netns", ep->netns);
	S("podNamespace", ep->pod_namespace);
	S("podName", ep->pod_name);
	S("podUid", ep->pod_uid);
	S("hostIfname", ep->host_ifname);
	I("hostIfindex", ep->host_ifindex);
	mac_fmt(ep->host_mac, mac);
	S("hostMac", mac);
	I("podIfindex", ep->pod_ifindex);
	mac_fmt(ep->pod_mac, mac);
	S("podMac", mac);
	I("mtu", ep->mtu);
#undef S
#undef I
	for (int i = 0; i < ep->nips; i++)
		json_object_array_add(ips, json_object_new_string(ipnet_fmt(&ep->ips[i], cidr)));
	json_object_object_add(o, "ips", ips);
	return o;
}

int endpoint_write(const char *dir, const struct endpoint *ep)
{
	char path[PATH_MAX], *line;
	struct json_object *o;
	const char *txt;
	size_t len;
	int err;

	err = mkdir_p(dir, 0755);
	if (err)
		return err;
	err = record_path(dir, ep->container_id, ep->ifname, path, sizeof(path));
	if (err)
		return err;
	o = to_json(ep);
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(txt);
	line = malloc(len + 2);
	if (line) {
		memcpy(line, txt, len);
		memcpy(line + len, "\n", 2);
	}
	json_object_put(o);
	/* tmpfs: no fsync, the record does not outlive a reboot anyway. */
	err = line ? write_atomic(path, line, len + 1, false) : -ENOMEM;
	free(line);
	return err;
}

int endpoint_remove(const char *dir, const char *id, const char *ifname)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int err = record_path(dir, id, ifname, path, sizeof(path));

	if (!err)
		err = atomic_tmp_path(path, tmp, sizeof(tmp));
	if (err)
		return err == -ENAMETOOLONG ? 0 : err;
	/* An ADD killed between writing and renaming leaves the temp file.
	 * A name too long to exist was never written: nothing to remove. */
	if (unlink(tmp) && errno != ENOENT && errno != ENAMETOOLONG)
		return -errno;
	if (unlink(path) && errno != ENOENT && errno != ENAMETOOLONG)
		return -errno;
	return 0;
}

static int get_s(struct json_object *o, const char *k, char *dst, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) >= len)
		return -1;
	strcpy(dst, json_object_get_string(v));
	return 0;
}

static int get_i(struct json_object *o, const char *k, int *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int(v);
	return 0;
}

static int from_json(struct json_object *o, struct endpoint *ep)
{
	struct json_object *ips;
	char mac[18];

	memset(ep, 0, sizeof(*ep));
	if (get_s(o, "containerId", ep->container_id, sizeof(ep->container_id)) ||
	    get_s(o, "ifname", ep->ifname, sizeof(ep->ifname)) ||
	    get_s(o, "network", ep->network, sizeof(ep->network)) ||
	    get_s(o, "netns", ep->netns, sizeof(ep->netns)) ||
	    get_s(o, "podNamespace", ep->pod_namespace, sizeof(ep->pod_namespace)) ||
	    get_s(o, "podName", ep->pod_name, sizeof(ep->pod_name)) ||
	    get_s(o, "podUid", ep->pod_uid, sizeof(ep->pod_uid)) ||
	    get_s(o, "hostIfname", ep->host_ifname, sizeof(ep->host_ifname)) ||
	    get_i(o, "hostIfindex", &ep->host_ifindex) || get_i(o, "podIfindex", &ep->pod_ifindex) ||
	    get_i(o, "mtu", &ep->mtu) || get_s(o, "hostMac", mac, sizeof(mac)) ||
	    mac_parse(mac, ep->host_mac) || get_s(o, "podMac", mac, sizeof(mac)) ||
	    mac_parse(mac, ep->pod_mac))
		return -EINVAL;
	if (!json_object_object_get_ex(o, "ips", &ips) || !json_object_is_type(ips, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(ips) && ep->nips < ENDPOINT_MAX_IPS; i++)
		if (ipnet_parse(json_object_get_string(json_object_array_get_idx(ips, i)),
				&ep->ips[ep->nips++]))
			return -EINVAL;
	return 0;
}

/* -EINVAL: the file is not a record; other errors: it could not be read. */
static int read_path(const char *path, struct endpoint *ep)
{
	struct json_object *o;
	size_t len;
	char *text;
	int err;

	err = read_all_at(AT_FDCWD, path, &text, &len);
	if (err)
		return err;
	o = text ? json_tokener_parse(text) : NULL;
	free(text);
	if (!o)
		return -EINVAL;
	err = from_json(o, ep);
	json_object_put(o);
	return err;
}

/* A record that is not one, is a directory, or went away meanwhile is
 * skipped; any other failure (out of descriptors or memory, I/O) ends the
 * walk: a caller that sweeps what no record wants must not sweep live
 * endpoints because their records could not be read just now. */
static bool skippable(int err)
{
	return err == -EINVAL || err == -ENOENT || err == -EISDIR;
}

int endpoint_read(const char *dir, const char *id, const char *ifname, struct endpoint *ep)
{
	char path[PATH_MAX];
	int err = record_path(dir, id, ifname, path, sizeof(path));

	return err ? err : read_path(path, ep);
}

int endpoint_foreach(const char *dir, int (*fn)(const struct endpoint *ep, void *ctx), void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct endpoint ep;
	char path[PATH_MAX];
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		err = read_path(path, &ep);
		if (skippable(err)) {
			err = 0;
			continue;
		}
		if (!err)
			err = fn(&ep, ctx);
		if (err)
			break;
	}
	closedir(d);
	return err;
}

void endpoint_to_map(const struct endpoint *ep, int i, struct xdp_ep_key *key,
		     struct xdp_ep_info *info)
{
	memset(key, 0, sizeof(*key));
	memset(info, 0, sizeof(*info));
	key->family = ep->ips[i].ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(key->addr, ep->ips[i].ip.b, ipaddr_len(&ep->ips[i].ip));
	info->host_ifindex = (__u32)ep->host_ifindex;
	info->pod_ifindex = (__u32)ep->pod_ifindex;
	memcpy(info->host_mac, ep->host_mac, 6);
	memcpy(info->pod_mac, ep->pod_mac, 6);
	info->ep_id = (__u32)ep->host_ifindex;
}
