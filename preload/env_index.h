/* env_index.h — the environment's entries that the shim's configuration
 * can name, found in one pass, for the lookups of a process's start.
 *
 * The configuration reads some 45 variables at every start, each through
 * getenv, which walks the whole environment: a Kubernetes pod or a CI job
 * has hundreds of variables, and that was tens of thousands of
 * instructions per process. Every name the shim reads starts with OTEL_,
 * JAEGER_ or TRACESHIM_, or is TRACEPARENT or TRACESTATE: one pass keeps
 * the entries that begin with 'O', 'J' or 'T', in the environment's
 * order, and a lookup walks only those. The answers are getenv's (the
 * first entry of that name); a name that begins otherwise, or an
 * environment with more such entries than the index holds, is looked up
 * with getenv.
 *
 * For the start only (init.c): the index holds pointers into the
 * environment as it was, which the program may change afterwards. */
#ifndef TS_ENV_INDEX_H
#define TS_ENV_INDEX_H

#include <stdbool.h>

#define TS_ENV_INDEX_MAX 64 /* 512 bytes of the stack of whichever thread starts the shim */

struct ts_env_index {
    const char *entry[TS_ENV_INDEX_MAX];
    unsigned short name_len[TS_ENV_INDEX_MAX]; /* up to the '=' (USHRT_MAX: none, or longer) */
    unsigned n;
    bool complete; /* every entry that begins with those letters is in entry[] */
};

/* Index env (an environ-style array, NULL-terminated; NULL: empty). */
void ts_env_index_build(struct ts_env_index *ix, char *const *env);

/* The value of name, as getenv(name) would answer for the environment
 * indexed, or NULL. */
const char *ts_env_index_get(const struct ts_env_index *ix, const char *name);

#endif
