/* reporter.h — from finished spans to the configured exporter.
 *
 * Spans are copied (or handed over in their block: ts_rep_submit_block)
 * into a bounded queue that never blocks the caller; a reporter thread,
 * started on the first submitted span (or earlier:
 * ts_rep_prepare_for_handlers), batches and exports them. The reporter
 * thread holds the reentrancy guard for its whole life, so nothing it
 * does is traced. */
#ifndef TS_REPORTER_H
#define TS_REPORTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../preload/span.h"

struct ts_rep_queue;

struct ts_block_pool; /* preload/blocks.h */

/* Call once after the configuration is loaded (from init). Starts nothing
 * and writes nothing; it fixes what depends on the start-up state: a
 * relative span file path (or the default traceshim-spans.jsonl) is made
 * absolute against the directory the program started in, before it can
 * chdir. Without this call that happens at the first export. */
void ts_rep_init(void);

/* Queue a finished span. Never blocks: when the queue is full the span is
 * dropped and counted. Spans with sampled == 0 are counted and ignored.
 * It does not ask the kernel whether it runs in a vfork child (a getpid
 * system call per request was a measurable share of a request's cost):
 * a caller on a path a vfork child may take checks ts_process_foreign()
 * itself, as the process span does. Connection spans end in read/write
 * hooks, which a vfork child may not call (POSIX: only _exit and exec). */
void ts_rep_submit(const struct ts_span *s);

/* The same for the last span of a process image (its process span, at
 * exit or before an exec), which ts_rep_flush or ts_rep_exit follows at
 * once: with the span file as the only exporter and no reporter thread
 * running, none is started for it; the flush writes it on the calling
 * thread, the span file opened and closed again there (a regular file
 * only: a FIFO's open could wait for its reader; the thread is started
 * for that). */
void ts_rep_submit_last(const struct ts_span *s);

/* The same from _exit or _Exit, which are async-signal-safe and so may
 * run in a signal handler that interrupted the program inside malloc: the
 * reporter thread is never started here (pthread_create allocates), and
 * with an unsampled span no remote sampler is started either. The copy
 * comes from the queue's block pools (mmap, their locks only ever held
 * under the reentrancy guard or across a fork, when the hooks pass
 * through). */
void ts_rep_submit_signal_safe(const struct ts_span *s);

/* The program installs a signal handler (a normal context): a flush handed
 * to the reporter thread from a handler (_exit, exec) is to allocate
 * nothing, so the thread prepares its exporters (exporters.h
 * ts_exp_prepare), in this process and in its forked children, which keep
 * the handlers. start_thread: start the thread now unless it runs (the
 * process span will be queued where it cannot be started); else a thread
 * not running yet prepares when it starts. Waits for the preparation (at
 * most 250 ms) once per process, and only when the thread is not busy
 * exporting; otherwise returns at once, the thread preparing next. */
void ts_rep_prepare_for_handlers(bool start_thread);

/* The same for the shim's own handler (signal_hooks.h), set up at
 * start-up: the thread prepares when it runs, and nothing waits for it. */
void ts_rep_prepare_unwaited(void);

/* Does the reporter thread run (or start)? A handler that may have
 * interrupted malloc can hand it a flush, and must start none. */
extern bool ts_rep_thread_started __attribute__((visibility("hidden")));
static inline bool ts_rep_thread_running(void)
{
    return __atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED);
}

/* Can a flush from a signal handler send the spans (ts_rep_flush_signal_safe)?
 * With a reporter thread to hand it to; or with none, in a process whose
 * spans go only to the span file, which the handler then writes itself,
 * taking no memory from malloc. */
bool ts_rep_flush_possible_in_handler(void);

/* A span to be exported has begun: from now on a stop signal (the shim's
 * handler, signal_hooks.h) or an _exit in the program's handler has spans
 * to hand the reporter thread, and neither can start one. So the thread
 * that began it asks for the thread (this thread's ask, atomic-free: its
 * own), and answers the ask at its hook's end (ts_rep_answer_thread_ask),
 * not here deep in the send path, where a thread with a 16 KiB stack has
 * no room for pthread_create. Once the thread runs, a load. */
extern __thread bool ts_rep_thread_asked __attribute__((tls_model("initial-exec")))
__attribute__((visibility("hidden")));
void ts_rep_ask_for_thread(void);
static inline void ts_rep_exported_span_begins(void)
{
    if (__builtin_expect(!ts_rep_thread_running(), 0))
        ts_rep_ask_for_thread();
}

/* At the end of a hook that may have begun a span (its deep work
 * returned, the guard held): this thread's ask answered. The thread
 * starts, unless this may be a signal handler of the program's
 * (ts_rep_maybe_in_a_handler), where pthread_create, which allocates,
 * could meet the malloc the handler interrupted: then it is left to the
 * first span that ends, as without the ask. */
void ts_rep_thread_asked_here(void);
static inline void ts_rep_answer_thread_ask(void)
{
    if (__builtin_expect(ts_rep_thread_asked, 0))
        ts_rep_thread_asked_here();
}

/* Set by the signal hooks (signal_hooks.h ts_signal_maybe_in_a_handler);
 * NULL: no handler of the program's can be running. */
extern bool (*ts_rep_maybe_in_a_handler)(void);

