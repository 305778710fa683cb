/* fake_env.h — a made-up environment for the configuration tests: set
 * variables with env_set, hand env_lookup to a loader in place of getenv,
 * start over with env_reset. Include after cmocka.h. */
#ifndef TS_TEST_FAKE_ENV_H
#define TS_TEST_FAKE_ENV_H

#include <string.h>

#define ENV_MAX 32

static const char *env_names[ENV_MAX];
static const char *env_values[ENV_MAX];
static size_t env_n;

static inline void env_reset(void)
{
    env_n = 0;
}

static inline void env_set(const char *name, const char *value)
{
    assert_true(env_n < ENV_MAX);
    env_names[env_n] = name;
    env_values[env_n] = value;
    env_n++;
}

static inline const char *env_lookup(const char *name)
{
    for (size_t i = 0; i < env_n; i++)
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    return NULL;
}

#endif
