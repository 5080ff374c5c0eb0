/* netns: entering network namespaces and writing per-netns sysctls. */
#ifndef XDPATH_CNI_NETNS_H
#define XDPATH_CNI_NETNS_H

/* Open a netns path (e.g. /run/netns/x or /proc/PID/ns/net); fd or -errno.
 * -EINVAL if the path exists but is not a network namespace. */
int netns_open(const char *path);
/* fd of the calling thread's current netns, or -errno. */
int netns_self(void);
/* setns(fd, CLONE_NEWNET); 0 or -errno. */
int netns_enter(int fd);
/* Write value to /proc/sys/<key> (key like "net/ipv4/conf/eth0/forwarding") in
 * the current netns. 0 or -errno (-ENOENT if the key does not exist). */
int sysctl_write(const char *key, const char *value);
int sysctl_read(const char *key, char *buf, int len);

#endif
