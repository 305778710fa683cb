/* log.h — the shim's messages: one line on stderr, prefixed "traceshim:".
 * stdout belongs to the application and is never written. Messages above
 * TRACESHIM_LOG_LEVEL are dropped. Uses only write(2) on fd 2 through the
 * real libc symbol table, so it is safe inside hooks. */
#ifndef TS_LOG_H
#define TS_LOG_H

#include "config.h"

/* While true, ts_log prints nothing: system mode reads its configuration
 * with it set, since a process traced because the system-wide file says
 * so must not print about that file (`traceshim config --system` does). */
extern bool ts_log_muted;

void ts_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write line[0..len) to stderr as it is, whatever the log level: for lines
 * the user asked for (the TRACESHIM_STATS summary, the console exporter).
 * False when not all of it was written (stderr closed or broken, or, on
 * the reporter thread, the program's stderr not to be had: fd_split.h).
 * errno is preserved. */
bool ts_log_write_line(const char *line, size_t len);

/* Where the shim's lines go instead of fd 2 once the program closed its
 * stderr on its way out: a copy kept at that close
 * (reporter/program_stderr.h). NULL until then (atomic). */
extern bool (*ts_log_stderr_kept)(const char *line, size_t len);

/* ts_log_write_line's checks and write, to fd, a copy of the program's
 * stderr the caller has at hand, left open. */
bool ts_log_write_line_to(int fd, const char *line, size_t len);

/* May the shim's lines go to fd, a Unix socket that is the program's
 * stderr? Only when it captures the program's output: connected to one of
 * journald's stream sockets (journal_dir/stdout, journal_dir.NS/stdout)
 * or one end of a socketpair (a parent's capture, libuv's stdio for
 * Node's children), both ends unnamed. Not a connection to another path
 * or abstract name, nor one accepted on a path: the program's own, which
 * took fd 2 after it closed stderr. (A socketpair the program made for
 * itself on fd 2 cannot be told from a capture, as a pipe cannot.) */
bool ts_log_unix_socket_takes_lines(int fd, const char *journal_dir);

#define ts_log_error(...) ts_log(TS_LOG_ERROR, __VA_ARGS__)
#define ts_log_warn(...) ts_log(TS_LOG_WARN, __VA_ARGS__)
#define ts_log_info(...) ts_log(TS_LOG_INFO, __VA_ARGS__)
#define ts_log_debug(...) ts_log(TS_LOG_DEBUG, __VA_ARGS__)

#endif
