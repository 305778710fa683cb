/* exit_key.h — a pthread key whose destructor runs when a thread of the
 * program ends (pthread_exit, cancellation, returning from its start
 * function), set from a hook.
 *
 * glibc keeps a thread's values of the first 32 keys in the thread itself
 * and callocs room for the others on a thread's first pthread_setspecific:
 * that must not happen in a hook, which may run in a signal handler that
 * interrupted malloc. A key past those is given back, and the threads go
 * without its destructor. musl keeps every key's value in the thread. */
#ifndef TS_EXIT_KEY_H
#define TS_EXIT_KEY_H

#include <pthread.h>
#include <stdbool.h>

/* Create *key with destructor fn; true when it can be set without
 * allocation (else there is no key). */
bool ts_exit_key_create(pthread_key_t *key, void (*fn)(void *));

#endif
