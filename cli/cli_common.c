/* cli_common.c — see cli_common.h. */
#include "cli/cli_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ts_cli_value(const char *name, int argc, char **argv, int *i, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* A decimal count without sign or suffix. */
#define COUNT_MAX 999999999 /* nine digits: any size_t holds it */

/* A count for --limit: 0 read, -1 not a count, -2 a count above COUNT_MAX. */
static int parse_count(const char *s, size_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s))
        return -1;
    while (s[0] == '0' && s[1])
        s++; /* leading zeros change nothing */
    if (strlen(s) > 9)
        return -2;
    *out = (size_t)strtoul(s, NULL, 10);
    return 0;
}

int ts_cli_common_arg(ts_cli_opts *o, int argc, char **argv, int *i, bool with_limit)
{
    const char *a = argv[*i], *v;
    bool missing = false;
    int bad;
    if (o->only_files || a[0] != '-' || strcmp(a, "-") == 0) {
        if (o->file) {
            fprintf(stderr, "traceshim %s: only one FILE, got %s and %s\n", o->cmd, o->file, a);
            return 2;
        }
        o->file = a;
        return 1;
    }
    if (strcmp(a, "--") == 0) {
        o->only_files = true;
        return 1;
    }
    if (strcmp(a, "--errors") == 0) {
        o->errors_only = true;
        return 1;
    }
    static const char *const valued[] = {"--service", "--match", "--limit"};
    for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
        if (k == 2 && !with_limit)
            break;
        v = ts_cli_value(valued[k], argc, argv, i, &missing);
        if (missing) {
            fprintf(stderr, "traceshim %s: %s needs a value\n", o->cmd, valued[k]);
            return 2;
        }
        if (!v)
            continue;
        if (k == 0) {
            o->service = v;
        } else if (k == 1) {
            o->match = v;
        } else if ((bad = parse_count(v, &o->limit)) != 0) {
            if (bad == -2)
                fprintf(stderr,
                        "traceshim %s: --limit %s: too large (at most %d; 0 for no limit)\n",
                        o->cmd, v, COUNT_MAX);
            else
                fprintf(stderr, "traceshim %s: --limit %s: not a count (0 for no limit)\n", o->cmd,
                        v);
            return 2;
        }
        return 1;
    }
    return 0;
}

bool ts_cli_help(const ts_cli_opts *o, const char *a)
{
    return !o->only_files && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0);
}

/* The expression --match compiles to: "^.*(PATTERN)", which matches
 * where PATTERN matches anywhere, compiled once the pattern alone has
 * (its errors are about what the user wrote). glibc searches an unanchored
 * expression from every starting position in turn, each pass scanning on
 * to the end of the text when nothing matches: 'e.*q' over a 16 KiB
 * attribute value took 215 ms (a file with many such values, minutes);
 * anchored, one pass, 0.1 ms. Not for a pattern with a back-reference,
 * whose group numbers the added group would shift, nor when the anchored
 * form does not compile: the pattern is then searched as written. NULL
 * when it is to be so; else the expression, to free. */
/* The end of the bracket expression that starts at p ('['): past its
 * closing ']', NULL when it has none. A ']' first (after '^') is a
 * member; so is everything inside [:...:], [.....] and [=...=]. */
static const char *bracket_end(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    for (; *p && *p != ']'; p++) {
        if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            char close = p[1];
            const char *q = p + 2;
            while (*q && !(q[0] == close && q[1] == ']'))
                q++;
            if (!*q)
                return NULL;
            p = q + 1;
        }
    }
    return *p ? p + 1 : NULL;
}

