/* held.c — letting go of what a thread held when it left a real call
 * without returning through the hook: at its exit (cancelled inside the
 * call), or when a siglongjmp took it out (see held.h). */
#include "held.h"

#include <pthread.h>

#include "../preload/exit_key.h"
#include "../preload/guard.h"
#include "../preload/process.h"
#include "conn.h"
#include "tls_sessions.h"

__thread struct ts_held ts_held __attribute__((tls_model("initial-exec")));

static pthread_once_t held_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t held_key;
static bool held_key_usable;

/* The send lock first: letting go of the reference may end the
 * connection's spans, which takes the connection's locks. The bytes the
 * send moved before it was left are not known: the stream is given up at
 * its next send (ts_conn_send_abandoned). */
static void held_let_go(struct ts_held *h)
{
    ts_guard_enter();
    if (h->sending) {
        ts_conn_send_abandoned(h->sending);
        h->sending = NULL;
    }
    if (h->ref.conn) {
        ts_conn_done_with(h->ref.fd, h->ref.conn);
        h->ref.conn = NULL;
    }
    h->send_mark = NULL; /* in the left frame */
    ts_guard_leave();
}

/* The thread ends with something still noted: it ended inside a real
 * call. */
static void held_at_exit(void *arg)
{
    ts_guard_marked_call = NULL;
    held_let_go(arg);
    struct ts_held *h = arg;
    if (h->tls_pinned) {
        tls_unpin_left(h->tls_pinned);
        h->tls_pinned = NULL;
    }
}

bool ts_held_abandoned(void)
{
    if (ts_process_foreign())
        return false;
    held_let_go(&ts_held);
    return true;
}

/* Past the keys a thread keeps without allocation (exit_key.h), threads
 * go without: what one of them holds when it is cancelled stays held. */
static void held_key_create(void)
{
    held_key_usable = ts_exit_key_create(&held_key, held_at_exit);
}

void ts_held_register(void)
{
    ts_held.registered = true; /* tried once: a thread past the key limit goes without */
    pthread_once(&held_key_once, held_key_create);
    if (held_key_usable)
        (void)pthread_setspecific(held_key, &ts_held);
}
