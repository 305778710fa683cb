/* html_cmd.c — `traceshim html [FILE] [-o OUT]`: writes the spans file as a
 * self-contained HTML report (report_html.c). A new OUT or a regular file is
 * written to a temporary file next to it and renamed into place (with the
 * permissions of the file it replaces), so a failed run, or one a signal
 * ends, never leaves half a page behind; an OUT that exists as anything else (a symlink, a device
 * such as /dev/stdout, a FIFO) is written in place, and so is a regular OUT in a folder where no
 * new file may be made (write_over_in_place). Exit status: 0 written, 1 FILE unreadable or OUT not
 * writable (or no such trace), 2 bad usage. */
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/report_html.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_OUT "traceshim-report.html"

static void usage(FILE *out)
{
    fputs("usage: traceshim html [FILE] [-o OUT] [--trace ID] [--service NAME] [--errors]\n"
          "                      [--match REGEX] [--limit N]\n"
          "\n"
          "Writes the traces in FILE as one self-contained HTML page (no network, no\n"
          "external scripts or fonts; open it from disk): the traces newest first, and\n"
          "for the selected one a collapsible span tree with duration bars on a shared\n"
          "time axis, service colours, the details of a span (attributes, process,\n"
          "stack) on click, and a filter box (a regular expression over span names\n"
          "and attributes).\n"
          "\n"
          "  FILE            spans file; default $TRACESHIM_FILE, else ./" TS_CLI_DEFAULT_FILE "\n"
          "                  (- reads standard input)\n"
          "  -o, --output OUT  the page to write; default ./" DEFAULT_OUT "; - for\n"
          "                  standard output\n"
          "  --trace ID      only this trace (32 hex digits or a unique prefix), when\n"
          "                  it passes the filters below too\n"
          "  --service NAME  only traces with a span of this service\n"
          "  --errors        only traces with a span whose status is ERROR\n"
          "  --match REGEX   only traces with a span whose name, service or an\n"
          "                  attribute (as key=value) matches (POSIX extended,\n"
          "                  case-insensitive)\n"
          "  --limit N       at most the N newest traces (default 0: all)\n"
          "  -h, --help      show this help\n"
          "\n"
          "Exit status: 0 written, 1 FILE or trace not found or unreadable (or lines\n"
          "of FILE rejected and no span read), or OUT cannot be written, 2 bad usage.\n",
          out);
}

/* A page whose data a browser cannot read as one string shows nothing:
 * said on stderr (the page is written all the same: its data is whole). */
static void warn_if_too_large(uint64_t data_bytes)
{
    if (data_bytes <= TS_REPORT_DATA_MAX)
        return;
    fprintf(stderr,
            "traceshim html: warning: the page holds %llu MB of span data, more than a "
            "browser reads as one string (%llu MB), and will show nothing: choose fewer traces "
            "(--trace, --service, --match, --errors, --limit)\n",
            (unsigned long long)(data_bytes / 1000000),
            (unsigned long long)(TS_REPORT_DATA_MAX / 1000000));
}

/* Writes the page to f, which stays open; 0, or 1 after a message. */
static int write_stream(FILE *f, const char *out_path, const ts_tm_model *m,
                        const ts_tm_trace *const *sel, size_t n, const char *source)
{
    uint64_t data_bytes;
    if (ts_report_write(f, m, sel, n, source, &data_bytes) != 0) {
        fputs("traceshim html: the built-in page template has no data marker\n", stderr);
        return 1;
    }
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    warn_if_too_large(data_bytes);
    return 0;
}

/* Writes the page into an existing OUT that is not a regular file: a
 * symlink (through to its target), a device, a FIFO. Renaming a temporary
 * over such a path replaces the link or the device node with a regular file
 * (-o /dev/stdout, a symlink, became one), and a FIFO's reader never sees
 * the page. */