static char *anchored_pattern(const char *pattern)
{
    int depth = 0;
    for (const char *p = pattern; *p;) {
        if (p[0] == '\\' && p[1]) {
            if (p[1] >= '1' && p[1] <= '9')
                return NULL; /* a back-reference */
            p += 2;
        } else if (*p == '[') {
            if (!(p = bracket_end(p)))
                return NULL;
        } else {
            depth += *p == '(';
            /* glibc takes a ')' without its '(' as a character, which
             * the added group would close instead */
            if (*p == ')' && --depth < 0)
                return NULL;
            p++;
        }
    }
    size_t n = strlen(pattern);
    char *a = malloc(n + 6);
    if (a)
        snprintf(a, n + 6, "^.*(%s)", pattern);
    return a;
}

int ts_cli_finish(ts_cli_opts *o)
{
    if (!o->file) {
        const char *env = getenv("TRACESHIM_FILE");
        o->file = env && env[0] ? env : TS_CLI_DEFAULT_FILE;
    }
    if (o->match) {
        const int flags = REG_EXTENDED | REG_ICASE | REG_NOSUB;
        int rc = regcomp(&o->match_re, o->match, flags);
        if (rc != 0) {
            char why[160];
            regerror(rc, &o->match_re, why, sizeof(why));
            fprintf(stderr, "traceshim %s: --match '%s' is not a valid regular expression: %s\n",
                    o->cmd, o->match, why);
            if (o->usage)
                o->usage(stderr);
            return 2;
        }
        char *anchored = anchored_pattern(o->match);
        if (anchored) {
            regfree(&o->match_re);
            rc = regcomp(&o->match_re, anchored, flags);
            if (rc != 0)
                rc = regcomp(&o->match_re, o->match, flags); /* compiled a moment ago */
            free(anchored);
            if (rc != 0) {
                fprintf(stderr, "traceshim %s: --match '%s': out of memory\n", o->cmd, o->match);
                return 1;
            }
        }
        o->have_re = true;
    }
    return 0;
}

int ts_cli_finish_output(const char *cmd, int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "traceshim %s: cannot write output: %s\n", cmd, strerror(errno));
        return 1;
    }
    return status;
}

void ts_cli_free(ts_cli_opts *o)
{
    if (o->have_re)
        regfree(&o->match_re);
    o->have_re = false;
}

int ts_cli_load(const ts_cli_opts *o, ts_tm_model **out)
{
    *out = NULL;
    bool from_stdin = strcmp(o->file, "-") == 0;
    FILE *in = from_stdin ? stdin : fopen(o->file, "r");
    if (!in) {
        fprintf(stderr, "traceshim %s: cannot open %s: %s\n", o->cmd, o->file, strerror(errno));
        return 1;
    }
    const char *name = from_stdin ? "<stdin>" : o->file;
    ts_tm_model *m = ts_tm_new();
    int status = 0;
    size_t bad_lines = 0;
    if (!m) {
        fprintf(stderr, "traceshim %s: out of memory\n", o->cmd);
        status = 1;
    } else if (ts_tm_read_stream(m, in, name, o->cmd, stderr, &bad_lines) != 0) {
        fprintf(stderr, "traceshim %s: cannot read %s: %s\n", o->cmd, name, strerror(errno));
        status = 1;
    } else if (bad_lines > 0 && ts_tm_span_count(m) == 0) {
        /* not a spans file at all (traceshim view /etc/passwd): an error,
         * where an empty file is only nothing to show */
        fprintf(stderr, "traceshim %s: no span read from %s: %zu line%s rejected\n", o->cmd, name,
                bad_lines, bad_lines == 1 ? "" : "s");
        status = 1;
    } else if (ts_tm_build(m) != 0) {
        fprintf(stderr, "traceshim %s: out of memory\n", o->cmd);
        status = 1;
    }
    if (!from_stdin)
        fclose(in);
    if (status) {
        ts_tm_free(m);
        return status;
    }
    *out = m;
    return 0;
}

