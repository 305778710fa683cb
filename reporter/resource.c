/* resource.c — the description of this process every encoder uses (see
 * resource.h). */
#include "resource.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../preload/ascii.h"
#include <sys/random.h>
#include <unistd.h>

#include "../preload/config.h"
#include "../preload/hex.h"
#include "../preload/log.h"
#include "../preload/process.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

static struct ts_resource res;
static pid_t res_built_for; /* 0: not built */

static bool res_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Percent-decode src[0..n) into dst (which has room for n bytes: decoding
 * never lengthens). Returns the decoded length, or -1 for a '%' that is not
 * followed by two hex digits (the entry is malformed). */
static long res_pct_decode(const char *src, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (n - i < 3)
            return -1;
        int hi = ts_hex_digit((unsigned char)src[i + 1]);
        int lo = ts_hex_digit((unsigned char)src[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        dst[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (long)o;
}

/* A parsed OTEL_RESOURCE_ATTRIBUTES entry: key and decoded value, as
 * offsets into a scratch buffer. */
struct res_entry {
    uint16_t koff, klen, voff, vlen;
};

#define RES_RAW sizeof(((struct ts_config *)0)->resource_attrs)
/* At most one entry per two bytes of input (the shortest is "k="). */
#define RES_MAX (RES_RAW / 2 + 1)

/* Parse "k1=v1,k2=v2" (keys and values percent-encoded: the Resource SDK
 * specification has ',' and '=' in either written %2C and %3D; optional
 * whitespace around keys and values; ";properties" are not part of the
 * OTel format and stay in the value). Malformed entries (no '=', an empty
 * key, a key with whitespace once decoded, a broken %XX) are skipped.
 * rawlen is below RES_RAW, so every offset fits 16 bits. Returns the
 * number of entries. */
static size_t res_parse(const char *raw, size_t rawlen, char *scratch, size_t *scratch_used,
                        struct res_entry *ents)
{
    size_t nents = 0, used = *scratch_used, pos = 0;
    while (pos <= rawlen) {
        const char *ent = raw + pos;
        const char *comma = memchr(ent, ',', rawlen - pos);
        size_t elen = comma ? (size_t)(comma - ent) : rawlen - pos;
        pos += elen + 1;
        const char *eq = memchr(ent, '=', elen);
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - ent);
        const char *key = ts_ascii_trim(ent, &klen);
        size_t vlen = elen - (size_t)(eq - ent) - 1;
        const char *val = ts_ascii_trim(eq + 1, &vlen);
        long kl = res_pct_decode(key, klen, scratch + used);
        bool key_ok = kl > 0;
        for (long i = 0; i < kl && key_ok; i++)
            key_ok = !res_is_ows(scratch[used + (size_t)i]);
        if (!key_ok)
            continue;
        long dl = res_pct_decode(val, vlen, scratch + used + (size_t)kl);
        if (dl < 0)
            continue;
        ents[nents].koff = (uint16_t)used;
        ents[nents].klen = (uint16_t)kl;
        ents[nents].voff = (uint16_t)(used + (size_t)kl);
        ents[nents].vlen = (uint16_t)dl;
        used += (size_t)kl + (size_t)dl;
        nents++;
    }
    *scratch_used = used;
    return nents;
}

static bool res_key_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void res_add_str(const char *key, size_t klen, const char *val, size_t vlen)
{
    if (res.nattrs >= TS_RESOURCE_MAX_ATTRS)
        return;
    struct ts_resource_attr *a = &res.attrs[res.nattrs++];
    *a = (struct ts_resource_attr){
        .key = key, .klen = klen, .type = TS_ATTR_STR, .str = val, .slen = vlen};
}

static void res_add_int(const char *key, int64_t val)
{
    if (res.nattrs >= TS_RESOURCE_MAX_ATTRS)
        return;
    struct ts_resource_attr *a = &res.attrs[res.nattrs++];
    *a =
        (struct ts_resource_attr){.key = key, .klen = strlen(key), .type = TS_ATTR_INT, .num = val};
}

static void res_add_cstr(const char *key, const char *val)
{
    res_add_str(key, strlen(key), val, strlen(val));
}

#define RES_TAGS sizeof(((struct ts_config *)0)->jaeger_tags)

/* Of one variable's entries, those left out for want of room: how many,
 * and the first and the last (indexes into the entries). */
struct res_left_out {
    size_t n, first, last;
};

static void res_leave_out(struct res_left_out *lo, size_t i)
{
    lo->first = lo->n++ ? lo->first : i;
    lo->last = i;
}

/* One variable's part of res_say_left_out's line ("" when it lost none). */
static void res_left_out_part(char *out, size_t cap, const char *var, const struct res_left_out *lo,
                              const struct res_entry *ents, bool after_another)
{
    out[0] = '\0';
    if (!lo->n)
        return;
    const struct res_entry *f = &ents[lo->first], *l = &ents[lo->last];
    snprintf(out, cap, "%s%s: %zu entr%s left out (%.*s%s%.*s)", after_another ? "; " : "", var,
             lo->n, lo->n == 1 ? "y is" : "ies are", (int)f->klen, res.scratch + f->koff,
             lo->n == 1 ? "" : " to ", lo->n == 1 ? 0 : (int)l->klen, res.scratch + l->koff);
}

/* Entries past the resource's room (TS_RESOURCE_MAX_ATTRS): said in one
 * line, once a process, naming each variable that lost some, the first
 * and the last it lost, and the limit: nothing is dropped in silence. */
static void res_say_left_out(const struct res_entry *ents, const struct res_left_out *tags,
                             const struct res_left_out *attrs, size_t own)
{
    static pid_t said_in;
    pid_t pid = ts_proc.pid ? ts_proc.pid : getpid();
    if (said_in == pid)
        return;
    said_in = pid;
    char attrs_part[320], tags_part[320];
    res_left_out_part(attrs_part, sizeof attrs_part, "OTEL_RESOURCE_ATTRIBUTES", attrs, ents,
                      false);
    res_left_out_part(tags_part, sizeof tags_part, "JAEGER_TAGS", tags, ents, attrs->n != 0);
    ts_log_error("%s%s: a resource holds at most %d attributes, %zu of them the shim's own%s",
                 attrs_part, tags_part, TS_RESOURCE_MAX_ATTRS, own,
                 tags->n ? " (OTEL_RESOURCE_ATTRIBUTES's entries are given room first)" : "");
}

/* Whether entry i of ents[0..n) goes in the resource as a key of its
 * own: not service.name (the configuration read it already:
 * ts_proc.service_name), not one of the shim's own keys (they describe
 * each process: ts_resource_key_is_own), and not a key given again after
 * it in the same variable's entries [i, end) (the last value wins, as in
 * the OTel SDKs' maps). */
static bool res_entry_counts(const struct res_entry *ents, size_t i, size_t end)
{
    const char *key = res.scratch + ents[i].koff;
    size_t klen = ents[i].klen;
    if (res_key_eq(key, klen, "service.name", 12) || ts_resource_key_is_own(key, klen))
        return false;
    for (size_t j = i + 1; j < end; j++)
        if (res_key_eq(key, klen, res.scratch + ents[j].koff, ents[j].klen))
            return false;
    return true;
}

/* Whether key is that of one of ents[from..to) marked in keep[]. */
static bool res_key_kept(const struct res_entry *ents, const bool *keep, size_t from, size_t to,
                         const struct res_entry *e)
{
    for (size_t j = from; j < to; j++)
        if (keep[j] &&
            res_key_eq(res.scratch + e->koff, e->klen, res.scratch + ents[j].koff, ents[j].klen))
            return true;
    return false;
}

/* The entries of JAEGER_TAGS, then of OTEL_RESOURCE_ATTRIBUTES, after the
 * shim's own (host.name is attrs[host_at]). On a key in both,
 * OTEL_RESOURCE_ATTRIBUTES's value wins. Past the resource's room,
 * OTEL_RESOURCE_ATTRIBUTES's entries are given room first, in their
 * order, then JAEGER_TAGS's: so a key in both keeps its OTEL value
 * whenever the tags' one would have fit, and never loses both values to
 * the tags' entry being dropped as the loser and the OTEL one for want of
 * room. */
static void res_add_configured(size_t host_at)
{
    size_t tagslen = strnlen(ts_cfg.jaeger_tags, RES_TAGS - 1);
    size_t rawlen = strnlen(ts_cfg.resource_attrs, RES_RAW - 1);
    if (rawlen == 0 && tagslen == 0)
        return;
    static struct res_entry ents[RES_MAX + RES_TAGS / 2 + 1];
    static bool keep[sizeof ents / sizeof *ents];
    _Static_assert(RES_RAW + RES_TAGS <= sizeof res.scratch, "scratch holds every decoded entry");
    size_t used = 0;
    size_t tags = res_parse(ts_cfg.jaeger_tags, tagslen, res.scratch, &used, ents);
    size_t n = tags + res_parse(ts_cfg.resource_attrs, rawlen, res.scratch, &used, ents + tags);
    size_t own = res.nattrs, room = TS_RESOURCE_MAX_ATTRS - own;
    struct res_left_out tags_out = {0}, attrs_out = {0};
    struct ts_resource_attr *host = &res.attrs[host_at];
    /* OTEL_RESOURCE_ATTRIBUTES's entries first, then JAEGER_TAGS's; host.name
     * (the user's name for the host, a container's) takes the place of the
     * detected one and needs no room */
    for (size_t pass = 0; pass < 2; pass++) {
        size_t from = pass == 0 ? tags : 0, to = pass == 0 ? n : tags;
        for (size_t i = from; i < to; i++) {
            keep[i] = false;
            if (!res_entry_counts(ents, i, to) ||
                (pass == 1 && res_key_kept(ents, keep, tags, n, &ents[i])))
                continue;
            if (res_key_eq(res.scratch + ents[i].koff, ents[i].klen, host->key, host->klen)) {
                keep[i] = true;
            } else if (room) {
                keep[i] = true;
                room--;
            } else {
                res_leave_out(pass == 0 ? &attrs_out : &tags_out, i);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        const char *key = res.scratch + ents[i].koff;
        if (res_key_eq(key, ents[i].klen, host->key, host->klen)) {
            host->str = res.scratch + ents[i].voff;
            host->slen = ents[i].vlen;
        } else {
            res_add_str(key, ents[i].klen, res.scratch + ents[i].voff, ents[i].vlen);
        }
    }
    if (tags_out.n || attrs_out.n)
        res_say_left_out(ents, &tags_out, &attrs_out, own);
}

/* This host's address (ts_resource_host_ip). */
static void res_find_ip(char *out, size_t cap)
{
    snprintf(out, cap, "127.0.0.1");
    struct ifaddrs *all;
    if (getifaddrs(&all) != 0)
        return;
    const struct ifaddrs *v6 = NULL;
    for (const struct ifaddrs *i = all; i; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
                      (socklen_t)cap);
            freeifaddrs(all);
            return;
        }
        if (i->ifa_addr->sa_family == AF_INET6 && !v6 &&
            !IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
            v6 = i;
    }
    if (v6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)v6->ifa_addr)->sin6_addr, out,
                  (socklen_t)cap);
    freeifaddrs(all);
}

/* A random (version 4) UUID in its text form. */
static void res_new_uuid(char out[37])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof b) { /* no entropy yet: pid and clock still make it unique enough */
        uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)out;
        for (size_t i = got; i < sizeof b;
             i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            b[i] = (uint8_t)(x >> 56);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[32];
    ts_hex_encode(b, sizeof b, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

#define RES_FIELD(arr) (arr), strnlen((arr), sizeof(arr))
#define RES_LIT(s) (s), (sizeof(s) - 1)

static void res_build(void)
{
    unsigned generation = res.generation + 1;
    memset(&res, 0, sizeof res);
    res.generation = generation;
    res.service_name = ts_proc.service_name;
    res_add_str(RES_LIT("service.name"), RES_FIELD(ts_proc.service_name));
    res_add_int("process.pid", (int64_t)ts_proc.pid);
    res_add_str(RES_LIT("process.executable.name"), RES_FIELD(ts_proc.exe_name));
    size_t host_at = res.nattrs;
    res_add_str(RES_LIT("host.name"), RES_FIELD(ts_proc.host_name));
    res_add_cstr("telemetry.sdk.name", "traceshim");
    res_add_cstr("telemetry.sdk.language", "c");
    res_add_cstr("telemetry.sdk.version", TS_VERSION);
    res_add_configured(host_at);
    res_new_uuid(res.client_uuid);
}

const struct ts_resource *ts_resource_get(void)
{
    pid_t pid = ts_proc.pid ? ts_proc.pid : getpid();
    if (res_built_for != pid) {
        res_build();
        res_built_for = pid;
    }
    return &res;
}

const char *ts_resource_host_ip(void)
{
    (void)ts_resource_get(); /* built for this process */
    if (!res.ip[0])
        res_find_ip(res.ip, sizeof res.ip);
    return res.ip;
}

void ts_resource_reset(void)
{
    res_built_for = 0;
}
