/* iov.h — byte ranges over a program's iovec array.
 *
 * The send path sees a program's buffer as (iov, iovcnt) and cuts it into
 * ranges: "the body's next 300 bytes", "everything after the head". These
 * helpers address it by byte offset, never copying unless asked to. */
#ifndef TS_IOV_H
#define TS_IOV_H

#include <stddef.h>
#include <string.h>
#include <sys/uio.h>

static inline size_t ts_iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* Copy up to n bytes starting at byte off into dst; returns the count. */
static inline size_t ts_iov_copy(char *dst, const struct iovec *iov, int iovcnt, size_t off,
                                 size_t n)
{
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < n; i++) {
        size_t len = iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t k = len - off < n - done ? len - off : n - done;
        memcpy(dst + done, (const char *)iov[i].iov_base + off, k);
        done += k;
        off = 0;
    }
    return done;
}

/* Write into out[0..max) the pieces of iov covering bytes [off, off+n);
 * returns how many pieces (fewer bytes than n when max runs out). */
static inline int ts_iov_slice(struct iovec *out, int max, const struct iovec *iov, int iovcnt,
                               size_t off, size_t n)
{
    int k = 0;
    for (int i = 0; i < iovcnt && n > 0 && k < max; i++) {
        size_t len = iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t take = len - off < n ? len - off : n;
        out[k].iov_base = (char *)iov[i].iov_base + off;
        out[k].iov_len = take;
        k++;
        n -= take;
        off = 0;
    }
    return k;
}

/* The contiguous bytes at byte off: sets *len, returns NULL past the end. */
static inline const char *ts_iov_at(const struct iovec *iov, int iovcnt, size_t off, size_t *len)
{
    for (int i = 0; i < iovcnt; i++) {
        if (off < iov[i].iov_len) {
            *len = iov[i].iov_len - off;
            return (const char *)iov[i].iov_base + off;
        }
        off -= iov[i].iov_len;
    }
    *len = 0;
    return NULL;
}

#endif
