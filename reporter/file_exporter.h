/* file_exporter.h — appends lines to TRACESHIM_FILE, one write per line,
 * so many processes can share one file without interleaving. */
#ifndef TS_FILE_EXPORTER_H
#define TS_FILE_EXPORTER_H

#include <stddef.h>

/* Append line[0..len) plus '\n'. line must have room for one more byte at
 * line[len] (the newline is written there so the line goes out in a single
 * write). Returns 0, or -1 (reported once per process). */
int ts_file_export(char *line, size_t len);

/* After fork in the child: keep the fd (same file), nothing to do; after
 * exec the fd is gone (O_CLOEXEC). Forget the fd, e.g. in tests. */
void ts_file_exporter_reset(void);

#endif
