/* sysconf.c — the system-mode configuration file and the program
 * allowlist (see sysconf.h). */
#include "sysconf.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool key_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* One line, NUL-terminated in place: 0 blank or comment, 1 an entry
 * (stored), -1 malformed, -2 too many entries. */
static int parse_line(struct ts_sysconf *c, char *line)
{
    while (is_blank(*line))
        line++;
    if (*line == '\0' || *line == '#')
        return 0;
    char *key = line;
    if (!key_char(*line, true))
        return -1;
    while (key_char(*line, false))
        line++;
    char *key_end = line;
    while (is_blank(*line))
        line++;
    if (*line != '=')
        return -1;
    *key_end = '\0';
    char *value = line + 1;
    while (is_blank(*value))
        value++;
    size_t vlen = strlen(value);
    while (vlen && is_blank(value[vlen - 1]))
        vlen--;
    value[vlen] = '\0';
    for (size_t i = 0; i < c->count; i++) {
        if (strcmp(c->key[i], key) == 0) {
            c->value[i] = value; /* the last one wins */
            return 1;
        }
    }
    if (c->count == TS_SYSCONF_MAX_ENTRIES)
        return -2;
    c->key[c->count] = key;
    c->value[c->count] = value;
    c->count++;
    return 1;
}

void ts_sysconf_parse(struct ts_sysconf *c, const char *bytes, size_t len)
{
    c->status = TS_SYSCONF_OK;
    c->bad_line = 0;
    c->count = 0;
    if (len > TS_SYSCONF_MAX_BYTES) {
        c->status = TS_SYSCONF_TOO_BIG;
        return;
    }
    if (bytes != c->text)
        memmove(c->text, bytes, len);
    c->text[len] = '\0';
    /* a NUL byte inside the file would hide the rest of its line */
    if (memchr(c->text, '\0', len)) {
        c->status = TS_SYSCONF_MALFORMED;
        c->bad_line = 1;
        for (size_t i = 0; c->text[i]; i++)
            c->bad_line += c->text[i] == '\n';
        return;
    }
    char *p = c->text;
    int lineno = 0;
    while (*p) {
        lineno++;
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = '\0';
        int r = parse_line(c, p);
        if (r < 0) {
            c->status = r == -1 ? TS_SYSCONF_MALFORMED : TS_SYSCONF_TOO_BIG;
            c->bad_line = lineno;
            c->count = 0;
            return;
        }
        p = next;
    }
}

void ts_sysconf_read(struct ts_sysconf *c, const char *path)
{
    c->count = 0;
    c->bad_line = 0;
    c->status = TS_SYSCONF_MISSING;
    long fd =
        TS_REAL(syscall)(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st;
    if (TS_REAL(syscall)(SYS_fstat, fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        c->status = TS_SYSCONF_NOT_FILE;
    } else if (st.st_size > TS_SYSCONF_MAX_BYTES) {
        c->status = TS_SYSCONF_TOO_BIG;
    } else {
        size_t got = 0;
        long r = 0;
        while (got <= TS_SYSCONF_MAX_BYTES) {
            r = TS_REAL(syscall)(SYS_read, fd, c->text + got, TS_SYSCONF_MAX_BYTES + 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (r < 0)
            c->status = TS_SYSCONF_MISSING;
        else
            ts_sysconf_parse(c, c->text, got); /* over the limit: TOO_BIG */
    }
    TS_REAL(syscall)(SYS_close, fd);
}

const char *ts_sysconf_get(const struct ts_sysconf *c, const char *key)
{
    if (c->status != TS_SYSCONF_OK)
        return NULL;
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->key[i], key) == 0)
            return c->value[i];
    return NULL;
}

/* ------------------------------------------------------------- patterns */

/* Does the set starting after '[' at *pp match ch? Advances *pp past ']';
 * returns -1 for a set without its ']' (the '[' is then literal). */
static int set_match(const char **pp, char ch)
{
    const char *p = *pp;
    bool negate = *p == '!' || *p == '^';
    if (negate)
        p++;
    bool hit = false, first = true;
    while (*p && (*p != ']' || first)) {
        first = false;
        char lo = *p;
        if (lo == '\\' && p[1])
            lo = *++p;
        char hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = p[2];
            p += 2;
        }
        if ((unsigned char)ch >= (unsigned char)lo && (unsigned char)ch <= (unsigned char)hi)
            hit = true;
        p++;
    }
    if (*p != ']')
        return -1;
    *pp = p + 1;
    return hit != negate;
}

bool ts_glob_match(const char *pat, const char *s)
{
    /* iterative, with one backtrack point for the last '*': linear enough
     * for the short patterns of an allowlist, and no recursion */
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*pat == '*') {
            while (*pat == '*')
                pat++;
            if (!*pat)
                return true;
            star_p = pat;
            star_s = s;
            continue;
        }
        bool ok;
        const char *next = pat;
        if (*pat == '?') {
            ok = true;
            next = pat + 1;
        } else if (*pat == '[') {
            next = pat + 1;
            int r = set_match(&next, *s);
            if (r < 0) {
                ok = *s == '[';
                next = pat + 1;
            } else {
                ok = r == 1;
            }
        } else {
            if (*pat == '\\' && pat[1])
                pat++;
            ok = *pat && *pat == *s;
            next = pat + 1;
        }
        if (ok) {
            pat = next;
            s++;
        } else if (star_p) {
            pat = star_p;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static const char *last_component(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Does pat match name: its path when pat has a '/' (only an absolute
 * name has one to match), else its last component? */
static bool name_matches(const char *pat, bool path, const char *name)
{
    if (!name || !*name)
        return false;
    return path ? name[0] == '/' && ts_glob_match(pat, name)
                : ts_glob_match(pat, last_component(name));
}

bool ts_programs_match(const char *patterns, const char *exe, const char *argv0, const char *execfn)
{
    if (!patterns)
        return false;
    char pat[512];
    const char *p = patterns;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && is_blank(*p)) {
            p++;
            len--;
        }
        while (len && is_blank(p[len - 1]))
            len--;
        if (len && len < sizeof pat) {
            memcpy(pat, p, len);
            pat[len] = '\0';
            bool path = memchr(pat, '/', len) != NULL;
            if (name_matches(pat, path, exe) || name_matches(pat, path, argv0) ||
                name_matches(pat, path, execfn))
                return true;
        }
        if (!comma)
            return false;
        p = comma + 1;
    }
}
