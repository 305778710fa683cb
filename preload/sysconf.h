/* sysconf.h — system-wide mode: the configuration file and the program
 * allowlist.
 *
 * In system mode the library is loaded into every process on the host
 * through /etc/ld.so.preload. Each process reads the configuration file
 * (/etc/traceshim/traceshim.conf: KEY=VALUE lines, the keys of the
 * environment variables) once, with raw system calls into static memory,
 * and is traced only when its executable matches TRACESHIM_PROGRAMS.
 * Every other process stays dormant: its hooks pass straight through.
 *
 * Nothing here allocates, takes a lock, uses stdio or prints: it runs in
 * the constructor of every program on the host, PID 1 included. */
#ifndef TS_SYSCONF_H
#define TS_SYSCONF_H

#include <stdbool.h>
#include <stddef.h>

#define TS_SYSCONF_PATH "/etc/traceshim/traceshim.conf"
#define TS_SYSCONF_MAX_BYTES 65536
#define TS_SYSCONF_MAX_ENTRIES 128

/* Why a file was not used (ts_sysconf.status). */
enum ts_sysconf_status {
    TS_SYSCONF_OK = 0,
    TS_SYSCONF_MISSING = 1,    /* no file (or not readable by this process) */
    TS_SYSCONF_TOO_BIG = 2,    /* over TS_SYSCONF_MAX_BYTES or too many entries */
    TS_SYSCONF_MALFORMED = 3,  /* a line that is not a comment, blank or KEY=VALUE */
    TS_SYSCONF_NOT_FILE = 4,   /* a directory, a FIFO, a device: never read */
};

struct ts_sysconf {
    int status;   /* enum ts_sysconf_status */
    int bad_line; /* TS_SYSCONF_MALFORMED: the first bad line (from 1) */
    size_t count;
    const char *key[TS_SYSCONF_MAX_ENTRIES]; /* point into text */
    const char *value[TS_SYSCONF_MAX_ENTRIES];
    char text[TS_SYSCONF_MAX_BYTES + 1];
};

/* Parse the file's bytes (copied into c->text). Lines: blank, '#'
 * comments, or KEY=VALUE where KEY is [A-Za-z_][A-Za-z0-9_]* and the
 * blanks around KEY and VALUE are dropped; the value is the rest of the
 * line, taken as it is (no quotes, no escapes). A key given twice: the
 * last wins. Any other line makes the whole file malformed (status), and
 * a malformed file has no entries. */
void ts_sysconf_parse(struct ts_sysconf *c, const char *bytes, size_t len);

/* Read and parse path with raw system calls (open with O_CLOEXEC, fstat,
 * read, close: no fd outlives the call). */
void ts_sysconf_read(struct ts_sysconf *c, const char *path);

/* A key's value (NULL when absent or the file was not usable). */
const char *ts_sysconf_get(const struct ts_sysconf *c, const char *key);

/* Shell-style pattern match: '*' any run of characters ('/' included),
 * '?' one character, [abc], [a-z], [!x] (or [^x]) one of a set;
 * a backslash makes the next character literal. */
bool ts_glob_match(const char *pattern, const char *s);

/* Does the program match one of the comma-separated patterns (blanks
 * around each dropped)? A pattern with a '/' is matched against the
 * executable's path (exe, from /proc/self/exe), an absolute argv0 and
 * an absolute execfn (the file the exec named, AT_EXECFN: a #! script's
 * own path where exe is its interpreter's, a link's where exe is its
 * target's); a pattern without one against their last components. Any of
 * the three may be NULL. An empty list matches nothing. */
bool ts_programs_match(const char *patterns, const char *exe, const char *argv0,
                       const char *execfn);

#endif
