/* load: manifest text -> json-c documents, for policy/parse.c. Owns format
 * detection (JSON when the text starts with '{' or '['; YAML otherwise, or
 * when such a text is not JSON after all), the YAML -> json-c conversion
 * (scalars resolved as Kubernetes' go-yaml v2 does: YAML 1.1 bools, ints,
 * floats, nulls; anchors, aliases and << merge keys), the limits that keep
 * hostile input cheap (nesting depth, alias expansion, anchors) and syntax
 * error recovery: a broken YAML document costs only itself, loading resumes
 * at the next `---` line. Knows nothing about Kubernetes. */
#ifndef XDPATH_POLICY_LOAD_H
#define XDPATH_POLICY_LOAD_H

#include <stddef.h>

struct json_object;

#define LOAD_MAX_DEPTH   64           /* nested mappings/sequences */
#define LOAD_MAX_NODES   (1 << 20)    /* nodes of one document, aliases expanded */
#define LOAD_MAX_ANCHORS 4096         /* anchors of one YAML document */

struct doc {
	struct json_object *v;       /* never NULL: empty documents are dropped */
	int line;                    /* 1-based line where the document starts */
};

struct docs {
	struct doc *v;
	size_t n, cap;
};

/* Called once per broken document: 1-based line and column, and what is
 * wrong. Returns 0 or -ENOMEM (which stops loading). */
typedef int (*load_err_fn)(void *arg, int line, int col, const char *msg);

/* Append the documents of text to out (the caller frees them with
 * docs_free, also on error). 0 or -ENOMEM. */
int load_docs(const char *text, size_t len, struct docs *out, load_err_fn err, void *arg);
void docs_free(struct docs *d);

#endif