/* regexec on "key=value", built in a buffer that grows as needed. */
static bool attr_matches(const ts_tm_attr *a, const regex_t *re, char **buf, size_t *cap)
{
    size_t kl = strlen(a->key), vl = strlen(a->value);
    if (kl + vl + 2 > *cap) {
        char *nb = realloc(*buf, kl + vl + 2);
        if (!nb)
            return regexec(re, a->value, 0, NULL, 0) == 0;
        *buf = nb;
        *cap = kl + vl + 2;
    }
    memcpy(*buf, a->key, kl);
    (*buf)[kl] = '=';
    memcpy(*buf + kl + 1, a->value, vl + 1);
    return regexec(re, *buf, 0, NULL, 0) == 0;
}

bool ts_cli_span_matches(const ts_tm_span *s, const regex_t *re)
{
    if (regexec(re, s->name, 0, NULL, 0) == 0 || regexec(re, s->service, 0, NULL, 0) == 0)
        return true;
    char *buf = NULL;
    size_t cap = 0;
    bool hit = false;
    for (size_t k = 0; k < s->n_attrs && !hit; k++)
        hit = attr_matches(&s->attrs[k], re, &buf, &cap);
    for (size_t k = 0; s->resource && k < s->resource->n_attrs && !hit; k++)
        hit = attr_matches(&s->resource->attrs[k], re, &buf, &cap);
    free(buf);
    return hit;
}

bool ts_cli_span_selected(const ts_cli_opts *o, const ts_tm_span *s)
{
    if (o->service && strcmp(s->service, o->service) != 0)
        return false;
    return !o->have_re || ts_cli_span_matches(s, &o->match_re);
}

bool ts_cli_trace_selected(const ts_cli_opts *o, const ts_tm_trace *t)
{
    if (o->errors_only && t->n_errors == 0)
        return false;
    if (!o->service && !o->have_re)
        return true;
    /* --service and --match may be met by different spans: a trace that
     * passes through the service and has a matching span somewhere */
    bool svc = !o->service, re = !o->have_re;
    for (size_t i = 0; i < t->n_spans && !(svc && re); i++) {
        const ts_tm_span *s = t->spans[i];
        svc = svc || strcmp(s->service, o->service) == 0;
        re = re || ts_cli_span_matches(s, &o->match_re);
    }
    return svc && re;
}

int ts_cli_select(const ts_cli_opts *o, const ts_tm_model *m, const ts_tm_trace ***out, size_t *n)
{
    size_t total = ts_tm_trace_count(m), k = 0;
    const ts_tm_trace **v = malloc((total ? total : 1) * sizeof(*v));
    *out = NULL;
    *n = 0;
    if (!v) {
        fprintf(stderr, "traceshim %s: out of memory\n", o->cmd);
        return 1;
    }
    for (size_t i = total; i-- > 0 && (o->limit == 0 || k < o->limit);) {
        const ts_tm_trace *t = ts_tm_trace_at(m, i);
        if (ts_cli_trace_selected(o, t))
            v[k++] = t;
    }
    *out = v;
    *n = k;
    return 0;
}

int ts_cli_other_arg(ts_cli_opts *o, int argc, char **argv, int *i, bool missing, bool with_limit)
{
    if (missing) {
        fprintf(stderr, "traceshim %s: %s needs a value\n", o->cmd, argv[*i]);
        return 2;
    }
    int rc = ts_cli_common_arg(o, argc, argv, i, with_limit);
    if (rc == 0)
        fprintf(stderr, "traceshim %s: unknown option %s\n", o->cmd, argv[*i]);
    return rc == 1 ? 0 : 2;
}

bool ts_cli_trace_id_usable(const ts_cli_opts *o, const char *id)
{
    if (!id || ts_tm_trace_id_ok(id))
        return true;
    fprintf(stderr, "traceshim %s: --trace %s: not a trace id (1 to 32 hex digits)\n", o->cmd, id);
    if (o->usage)
        o->usage(stderr);
    return false;
}

int ts_cli_prepare(ts_cli_opts *o, ts_tm_model **out)
{
    *out = NULL;
    if (ts_cli_finish(o) != 0)
        return 2;
    int status = ts_cli_load(o, out);
    if (status)
        ts_cli_free(o);
    return status;
}
