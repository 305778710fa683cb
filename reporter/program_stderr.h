/* program_stderr.h — the program's stderr kept for the shim's last lines,
 * when the program closes it on its way out.
 *
 * coreutils close stdout and stderr in an exit handler (close_stdout),
 * before the shim's flush at exit writes the process span to the console
 * exporter and the TRACESHIM_STATS line: those lines found fd 2 closed,
 * or a file an exit handler opened at that number. So once the process
 * is exiting (exit called, main returned), the program's first close or
 * replacement of fd 2 keeps a copy of its stderr first: an fd of the
 * shim's in the program's table, registered with the hooks as own_fd.h
 * says, and from then on the shim's lines (preload/log.h) go there. Only
 * of the stderr the program started with (the same file), and only a
 * terminal or a regular file: a pipe's or a socket's reader may wait for
 * its end before the program exits (git closes its pager's pipe in an
 * exit handler, then waits for the pager), and a file the program opened
 * at fd 2 (after `2>&-`, or its own close) is its data. Not earlier: a
 * copy held while the program runs would keep the file open past the
 * program's close, and fd 2 is the program's to change (a dup2 of its
 * log, freopen). A child forked meanwhile closes its copy. A close_range
 * or closefrom that takes the copy's number leaves no copy. */
#ifndef TS_PROGRAM_STDERR_H
#define TS_PROGRAM_STDERR_H

/* At the start: what fd 2 holds is the program's stderr (one fstat). */
void ts_program_stderr_note_start(void);

/* The process is exiting: the program's next close or replacement of fd
 * 2 keeps a copy (ts_program_stderr_closing). */
void ts_program_stderr_exiting(void);

/* For the hooks, on the program's thread, before the program closes fd 2
 * or puts another file in its place: one load unless the process is
 * exiting and no copy is kept yet. Nothing in a vfork child, whose fd
 * table is not its parent's, or on a thread with a table of its own. */
void ts_program_stderr_closing(void);

/* In a forked child: no copy of its parent's is kept. */
void ts_program_stderr_after_fork(void);

#endif
