/* loader: the BPF side of the node. Owns bpffs (mounted if missing), the
 * four BPF objects (bpftool skeletons), their pins under the pin root, and
 * the programs on the uplink and the vxlan device. Maps are LIBBPF_PIN_BY_NAME
 * under the pin root: the first load creates and pins them, every later
 * load (another object, a restarted agent) reuses the pins, so the maps and
 * their contents outlive the agent. Nothing here ever detaches a program or
 * unpins a map: the datapath keeps forwarding while the agent is down. */
#ifndef XDPATH_AGENT_LOADER_H
#define XDPATH_AGENT_LOADER_H

#include <stdint.h>

struct from_pod;
struct pod_entry;
struct to_pod;
struct xdp_uplink;

struct loader {
	struct from_pod *from_pod;
	struct pod_entry *pod_entry;
	struct to_pod *to_pod;
	struct xdp_uplink *xdp_uplink;
};

/* Make sure pin_root lies on a bpffs: mounts one at /sys/fs/bpf (or at
 * pin_root itself when it is elsewhere) if needed, then creates pin_root. */
int bpffs_ensure(const char *pin_root);

/* Open the objects with pin_root, migrate incompatible pins, load (create
 * or reuse the pinned maps), pin pod_entry (what host veths run: the
 * filters, then a tail call to from_pod) at <pin_root>/prog_from_pod
 * atomically. 0 or -errno; on error nothing is left open. */
int loader_load(struct loader *ld, const char *pin_root);
void loader_close(struct loader *ld);

/* Pin pod_entry again if its pin is gone or names another program (someone
 * removed it: the CNI needs it at every ADD). 1 if re-pinned, 0, or -errno. */
int loader_repin(const struct loader *ld, const char *pin_root);

/* fd of a map by pin name (XDP_PIN_*), -ENOENT if unknown. */
int loader_map_fd(const struct loader *ld, const char *name);
int loader_from_pod_fd(const struct loader *ld);
/* The kernel id of a program or map fd, 0 on error. */
uint32_t bpf_fd_id(int fd);

/* to_pod at TC ingress of ifindex (replacing ours atomically). */
int loader_attach_to_pod(const struct loader *ld, int ifindex);
/* pod_entry at TC ingress of the vxlan device (filters, then to_pod). */
int loader_attach_tunnel(const struct loader *ld, int ifindex);
/* xdp_uplink on ifindex as want (enum cfg_xdp: NATIVE, GENERIC, or OFF
 * to detach); an existing attachment in the same mode is replaced
 * atomically. *mode names what is in place afterwards. */
int loader_attach_xdp(const struct loader *ld, int ifindex, int want, const char **mode);

#endif
