/* test_next_symbol.c — the symbol tables' answers (preload/next_symbol.c)
 * against dlsym(RTLD_NEXT)'s for every real function the shim resolves,
 * and the loader's rules for a name asked without a version on tables
 * made by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "preload/next_symbol.h"
#include "preload/real.h"

/* ------------------------------------------------- the loaded objects */

/* For each function the shim resolves at start (real.h), and a few more,
 * the tables answer as dlsym does wherever they answer, and they answer
 * for the plain functions of glibc (posix_spawn and pthread_create have
 * an older, hidden version beside the default one). */
static void test_answers_as_dlsym_does(void **state)
{
    (void)state;
    struct ts_next_objects next;
    /* (the vDSO comes right after this program: its dynamic section is
     * one the loader leaves as offsets, which the listing reads too) */
    assert_true(ts_next_objects_list(&next, (const void *)test_answers_as_dlsym_does,
                                     (const void *)__errno_location));
    assert_true(next.n >= 2); /* glibc and the loader at least */
    static const char *const real[] = {
#define NAME(name, ret, params) #name,
        TS_REAL_SYMBOLS(NAME)
#undef NAME
    };
    static const char *const more[] = {
        "getpid",  "gnu_get_libc_version",     "pthread_cond_wait", "realpath", "memcpy",
        "environ", "no_such_function_anywhere"};
    const char *names[sizeof real / sizeof real[0] + sizeof more / sizeof more[0]];
    memcpy(names, real, sizeof real);
    memcpy(names + sizeof real / sizeof real[0], more, sizeof more);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *mine = ts_next_symbol(&next, names[i]);
        if (mine && mine != dlsym(RTLD_NEXT, names[i]))
            fail_msg("%s: %p, dlsym says %p", names[i], mine, dlsym(RTLD_NEXT, names[i]));
    }
    static const char *const plain[] = {"getpid",   "gnu_get_libc_version", "posix_spawn",
                                        "execve",   "pthread_create",       "_exit",
                                        "sigaction"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (!ts_next_symbol(&next, plain[i]))
            fail_msg("%s: not found in the tables", plain[i]);
    assert_null(ts_next_symbol(&next, "no_such_function_anywhere"));
    /* an IFUNC (glibc's memcpy, unless a sanitizer's stands before it) and
     * an object are dlsym's to answer */
    assert_null(ts_next_symbol(&next, "environ"));
}

/* A listing whose objects do not include the one that must follow (a
 * module loaded after the C library) is refused: dlsym would search
 * objects loaded before the module. */
static void test_the_c_library_must_follow(void **state)
{
    (void)state;
    struct ts_next_objects next;
    static int in_this_program;
    assert_false(ts_next_objects_list(&next, (const void *)test_the_c_library_must_follow,
                                      &in_this_program));
    assert_false(ts_next_objects_list(&next, (const void *)getpid, (const void *)getpid));
}

static void test_gnu_hash(void **state)
{
    (void)state;
    assert_int_equal(ts_gnu_hash(""), 5381);
    assert_int_equal(ts_gnu_hash("a"), 5381 * 33 + 'a');
    /* wraps at 32 bits, as the linker's does */
    uint32_t h = 5381;
    for (const char *p = "a_rather_long_symbol_name_that_overflows"; *p; p++)
        h = h * 33 + (unsigned char)*p;
    assert_int_equal(ts_gnu_hash("a_rather_long_symbol_name_that_overflows"), h);
}

/* ------------------------------------------------- tables made by hand */

enum { FAKE_MAX = 12 };

/* A dynamic symbol table with every name in one bucket of its GNU hash
 * table and a Bloom filter of two 64-bit words that lets the names added
 * through (and a name whose bits happen to be set); symbol 0 is the null
 * symbol, as in every table. */
enum { FAKE_BLOOM_WORDS = 2, FAKE_BLOOM_SHIFT = 6 };
#define FAKE_BUCKET (4 + 2 * FAKE_BLOOM_WORDS)
struct fake_table {
    /* the header, the Bloom words, the bucket, the chain */
    uint32_t gnu[FAKE_BUCKET + 1 + FAKE_MAX] __attribute__((aligned(8)));
    ts_elf_sym symbols[1 + FAKE_MAX];
    ts_elf_version versions[1 + FAKE_MAX];
    char names[512];
    size_t names_used;
    unsigned n;
};

