/* events: the datapath's policy-drop events (the xdp_events ring buffer),
 * kept as the last EVENTS_KEEP in memory for `xdpathctl policy drops`. */
#ifndef XDPATH_AGENT_EVENTS_H
#define XDPATH_AGENT_EVENTS_H

#include <stdint.h>

#define EVENTS_KEEP 1024

struct agent;
struct json_object;

/* Open the ring buffer; its epoll fd (readable when events wait), or -errno. */
int events_open(struct agent *a);
/* Take every waiting event. */
void events_consume(struct agent *a);
void events_close(struct agent *a);
/* {"events":[...], "last": seq} with the kept events whose seq > since. */
struct json_object *events_json(struct agent *a, uint64_t since);

#endif
