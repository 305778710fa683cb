/* env_index.c — one pass over the environment for the start's lookups
 * (see env_index.h). */
#include "env_index.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Could a name the shim reads begin so? */
static bool indexed_initial(char c)
{
    return c == 'O' || c == 'J' || c == 'T';
}

/* A name's hash, which gives the three bits it sets in the filter: its
 * length and its first and last eight bytes (where names that differ
 * mostly differ: a service's name at the start, a port's number at the
 * end), mixed. Two names it confuses only cost a walk of the entries. */
static uint64_t name_hash(const char *name, size_t len)
{
    uint64_t head = 0, tail = 0;
    if (len >= 8) { /* the two may overlap */
        memcpy(&head, name, 8);
        memcpy(&tail, name + len - 8, 8);
    } else {
        for (size_t i = 0; i < len; i++)
            head |= (uint64_t)(unsigned char)name[i] << (8 * i);
    }
    uint64_t h = (head * 0x9e3779b97f4a7c15ull) ^ (tail * 0xc2b2ae3d27d4eb4full) ^ len;
    h ^= h >> 31;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

#define SEEN_BITS (TS_ENV_SEEN_WORDS * 64u)

/* The filter's three bits for a hash: 21 bits of it each. */
static void seen_bits(uint64_t h, unsigned bit[3])
{
    for (int i = 0; i < 3; i++)
        bit[i] = (unsigned)((h >> (21 * i)) % SEEN_BITS);
}

static void seen_add(struct ts_env_index *ix, uint64_t h)
{
    unsigned bit[3];
    seen_bits(h, bit);
    for (int i = 0; i < 3; i++)
        ix->seen[bit[i] / 64] |= 1ull << (bit[i] % 64);
}

static bool seen_may_hold(const struct ts_env_index *ix, uint64_t h)
{
    unsigned bit[3];
    seen_bits(h, bit);
    for (int i = 0; i < 3; i++)
        if (!(ix->seen[bit[i] / 64] >> (bit[i] % 64) & 1))
            return false;
    return true;
}

void ts_env_index_build(struct ts_env_index *ix, char *const *env)
{
    ix->n = 0;
    ix->complete = true;
    memset(ix->seen, 0, sizeof ix->seen);
    for (size_t i = 0; env && env[i]; i++) {
        if (!indexed_initial(env[i][0]))
            continue;
        const char *eq = strchrnul(env[i], '=');
        size_t len = (size_t)(eq - env[i]);
        if (!*eq) /* no value: getenv never answers with it */
            continue;
        seen_add(ix, name_hash(env[i], len));
        if (ix->n == TS_ENV_INDEX_MAX) {
            ix->complete = false;
            continue;
        }
        ix->name_len[ix->n] = len < USHRT_MAX ? (unsigned short)len : USHRT_MAX;
        ix->entry[ix->n++] = env[i];
    }
}

const char *ts_env_index_get(const struct ts_env_index *ix, const char *name)
{
    if (!indexed_initial(name[0]))
        return getenv(name);
    size_t len = strlen(name);
    if (len >= USHRT_MAX)
        return getenv(name);
    if (!seen_may_hold(ix, name_hash(name, len)))
        return NULL; /* in no entry: most of the names the shim reads */
    for (unsigned i = 0; i < ix->n; i++)
        if (ix->name_len[i] == len && memcmp(ix->entry[i], name, len) == 0)
            return ix->entry[i] + len + 1;
    return ix->complete ? NULL : getenv(name);
}
