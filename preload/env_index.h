/* env_index.h — the environment's entries that the shim's configuration
 * can name, found in one pass, for the lookups of a process's start.
 *
 * The configuration reads some 45 variables at every start, each through
 * getenv, which walks the whole environment: a Kubernetes pod or a CI job
 * has hundreds of variables, and that was tens of thousands of
 * instructions per process. Every name the shim reads starts with OTEL_,
 * JAEGER_ or TRACESHIM_, or is TRACEPARENT or TRACESTATE: one pass keeps
 * the first entries that begin with 'O', 'J' or 'T', in the environment's
 * order, and a filter of the names of all of them (a Bloom filter: a name
 * it has not seen is in no entry, which answers at once most lookups,
 * those of names nobody set). A lookup walks only the entries kept. The
 * answers are getenv's, the first entry of the name: a name that begins
 * otherwise is looked up with getenv, and so is one that the filter may
 * hold and the entries kept miss, when there were more than they hold (a
 * hit is still the first entry of its name: any earlier one would be
 * among the first kept).
 *
 * For the start only (init.c): the index holds pointers into the
 * environment as it was, which the program may change afterwards. */
#ifndef TS_ENV_INDEX_H
#define TS_ENV_INDEX_H

#include <stdbool.h>
#include <stdint.h>

/* About 1,150 bytes in all, on the stack of the thread that starts the
 * shim. The filter: 4096 bits, three a name; with 300 names in it, about
 * 1% of the names looked up that are in none pass it (19 of 2,000,
 * test_env_index; 148 with two bits in 2048, and two of the
 * configuration's JAEGER_ names among them, each a getenv walk of all 300
 * entries: test_startup.py). */
#define TS_ENV_INDEX_MAX 64
#define TS_ENV_SEEN_WORDS 64

struct ts_env_index {
    const char *entry[TS_ENV_INDEX_MAX];
    unsigned short name_len[TS_ENV_INDEX_MAX]; /* up to the '=' (USHRT_MAX: as long or longer) */
    unsigned n;
    bool complete;                    /* every entry that begins with those letters is kept */
    uint64_t seen[TS_ENV_SEEN_WORDS]; /* the filter of all their names */
};

/* Index env (an environ-style array, NULL-terminated; NULL: empty). */
void ts_env_index_build(struct ts_env_index *ix, char *const *env);

/* The value of name, as getenv(name) would answer for the environment
 * indexed, or NULL. */
const char *ts_env_index_get(const struct ts_env_index *ix, const char *name);

#endif
