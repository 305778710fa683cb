/* rep_block_stub.h — for a test that stubs the reporter's ts_rep_submit:
 * the block hand-over (reporter.h) as a reporter that never takes the
 * block. The span goes to the test's own ts_rep_submit and the caller
 * gives its block back, as with a copy. The process span's entry points
 * (_exit's submit, the last span's, the start before main) and the
 * thread's start likewise. Include once per
 * program, after reporter/reporter.h. */
#ifndef TS_REP_BLOCK_STUB_H
#define TS_REP_BLOCK_STUB_H

bool ts_rep_submit_block(struct ts_span *s, struct ts_block_pool *pool)
{
    (void)pool;
    ts_rep_submit(s);
    return false;
}

void *ts_rep_reuse_block(const struct ts_block_pool *pool)
{
    (void)pool;
    return NULL;
}

void ts_rep_submit_signal_safe(const struct ts_span *s)
{
    ts_rep_submit(s);
}

void ts_rep_submit_last(const struct ts_span *s)
{
    ts_rep_submit(s);
}

void ts_rep_prepare_for_handlers(bool start_thread)
{
    (void)start_thread;
}

/* No reporter thread: a span that begins asks for one, and the hook's end
 * answers the ask (the test counts the answers). */
bool ts_rep_thread_started;
__thread bool ts_rep_thread_asked;
unsigned rep_stub_threads_asked;

void ts_rep_ask_for_thread(void)
{
    ts_rep_thread_asked = true;
}

void ts_rep_thread_asked_here(void)
{
    ts_rep_thread_asked = false;
    rep_stub_threads_asked++;
}

#endif