/* The program is about to give up access it has (its user or groups, its
 * root: hooks/access_hooks.c): keep the span file open in the program's fd
 * table with the access it has now (file_exporter.h ts_file_export_keep),
 * once per process; becomes: the user the call makes the process for
 * good, or (uid_t)-1 (a span file this process's keeping made is given to
 * that user: true when it was, and the caller calls
 * ts_rep_access_kept_after_all if the change then fails). A span file
 * that cannot be kept so (a FIFO): when the reporter thread has started
 * and not yet tried to open it, wait for that (until 20 ms after the
 * process's first such call). Not in a vfork child. Async-signal-safe;
 * errno kept. */
bool ts_rep_before_giving_up_access(uid_t becomes);
void ts_rep_access_kept_after_all(void);

/* The program is about to forbid its user any new process (RLIMIT_NPROC
 * 0: hooks/limit_hooks.c), which refuses every new thread from then on:
 * the reporter thread is started now, unless it runs or nothing is
 * exported (when another thread is starting it, waited for, at most
 * 100 ms). Not in a vfork child. errno kept. */
void ts_rep_before_limiting_threads(void);

/* The same for a span at the start of a block of pool that the caller
 * would give back next: true when the reporter has taken the block too
 * (queued whole rather than copied: the caller must not touch it again;
 * it comes back through ts_rep_reuse_block); false when the caller keeps
 * it (copied, or not queued). */
bool ts_rep_submit_block(struct ts_span *s, struct ts_block_pool *pool);

/* A block of pool that ts_rep_submit_block took and the reporter is done
 * with, or NULL: to take before the pool's own (lock-free). */
void *ts_rep_reuse_block(const struct ts_block_pool *pool);

/* Export everything queued so far, waiting at most timeout_ms. Called at
 * normal exit and before exec. Once the reporter thread has an fd table
 * of its own (preload/fd_split.h) the export is handed to it and waited
 * for (handover.h). Safe to call when nothing was ever queued.
 * Does nothing when getpid() is not ts_proc.pid (a vfork child, where it
 * must not lock or allocate), so ts_proc.pid must be refreshed after fork. */
void ts_rep_flush(unsigned timeout_ms);

/* The same from an exec that may run in a signal handler (see
 * ts_rep_submit_signal_safe): only handed over to a reporter thread that
 * runs, at most timeout_ms; nothing is encoded or allocated here. */
void ts_rep_flush_signal_safe(unsigned timeout_ms);

/* At exit: flush (at most timeout_ms), count the spans still queued or
 * held by an exporter (a send still running) as dropped_exit_timeout, say
 * on stderr, at warn level, how many spans were not exported, if any, and
 * with TRACESHIM_STATS print the counters' summary line (preload/stats.h)
 * and, with the file exporter, append them to the span file as an
 * OTLP/JSON metrics line. Said once per process, but again by a later
 * call when spans began since (ts_rep_spans_began_since_exit). */
void ts_rep_exit(unsigned timeout_ms);

/* Did spans begin since ts_rep_exit last counted (or at all, before it
 * has)? */
bool ts_rep_spans_began_since_exit(void);

/* The reporter thread's kernel thread id, 0 before it runs: one thread
 * that never uses the program's connections, whatever fd table it has
 * (hooks/socket_hooks.c). */
pid_t ts_rep_thread_id(void);

/* Nothing more is exported, from now on until the process ends: no
 * flush, no export of the reporter thread (it stays asleep), no stats
 * line; spans that end later are queued and lost. For the end of a
 * process whose shim's calls would next reach a library whose destructor
 * has run (preload/init.c). Returns once an export already under way has
 * ended, or at most timeout_ms. */
void ts_rep_hold(unsigned timeout_ms);

/* The same from _exit or _Exit (see ts_rep_submit_signal_safe): the flush
 * and the stats line are only handed over to a reporter thread that runs
 * (handover.h, whatever its fd table), at most timeout_ms; nothing is
 * encoded or allocated on the calling thread and no thread is started.
 * Without a reporter thread the spans queued count as dropped_exit_timeout.
 * The caller makes sure the calling thread is not inside the shim (the
 * reentrancy guard), whose locks it may hold. */
void ts_rep_exit_signal_safe(unsigned timeout_ms);

/* The process ends (_exit) in a signal handler that interrupted this
 * thread inside the shim, where it must not flush: a flush this thread had
 * handed to the reporter thread and was waiting for (at exit, before an
 * exec) is waited for still, up to its own deadline, so that its spans are
 * written before the process is gone. Async-signal-safe. */
void ts_rep_wait_interrupted_flush(void);

/* From the counters (preload/stats.h), for tests: spans dropped (queue
 * full + export failed) and exported. */
uint64_t ts_rep_dropped(void);
uint64_t ts_rep_exported(void);
/* Spans not exported yet: waiting in the queue or encoded into a batch
 * not sent yet. */
uint64_t ts_rep_queued(void);

/* How many queued spans ring the reporter thread, after `arrived` spans
 * came in since_ns: as many as come in a millisecond, at least `few`, at
 * most `most` (reporter.c says why). For tests. */
size_t ts_rep_wake_at_for(uint64_t since_ns, size_t arrived, size_t few, size_t most);
/* How many queued spans ring the reporter thread now (0: no ring yet). */
size_t ts_rep_ring_wake_at(void);

/* The span queue itself, for tests that put it in states no caller of
 * this API can (a place claimed and never published). */
struct ts_rep_queue *ts_rep_the_queue(void);

/* Fork handling, registered by preload/ with pthread_atfork. In the child:
 * queue emptied (the parent exports those spans), locks re-initialised, no
 * reporter thread until the next span. */
void ts_rep_atfork_prepare(void);
void ts_rep_atfork_parent(void);
void ts_rep_atfork_child(void);

#endif