static void fake_begin(struct fake_table *f)
{
    memset(f, 0, sizeof *f);
    f->names_used = 1; /* "" at 0 */
    f->gnu[0] = 1;     /* buckets */
    f->gnu[1] = 1;     /* the first symbol hashed */
    f->gnu[2] = FAKE_BLOOM_WORDS;
    f->gnu[3] = FAKE_BLOOM_SHIFT;
    f->gnu[FAKE_BUCKET] = 1; /* the bucket starts at symbol 1 */
}

/* The Bloom filter's word for hash, as the linker lays it out. */
static uint64_t *fake_bloom_word(struct fake_table *f, uint32_t hash)
{
    return (uint64_t *)(void *)&f->gnu[4] + (hash / 64) % FAKE_BLOOM_WORDS;
}

/* Symbol n + 1: name, its type and binding, its version index (bit 15:
 * hidden), its value (an offset from the table's base). */
static void fake_add(struct fake_table *f, const char *name, unsigned type, unsigned bind,
                     ts_elf_version version, uintptr_t value)
{
    assert_true(f->n < FAKE_MAX);
    unsigned idx = ++f->n;
    size_t len = strlen(name) + 1;
    assert_true(f->names_used + len <= sizeof f->names);
    memcpy(f->names + f->names_used, name, len);
    f->symbols[idx].st_name = (uint32_t)f->names_used;
    f->names_used += len;
    f->symbols[idx].st_info = (unsigned char)ELF64_ST_INFO(bind, type);
    f->symbols[idx].st_other = STV_DEFAULT;
    f->symbols[idx].st_shndx = 1;
    f->symbols[idx].st_value = value;
    f->versions[idx] = version;
    uint32_t *chain = &f->gnu[FAKE_BUCKET + 1];
    if (idx > 1)
        chain[idx - 2] &= ~1u; /* no longer the bucket's last */
    uint32_t hash = ts_gnu_hash(name);
    chain[idx - 1] = hash | 1u;
    *fake_bloom_word(f, hash) |= (uint64_t)1 << (hash % 64);
    *fake_bloom_word(f, hash) |= (uint64_t)1 << ((hash >> FAKE_BLOOM_SHIFT) % 64);
}

static struct ts_symbol_table fake_table(struct fake_table *f, uintptr_t base)
{
    return (struct ts_symbol_table){base, f->symbols, f->names, f->gnu, f->versions};
}

#define BASE_A 0x100000u
#define BASE_B 0x200000u

