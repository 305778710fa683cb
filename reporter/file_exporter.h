/* file_exporter.h — appends span lines to the span file (TRACESHIM_FILE),
 * one write per line, so that many processes appending to one file never
 * interleave their lines.
 *
 * Not thread-safe: the reporter serialises calls with its export mutex. */
#ifndef TS_FILE_EXPORTER_H
#define TS_FILE_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The file name used when TRACESHIM_FILE is empty, in the current
 * directory. */
#define TS_FILE_DEFAULT_NAME "traceshim-spans.jsonl"

/* Append line[0..len) and a '\n' to the span file in one system call.
 * Opens the file on first use and again whenever the program closed or
 * dup2'ed over the shim's fd. Returns 0, or -1 with errno set (the first
 * failure of the process is reported on stderr, naming the path). */
int ts_file_export(const char *line, size_t len);

/* Open the span file now if it is not open, quietly (a failure is
 * reported by the export that needs it): the reporter thread's first
 * step, so that a program that changes its user or its root after its
 * first span keeps the file it could open then. */
void ts_file_export_open_early(void);

/* On a program's thread, just before it gives up its user, its groups or
 * its root (reporter.h ts_rep_before_giving_up_access): open the span file
 * in the program's fd table, once per process (again when the program has
 * closed that fd since), and keep it there for the process's life (and
 * its forked children's), so that the exporter, where
 * the path is closed to the process since (a directory only root may
 * write, a file outside the new root), writes to a copy of that fd
 * instead (in a reporter thread's table of its own, a copy taken from
 * the program's). A regular file (or a new one) only: anything else at
 * the path is left for the reporter thread. A file this process's keeping
 * made is given to becomes, the user the call makes the process for good
 * ((uid_t)-1: none; *given: it was). A call while another thread keeps the file waits for
 * that (at most 20 ms). True when the file is kept (by this call or an
 * earlier one); false when it could not be. Quiet; errno kept. */
bool ts_file_export_keep(uid_t becomes, bool *given);

/* The change of user that ts_file_export_keep gave the file away for
 * (*given) failed: the file is its maker's again. errno kept. */
void ts_file_export_take_back(void);

/* On a program's thread, when no reporter thread has an fd table of its
 * own (the flush at the exit or exec of a process whose last span is its
 * first: reporter.h ts_rep_submit_last): open the span file for the
 * writes up to ts_file_export_end_here, unless it is open already. Only
 * a regular file (or a new one) is taken, and never waited for: for a
 * special file at the path (a FIFO, a device), found without opening it,
 * -1 with errno ENXIO, quietly; that is for the reporter thread, which
 * may wait for a reader. Any other failure (a symbolic link, a directory,
 * a folder that is not there) is -1 with its errno, also quietly (the
 * export that needs the file reports it, as the reporter thread's
 * would). errno is kept
 * on success. Opens until ts_file_export_end_here, the export's own
 * included, take a regular file only. */
int ts_file_export_open_here(void);

/* After the writes: the file is closed if it was opened since
 * ts_file_export_open_here, so that the program's fd table is as it was
 * (an exec that fails goes on with it), unless keep_open: a reporter
 * thread that shares the table (TRACESHIM_OWN_FD_TABLE=0) writes to it
 * next. errno kept. */
void ts_file_export_end_here(bool keep_open);

/* The longest line (its newline included) that reaches the span file
 * whole whatever other processes write into it: PIPE_BUF when it is a
 * FIFO (a longer write may be cut in pieces, another writer's line
 * between them), 0 when there is no such bound (a regular file opened
 * for appending takes each write whole). Opens the file when it is not
 * open yet, as ts_file_export would. */
size_t ts_file_export_whole_line_max(void);

/* Fix the file's absolute path now (a relative path is taken relative to
 * the current directory): call at init, before the program can chdir.
 * Otherwise it is fixed at the first export. Idempotent. */
void ts_file_export_resolve_path(void);

/* The absolute path the exporter writes to ("" before it is resolved). */
const char *ts_file_export_path(void);

/* In a forked child whose parent was in the middle of an export at fork
 * time: the exporter's state may be half-updated, so forget the fd (without
 * closing it: the number may not be ours) and open afresh on next use. */
void ts_file_export_forget_fd(void);

/* In a forked child: a program's thread of the parent may have been
 * between ts_file_export_open_here and ts_file_export_end_here. */
void ts_file_export_after_fork(void);

/* In every forked child: a keeping another thread of the parent's had
 * under way is not the child's. */
void ts_file_export_kept_after_fork(void);

/* Close the span file (opened again on next use). */
void ts_file_export_close_fd(void);

#endif
