/* exit_order.h — exit() called by several threads at once.
 *
 * glibc before 2.41 lets a second thread's exit() reach _exit while the
 * first is still running the exit handlers, the shim's flush among them:
 * the process ended halfway through writing its spans (a probe lost 6 to
 * 25% of 800, and the stats line). The exit hook asks here first: a thread
 * that is not the first to call exit waits until the first one's flush is
 * done, for at most TRACESHIM_EXIT_TIMEOUT, then goes on to exit as it
 * would have. glibc 2.41 makes such a thread wait for good; the bound keeps
 * a program whose exit handler waits for that very thread from hanging. */
#ifndef TS_EXIT_ORDER_H
#define TS_EXIT_ORDER_H

/* At the start of exit(): the first caller goes on at once; a later one
 * from another thread waits as above. The first caller's own exit handlers
 * may call exit again: that thread never waits. */
void ts_exit_order_enter(void);

/* The flush at exit is over (the library's destructor): waiting threads
 * go on. */
void ts_exit_order_flushed(void);

/* In a forked child: no thread of the child is in exit. */
void ts_exit_order_after_fork(void);

#endif