static int write_in_place(const char *out_path, const ts_tm_model *m, const ts_tm_trace *const *sel,
                          size_t n, const char *source)
{
    /* without O_CREAT: a dangling symlink fails rather than creating
     * whatever file it names */
    int fd = open(out_path, O_WRONLY | O_TRUNC | O_NOCTTY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    int status = write_stream(f, out_path, m, sel, n, source);
    if (fclose(f) != 0 && status == 0) {
        fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
        status = 1;
    }
    return status;
}

/* Writes the page over a regular OUT that may be written, in a folder
 * where no new file may be made (a report in someone else's folder), as
 * `>` would. seen: OUT as lstat found it. The page is made in memory
 * first, so that OUT is only cut once it is whole; OUT is opened without
 * following a link and written only if it is still the file seen: the
 * folder's owner could have put a link there since, to a file of the
 * user's. A failure or a signal while it is written leaves part of a page
 * (README). */
static int write_over_in_place(const char *out_path, const struct stat *seen, const ts_tm_model *m,
                               const ts_tm_trace *const *sel, size_t n, const char *source)
{
    char *page = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&page, &len);
    if (!mem) {
        fputs("traceshim html: out of memory\n", stderr);
        return 1;
    }
    int status = write_stream(mem, out_path, m, sel, n, source);
    if (fclose(mem) != 0 && status == 0) {
        fputs("traceshim html: out of memory\n", stderr);
        status = 1;
    }
    if (status != 0) {
        free(page);
        return status;
    }
    int fd = open(out_path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    struct stat now;
    if (fd < 0 || fstat(fd, &now) != 0) {
        fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
        status = 1;
    } else if (!S_ISREG(now.st_mode) || now.st_dev != seen->st_dev || now.st_ino != seen->st_ino) {
        fprintf(stderr, "traceshim html: %s changed while the page was made: not written\n",
                out_path);
        status = 1;
    } else {
        size_t done = 0;
        bool ok = ftruncate(fd, 0) == 0;
        while (ok && done < len) {
            ssize_t w = write(fd, page + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            ok = w > 0;
            if (ok)
                done += (size_t)w;
        }
        if (!ok) {
            fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
            status = 1;
        }
    }
    if (fd >= 0 && close(fd) != 0 && status == 0) {
        fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
        status = 1;
    }
    free(page);
    return status;
}

/* The signals whose default action ends the process and that a handler may
 * catch (the faults aside): a stop (SIGTERM, Ctrl-C), a closed terminal, a
 * timer, a file-size limit (SIGXFSZ, `ulimit -f`) met while the page is
 * written. */
static const int ending_signals[] = {SIGHUP,  SIGINT,    SIGQUIT, SIGTERM, SIGPIPE,
                                     SIGALRM, SIGUSR1,   SIGUSR2, SIGXCPU, SIGXFSZ,
                                     SIGPROF, SIGVTALRM, SIGPOLL, SIGPWR};

/* The temporary page while it is written, for the handler to remove. */
static char *volatile temporary_page;

/* A signal ends the process while the temporary page exists: remove it
 * (OUT is untouched until the rename), then die of the signal as without
 * the handler (it is blocked here; raised, it comes once this returns). */
static void remove_temporary_and_die(int sig)
{
    int saved = errno;
    char *tmp = temporary_page;
    if (tmp)
        unlink(tmp);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
    errno = saved;
}

/* While tmp is written: the ending signals a process has not ignored
 * remove it first (an interrupted run left OUT.tmp.XXXXXX behind). */
static void remove_on_signals(char *tmp)
{
    temporary_page = tmp;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_temporary_and_die;
    sigfillset(&sa.sa_mask); /* one handler at a time */
    for (size_t i = 0; i < sizeof ending_signals / sizeof ending_signals[0]; i++)
        if (sigaction(ending_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(ending_signals[i], &sa, NULL);
}

/* The temporary page is gone (renamed or removed): the handlers have
 * nothing left to do. Called with the ending signals blocked, so none
 * falls between the rename and this. */
static void forget_temporary(void)
{
    temporary_page = NULL;
}

/* Blocks (block true) or unblocks the ending signals. */
static void block_ending_signals(bool block, sigset_t *saved)
{
    if (block) {
        sigset_t set;
        sigemptyset(&set);
        for (size_t i = 0; i < sizeof ending_signals / sizeof ending_signals[0]; i++)
            sigaddset(&set, ending_signals[i]);
        sigprocmask(SIG_BLOCK, &set, saved);
    } else {
        sigprocmask(SIG_SETMASK, saved, NULL);
    }
}

/* Writes the page to out_path: standard output for "-", in place for an
 * existing non-regular file, else through a temporary file renamed into
 * place. */
static int write_page(const char *out_path, const ts_tm_model *m, const ts_tm_trace *const *sel,
                      size_t n, const char *source)
{
    if (strcmp(out_path, "-") == 0)
        return write_stream(stdout, "output", m, sel, n, source);
    struct stat st;
    bool exists = lstat(out_path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode))
        return write_in_place(out_path, m, sel, n, source);
    size_t len = strlen(out_path) + 16;
    char *tmp = malloc(len);
    if (!tmp) {
        fputs("traceshim html: out of memory\n", stderr);
        return 1;
    }
    snprintf(tmp, len, "%s.tmp.XXXXXX", out_path);
    sigset_t unblocked;
    block_ending_signals(true, &unblocked); /* none between mkstemp and the handlers */
    int fd = mkstemp(tmp);
    if (fd >= 0)
        remove_on_signals(tmp);
    block_ending_signals(false, &unblocked);
    if (fd < 0 && exists && (errno == EACCES || errno == EPERM || errno == EROFS) &&
        access(out_path, W_OK) == 0) {
        free(tmp);
        return write_over_in_place(out_path, &st, m, sel, n, source);
    }
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd < 0) /* the page goes to a new file first, renamed over OUT */
            fprintf(stderr, "traceshim html: cannot write %s (a new file in its folder): %s\n",
                    out_path, strerror(errno));
        else
            fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            block_ending_signals(true, &unblocked);
            unlink(tmp);
            forget_temporary();
            block_ending_signals(false, &unblocked);
        }
        free(tmp);
        return 1;
    }
    uint64_t data_bytes;
    int rc = ts_report_write(f, m, sel, n, source, &data_bytes);
    bool bad = ferror(f) != 0;
    int saved = errno;
    /* mkstemp makes the file 0600. A page that replaces one keeps its
     * permissions: a report made private (its spans carry URLs and command
     * lines) stays so when it is written again. A new one is as readable as
     * any new file. */
    mode_t mode;
    if (exists) {
        mode = st.st_mode & 0777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    fchmod(fileno(f), mode);
    if (fclose(f) != 0 && !bad) {
        bad = true;
        saved = errno;
    }
    block_ending_signals(true, &unblocked);
    if (rc == 0 && !bad && rename(tmp, out_path) != 0) {
        bad = true;
        saved = errno;
    }
    if (rc != 0 || bad)
        unlink(tmp);
    forget_temporary();
    block_ending_signals(false, &unblocked); /* one that came meanwhile ends the process now */
    if (rc != 0 || bad) {
        if (rc != 0)
            fputs("traceshim html: the built-in page template has no data marker\n", stderr);
        else
            fprintf(stderr, "traceshim html: cannot write %s: %s\n", out_path, strerror(saved));
        free(tmp);
        return 1;
    }
    free(tmp);
    warn_if_too_large(data_bytes);
    return 0;
}

/* Is the page to write the spans file read (the same regular file by any
 * name, or the one standard input reads)? Writing it would replace the
 * spans with the page: a traced process still appending to it would write
 * on into the old file, unlinked, and its spans be lost. (A terminal or a
 * FIFO may be both: `html - -o /dev/stdout` on one terminal.) */
static bool page_is_the_spans_file(const char *out_path, const char *file)
{
    struct stat out, in;
    if (strcmp(out_path, "-") == 0 || stat(out_path, &out) != 0 || !S_ISREG(out.st_mode))
        return false;
    int got = strcmp(file, "-") == 0 ? fstat(STDIN_FILENO, &in) : stat(file, &in);
    return got == 0 && out.st_dev == in.st_dev && out.st_ino == in.st_ino;
}

int ts_html_main(int argc, char **argv)
{
    ts_cli_opts o = {.cmd = "html", .limit = 0, .usage = usage};
    const char *out_path = DEFAULT_OUT, *trace_id = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (ts_cli_help(&o, a)) {
            usage(stdout);
            return 0;
        }
        const char *out_opt = strncmp(a, "--output", 8) == 0 ? "--output" : "-o";
        if (!o.only_files && (v = ts_cli_value(out_opt, argc, argv, &i, &missing)) != NULL) {
            out_path = v;
            continue;
        }
        if (!o.only_files && (v = ts_cli_value("--trace", argc, argv, &i, &missing)) != NULL) {
            trace_id = v;
            continue;
        }
        if (ts_cli_other_arg(&o, argc, argv, &i, missing, true) != 0) {
            usage(stderr);
            return 2;
        }
    }
    if (!out_path[0]) {
        fputs("traceshim html: -o needs a file name\n", stderr);
        usage(stderr);
        return 2;
    }
    if (!ts_cli_trace_id_usable(&o, trace_id))
        return 2;
    ts_tm_model *m;
    int status = ts_cli_prepare(&o, &m);
    if (status)
        return status;
    const char *source = strcmp(o.file, "-") == 0 ? "<stdin>" : o.file;
    if (page_is_the_spans_file(out_path, o.file)) {
        fprintf(stderr,
                "traceshim html: %s is the spans file read (%s): give the page another name\n",
                out_path, source);
        usage(stderr);
        ts_tm_free(m);
        ts_cli_free(&o);
        return 2;
    }
    const ts_tm_trace **sel = NULL;
    size_t n = 0;
    if (trace_id) {
        const ts_tm_trace *t;
        int found = ts_tm_find_trace(m, trace_id, &t);
        if (found == TS_TM_FOUND && !ts_cli_trace_selected(&o, t)) {
            /* the other filters still hold, as in view */
            fprintf(stderr, "traceshim html: no trace %s in %s passes the filters\n", trace_id,
                    source);
            status = 1;
        } else if (found == TS_TM_FOUND) {
            sel = malloc(sizeof(*sel));
            if (sel) {
                sel[0] = t;
                n = 1;
            }
            status = sel ? 0 : 1;
        } else {
            fprintf(stderr, "traceshim html: %s %s in %s\n",
                    found == TS_TM_BAD_ID      ? "not a trace id (1 to 32 hex digits):"
                    : found == TS_TM_AMBIGUOUS ? "several traces match the prefix"
                                               : "no trace",
                    trace_id, source);
            status = found == TS_TM_BAD_ID ? 2 : 1;
        }
    } else {
        status = ts_cli_select(&o, m, &sel, &n);
    }
    if (status == 0)
        status = write_page(out_path, m, sel, n, source);
    if (status == 0 && strcmp(out_path, "-") != 0)
        fprintf(stderr, "traceshim html: %zu trace%s from %s -> %s\n", n, n == 1 ? "" : "s", source,
                out_path);
    free(sel);
    ts_tm_free(m);
    ts_cli_free(&o);
    return status;
}
