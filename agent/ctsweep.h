/* ctsweep: expired xdp_ct entries out of the map (every resync). */
#ifndef XDPATH_AGENT_CTSWEEP_H
#define XDPATH_AGENT_CTSWEEP_H

struct agent;

/* Removes the entries older than their lifetime; how many, or -errno. */
int ct_sweep(struct agent *a);

#endif
