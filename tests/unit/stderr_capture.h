/* stderr_capture.h — what a loader writes on stderr, for the tests that
 * check its messages: stderr goes to an unlinked temporary file between
 * stderr_capture_begin and stderr_capture_end, which copies the text out
 * (NUL-terminated, cut to fit) and puts stderr back. Include after cmocka.h. */
#ifndef TS_TEST_STDERR_CAPTURE_H
#define TS_TEST_STDERR_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct stderr_capture {
    int file;  /* the temporary file stderr points at */
    int saved; /* the real stderr */
};

static inline void stderr_capture_begin(struct stderr_capture *c)
{
    fflush(stderr);
    char path[] = "/tmp/ts_stderr_XXXXXX";
    c->file = mkstemp(path);
    assert_true(c->file >= 0);
    unlink(path);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->file, 2) == 2);
}

static inline void stderr_capture_end(struct stderr_capture *c, char *out, size_t cap)
{
    assert_true(dup2(c->saved, 2) == 2);
    close(c->saved);
    assert_true(lseek(c->file, 0, SEEK_SET) == 0);
    ssize_t n = read(c->file, out, cap - 1);
    close(c->file);
    out[n > 0 ? n : 0] = '\0';
}

#endif
