/* lang: the emergency filters' rule language -> struct xf_match
 * (include/xdpath/filter.h). Pure C, no kernel.
 *
 *   expr  := or ;  or := and ("or" and)* ;  and := unary ("and" unary)*
 *   unary := "not" unary | "(" expr ")" | test
 *   test  := PROTO | BOOLFIELD | value CMP value | FIELD "in" set
 *          | FIELD ("has" | "any") bits
 *          | RAW CMP NUMBER | NUMBER CMP RAW | RAW "in" set | RAW ("has" | "any") bits
 *   value := (FIELD | NUMBER) (("+" | "-") (FIELD | NUMBER))*
 *   set   := item | "{" item ("," item)* "}" ;  item := NUMBER | NUMBER..NUMBER
 *          | ADDRESS | CIDR | NAME
 *   RAW   := ("l2" | "l3" | "l4") "[" OFFSET (":" WIDTH)? "]"
 *   CMP   := == != < <= > >=      (and, or, not: also && || !)
 *
 * PROTO: eth vlan ip ip6 tcp udp icmp icmp6 (true when the packet
 * has that layer). RAW: WIDTH bytes (1, 2, 4 or 8; 1 by default) at OFFSET
 * (< XF_BYTES_MAX_OFF) from a layer start, big endian: a number of that
 * width that is never part of a sum (XF_T_BYTES). Fields are typed (numbers of a width, booleans, IPv4 and
 * IPv6 addresses with CIDR, MACs, TCP flags by name); xf_fields lists them.
 * A test on a layer the packet does not have is false. Errors name the
 * column (1-based byte offset) and what was expected there. */
#ifndef XDPATH_FILTER_LANG_H
#define XDPATH_FILTER_LANG_H

#include <stddef.h>

#include "xdpath/filter.h"

enum xf_type {
	XT_UINT,                 /* a number of `bits` bits */
	XT_BOOL,                 /* 0/1; a bare field name is "== 1" */
	XT_IP4,
	XT_IP6,                  /* two summary fields: hi, lo */
	XT_MAC,
	XT_FLAGS,                /* tcp.flags: numbers or names fin syn rst psh ack urg ece cwr */
	XT_PROTO,                /* a layer word: true when present */
};

struct xf_field_info {
	const char *name;
	enum xf_type type;
	unsigned char field;     /* enum xf_field (XT_IP6: the hi half; lo = field + 1) */
	unsigned char bits;      /* XT_UINT: width */
	unsigned long long mask; /* XT_BOOL views of a bit (tcp.flags.syn): the bit; else 0 */
	const char *consts;      /* named values "tcp=6,udp=17", or NULL */
	const char *doc;
};

extern const struct xf_field_info xf_fields[];
extern const size_t xf_nfields;
const struct xf_field_info *xf_field_find(const char *name, size_t len);

struct xf_error {
	int col;                 /* 1-based position in the text, 0 if none */
	char msg[200];
};

/* Compile text into m. 0; -EINVAL with e (column and message); -ENOMEM. */
int xf_compile(const char *text, struct xf_match *m, struct xf_error *e);
/* m as text, one conjunction per line (for `xdpathctl filter check`). */
void xf_match_format(const struct xf_match *m, char *buf, size_t len);

#endif
