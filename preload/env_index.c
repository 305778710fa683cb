/* env_index.c — one pass over the environment for the start's lookups
 * (see env_index.h). */
#include "env_index.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Could a name the shim reads begin so? */
static bool indexed_initial(char c)
{
    return c == 'O' || c == 'J' || c == 'T';
}

void ts_env_index_build(struct ts_env_index *ix, char *const *env)
{
    ix->n = 0;
    ix->complete = true;
    for (size_t i = 0; env && env[i]; i++) {
        if (!indexed_initial(env[i][0]))
            continue;
        if (ix->n == TS_ENV_INDEX_MAX) {
            ix->complete = false;
            return;
        }
        const char *eq = strchrnul(env[i], '=');
        size_t len = (size_t)(eq - env[i]);
        ix->name_len[ix->n] = *eq && len < USHRT_MAX ? (unsigned short)len : USHRT_MAX;
        ix->entry[ix->n++] = env[i];
    }
}

const char *ts_env_index_get(const struct ts_env_index *ix, const char *name)
{
    if (!ix->complete || !indexed_initial(name[0]))
        return getenv(name);
    size_t len = strlen(name);
    if (len >= USHRT_MAX)
        return getenv(name);
    for (unsigned i = 0; i < ix->n; i++)
        if (ix->name_len[i] == len && memcmp(ix->entry[i], name, len) == 0)
            return ix->entry[i] + len + 1;
    return NULL;
}
