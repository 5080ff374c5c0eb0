/* ctl: what the xdpathctl commands share: the agent request, aligned
 * tables and JSON field readers (agent/xdpathctl.c), and the filter
 * commands (agent/ctl_filter.c). */
#ifndef XDPATH_CTL_H
#define XDPATH_CTL_H

#include <json-c/json.h>
#include <stdbool.h>

#define MAX_COLS 12

struct table {
	int ncols;
	bool right[MAX_COLS];        /* right-aligned (numbers) */
	char **cells;                /* rows * ncols, row-major */
	int nrows, cap;
};

void table_row(struct table *t, const char *const *cells);
void table_print(struct table *t);
void table_discard(struct table *t);

/* The agent's answer to req (NUL-terminated, malloc'd), or NULL after
 * printing why. */
char *request(const char *path, struct json_object *req);

/* Members of o as text ("-" when missing), boolean and number. */
const char *str(struct json_object *o, const char *k);
bool boolean(struct json_object *o, const char *k);
long long num(struct json_object *o, const char *k);

/* The filter commands' options (main parses them with the rest). */
struct filter_args {
	const char *pcap;            /* filter test --pcap */
	const char *action;          /* filter add --action */
	const char *per;             /* filter add --per src|dst|rule */
	const char *expire;          /* filter add|enable --expire */
	const char *scope;           /* filter add|enable --scope */
	bool follow;
};

/* `xdpathctl filter WORDS...` (words[0] == "filter"); the exit code. */
int ctl_filter(const char *sock, int nwords, char **words, const struct filter_args *fa,
	       bool json);

#endif
