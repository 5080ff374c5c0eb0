/* migrate: pinned maps are reused across restarts (that is what keeps
 * conntrack, endpoints and counters), but an upgrade may change a map's
 * layout, and libbpf refuses to reuse an incompatible pin. Before load, each
 * such pin is moved aside to "<pin>_old"; load then creates and pins a
 * fresh map; after load, every entry that still fits is copied from the
 * old map and the old pin is removed. */
#ifndef XDPATH_AGENT_MIGRATE_H
#define XDPATH_AGENT_MIGRATE_H

struct bpf_object;

/* For each pinned map of obj whose pin is incompatible (type, key/value
 * size, max_entries, flags), rename the pin to <pin>_old. Returns the number
 * of pins moved, or -errno. */
int migrate_prepare(struct bpf_object *obj);
/* After load: for each map of obj with a <pin>_old, copy the entries whose
 * key and value sizes still match, then unlink <pin>_old. Returns the number
 * of maps migrated, or -errno. */
int migrate_finish(struct bpf_object *obj);

#endif
