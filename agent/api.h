/* api: the agent's local API, a unix stream socket (<stateDir>/xdpathd.sock,
 * mode 0600: root only). One JSON request per connection, one JSON answer,
 * then the agent closes:
 *   {"cmd":"status"}    -> readiness, node, mode, pin root, endpoint count, uptime
 *   {"cmd":"endpoints"} -> every endpoint record with its live datapath state
 *   {"cmd":"metrics"}   -> drops by reason, forwarding verdicts, map occupancy
 *   {"cmd":"policies"}  -> the policyDir policies (policysrc.c), invalid objects, stats
 *   {"cmd":"policy-get","pod":"NS/POD"} -> the policies selecting a pod, its
 *                          allow entries per direction (policy/explain.h)
 *   {"cmd":"drops","since":N} -> the recent policy drops (events.c) after seq N
 *   {"cmd":"policy-explain","from":"NS/POD|IP","to":"NS/POD|IP","port":"80/TCP"}
 *                       -> the verdict for one connection, side by side, and
 *                          the rule behind it or why none matches; local
 *                          endpoints also checked against policy_sim
 * Errors are {"error":"..."}. Served from the agent's single thread, with
 * a short timeout so that a stuck client cannot stall it. */
#ifndef XDPATH_AGENT_API_H
#define XDPATH_AGENT_API_H

struct agent;
struct json_object;

/* Bind and listen at path (a stale socket file is replaced); fd or -errno. */
int api_listen(const char *path);
/* Accept one connection on fd and answer it. settle (may be NULL) runs
 * after the request is carried out and before the answer is sent: what a
 * request changed beyond the maps (XDP attached for a first uplink filter)
 * is in place when the client hears back. */
void api_serve(struct agent *a, int fd, void (*settle)(struct agent *a));

/* The answers (new references), also used by tests. */
struct json_object *api_status(struct agent *a);
struct json_object *api_endpoints(struct agent *a);
struct json_object *api_metrics(struct agent *a);

/* Names of enum xdp_drop_reason / enum xdp_fwd values, as operators see them. */
extern const char *const xdp_drop_names[];
extern const char *const xdp_fwd_names[];

#endif
