/* exit_key.c — see exit_key.h. */
#include "exit_key.h"

#define EXIT_KEY_WITHOUT_ALLOCATION 32

bool ts_exit_key_create(pthread_key_t *key, void (*fn)(void *))
{
    if (pthread_key_create(key, fn) != 0)
        return false;
    if ((unsigned long)*key >= EXIT_KEY_WITHOUT_ALLOCATION) {
        pthread_key_delete(*key);
        return false;
    }
    return true;
}