static void test_the_loaders_rules(void **state)
{
    (void)state;
    static struct fake_table a, b;
    fake_begin(&a);
    fake_add(&a, "plain", STT_FUNC, STB_GLOBAL, 1, 0x10);
    fake_add(&a, "weak_public", STT_FUNC, STB_WEAK, 2, 0x20);
    fake_add(&a, "old_and_new", STT_FUNC, STB_GLOBAL, 0x8000 | 2, 0x30); /* hidden */
    fake_add(&a, "old_and_new", STT_FUNC, STB_GLOBAL, 3, 0x38);          /* the default */
    fake_add(&a, "two_public", STT_FUNC, STB_GLOBAL, 2, 0x40);
    fake_add(&a, "two_public", STT_FUNC, STB_GLOBAL, 3, 0x48);
    fake_add(&a, "ifunc", STT_GNU_IFUNC, STB_GLOBAL, 2, 0x50);
    fake_add(&a, "object", STT_OBJECT, STB_GLOBAL, 2, 0x60);
    fake_add(&a, "hidden_only", STT_FUNC, STB_GLOBAL, 0x8000 | 2, 0x70);
    fake_add(&a, "undefined", STT_FUNC, STB_GLOBAL, 2, 0); /* a reference */
    fake_add(&a, "local", STT_FUNC, STB_LOCAL, 1, 0x80);
    fake_begin(&b);
    fake_add(&b, "plain", STT_FUNC, STB_GLOBAL, 1, 0x10);
    fake_add(&b, "hidden_only", STT_FUNC, STB_GLOBAL, 2, 0x70);
    fake_add(&b, "undefined", STT_FUNC, STB_GLOBAL, 2, 0x90);
    fake_add(&b, "only_in_b", STT_FUNC, STB_GLOBAL, 2, 0xa0);
    struct ts_next_objects next = {.n = 2};
    next.table[0] = fake_table(&a, BASE_A);
    next.table[1] = fake_table(&b, BASE_B);

    /* the first object that defines a name answers */
    assert_ptr_equal(ts_next_symbol(&next, "plain"), (void *)(BASE_A + 0x10));
    assert_ptr_equal(ts_next_symbol(&next, "only_in_b"), (void *)(BASE_B + 0xa0));
    /* a weak definition is as good as a global one */
    assert_ptr_equal(ts_next_symbol(&next, "weak_public"), (void *)(BASE_A + 0x20));
    /* of a hidden version and the public one, the public one */
    assert_ptr_equal(ts_next_symbol(&next, "old_and_new"), (void *)(BASE_A + 0x38));
    /* an object with only a hidden version, or only a reference, does
     * not define the name: the next one does */
    assert_ptr_equal(ts_next_symbol(&next, "hidden_only"), (void *)(BASE_B + 0x70));
    assert_ptr_equal(ts_next_symbol(&next, "undefined"), (void *)(BASE_B + 0x90));
    /* left to dlsym: two public versions, an IFUNC, an object, a local */
    assert_null(ts_next_symbol(&next, "two_public"));
    assert_null(ts_next_symbol(&next, "ifunc"));
    assert_null(ts_next_symbol(&next, "object"));
    assert_null(ts_next_symbol(&next, "local"));
    assert_null(ts_next_symbol(&next, "nowhere"));
    /* without symbol versions, a definition is the answer */
    next.table[0].versions = NULL;
    assert_ptr_equal(ts_next_symbol(&next, "hidden_only"), (void *)(BASE_A + 0x70));
    /* one object's table alone (preload/deepbind.c: is a name one of the
     * shim's hooks?): its definition or nothing, never the next object's */
    next.table[0].versions = a.versions;
    assert_ptr_equal(ts_symbol_table_find(&next.table[0], "plain"), (void *)(BASE_A + 0x10));
    assert_ptr_equal(ts_symbol_table_find(&next.table[0], "old_and_new"), (void *)(BASE_A + 0x38));
    assert_null(ts_symbol_table_find(&next.table[0], "only_in_b"));
    assert_null(ts_symbol_table_find(&next.table[0], "undefined"));
    assert_null(ts_symbol_table_find(&next.table[0], "two_public"));
    assert_ptr_equal(ts_symbol_table_find(&next.table[1], "undefined"), (void *)(BASE_B + 0x90));
    /* the hashed symbols: from gnu_hash[1] to the end of the last chain
     * (a: 11 after the null symbol, b: 4) */
    assert_int_equal(ts_symbol_table_hashed_end(&next.table[0]), 1 + 11);
    assert_int_equal(ts_symbol_table_hashed_end(&next.table[1]), 1 + 4);
    /* a Bloom filter that says no is believed */
    *fake_bloom_word(&a, ts_gnu_hash("plain")) = 0;
    assert_ptr_equal(ts_next_symbol(&next, "plain"), (void *)(BASE_B + 0x10));
    /* a definition that is absolute (its value not in the object), or
     * with a value of 0, is not taken as a function of this object */
    a.symbols[1].st_shndx = SHN_ABS;
    *fake_bloom_word(&a, ts_gnu_hash("plain")) = UINT64_MAX;
    assert_null(ts_next_symbol(&next, "plain"));
    a.symbols[1].st_shndx = 1;
    a.symbols[1].st_value = 0;
    assert_ptr_equal(ts_next_symbol(&next, "plain"), (void *)(BASE_B + 0x10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_as_dlsym_does),
        cmocka_unit_test(test_the_c_library_must_follow),
        cmocka_unit_test(test_gnu_hash),
        cmocka_unit_test(test_the_loaders_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
