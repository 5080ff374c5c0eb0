/* events: xdp_events ring buffer -> a bounded in-memory history. */
#include "events.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "compile.h"
#include "endpoint.h"
#include "log.h"
#include "policysrc.h"
#include "xdpath/datapath.h"
#include "xdpath/policy.h"

struct events {
	struct ring_buffer *rb;
	struct xdp_drop_event ev[EVENTS_KEEP];
	uint64_t seq;              /* events taken so far; ev[(seq - 1) % KEEP] is the last */
	int64_t mono_to_real_ns;   /* CLOCK_REALTIME - CLOCK_MONOTONIC at open */
};

static const char *const why_names[XDP_POL_WHY_MAX] = {
	[XDP_POL_WHY_NONE] = "none",
	[XDP_POL_WHY_NOT_READY] = "not-ready",
	[XDP_POL_WHY_NO_RULE] = "no-rule",
	[XDP_POL_WHY_FRAGMENT] = "fragment",
	[XDP_POL_WHY_NO_PORTS] = "no-ports",
	[XDP_POL_WHY_FAMILY] = "family",
};

static int64_t ns_of(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct events *e = ctx;

	if (len < sizeof(struct xdp_drop_event))
		return 0;
	memcpy(&e->ev[e->seq % EVENTS_KEEP], data, sizeof(struct xdp_drop_event));
	e->seq++;
	return 0;
}

int events_open(struct agent *a)
{
	int fd = loader_map_fd(&a->ld, XDP_PIN_EVENTS);
	struct events *e;

	if (fd < 0)
		return fd;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->rb = ring_buffer__new(fd, on_event, e, NULL);
	if (!e->rb) {
		int err = -errno;

		free(e);
		log_warn("events", "cannot open the drop event ring buffer", "err=\"%s\"",
			 strerror(-err));
		return err;
	}
	e->mono_to_real_ns = ns_of(CLOCK_REALTIME) - ns_of(CLOCK_MONOTONIC);
	a->events = e;
	return ring_buffer__epoll_fd(e->rb);
}

void events_consume(struct agent *a)
{
	if (a->events)
		ring_buffer__consume(a->events->rb);
}

void events_close(struct agent *a)
{
	if (!a->events)
		return;
	ring_buffer__free(a->events->rb);
	free(a->events);
	a->events = NULL;
}

static struct json_object *event_obj(struct agent *a, const struct xdp_drop_event *v,
				     uint64_t seq)
{
	struct json_object *o = json_object_new_object();
	int af = v->family == XDP_EP_FAMILY_V6 ? AF_INET6 : AF_INET;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pb[8], ns[64] = "", name[256] = "";
	time_t secs = (time_t)(((int64_t)v->ts_ns + a->events->mono_to_real_ns) / 1000000000);
	struct tm tm;
	char ts[32];

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	inet_ntop(af, v->saddr, src, sizeof(src));
	inet_ntop(af, v->daddr, dst, sizeof(dst));
	policysrc_ep_name(a, v->ep_id, ns, sizeof(ns), name, sizeof(name));
	json_object_object_add(o, "seq", json_object_new_uint64(seq));
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "epId", json_object_new_int64(v->ep_id));
	json_object_object_add(o, "podNamespace", json_object_new_string(ns));
	json_object_object_add(o, "podName", json_object_new_string(name));
	json_object_object_add(o, "direction",
			       json_object_new_string(v->dir == XDP_DIR_INGRESS ? "ingress" : "egress"));
	json_object_object_add(o, "reason", json_object_new_string("policy_denied"));
	json_object_object_add(o, "why", json_object_new_string(
				       v->why < XDP_POL_WHY_MAX ? why_names[v->why] : "?"));
	json_object_object_add(o, "protocol",
			       json_object_new_string(policy_proto_name(v->proto, pb)));
	json_object_object_add(o, "src", json_object_new_string(src));
	json_object_object_add(o, "dst", json_object_new_string(dst));
	json_object_object_add(o, "srcPort", json_object_new_int(ntohs(v->sport)));
	json_object_object_add(o, "dstPort", json_object_new_int(ntohs(v->dport)));
	json_object_object_add(o, "len", json_object_new_int64(v->len));
	return o;
}

struct json_object *events_json(struct agent *a, uint64_t since)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	struct events *e = a->events;
	uint64_t first;

	if (e) {
		events_consume(a); /* whatever arrived since the last wakeup */
		first = e->seq > EVENTS_KEEP ? e->seq - EVENTS_KEEP : 0;
		if (since > first)
			first = since;
		for (uint64_t s = first; s < e->seq; s++)
			json_object_array_add(arr, event_obj(a, &e->ev[s % EVENTS_KEEP], s + 1));
	}
	json_object_object_add(o, "events", arr);
	json_object_object_add(o, "last", json_object_new_uint64(e ? e->seq : 0));
	return o;
}
