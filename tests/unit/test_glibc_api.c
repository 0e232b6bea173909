/* glibc's introspection answered by numaheap, and nh_ctl, through the real libnumaheap.so
 * (this test links it, so malloc in it is numaheap's): mallinfo2/mallinfo follow allocations,
 * malloc_info is XML with one heap per node, malloc_stats prints glibc's layout, mallopt
 * honours M_MMAP_THRESHOLD and M_MMAP_MAX and refuses the rest, malloc_trim reports memory
 * given back, and every nh_ctl name and error, the writable knobs read back and take effect. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "numaheap.h"

#define N    2000
#define SIZE 256

#define DEFAULT_THRESHOLD (64ull << 20)

static uint64_t ctl_get(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof v;
    if (nh_ctl(name, &v, &len, NULL, 0)) fail_msg("nh_ctl read %s: %s", name, strerror(errno));
    return v;
}

/* nh_ctl's answer to writing v to name: 0 or -errno. */
static int ctl_set(const char *name, uint64_t v) {
    return nh_ctl(name, NULL, NULL, &v, sizeof v);
}

static bool numaheap_engine(void) {
    char buf[32];
    size_t len = sizeof buf;
    assert_int_equal(nh_ctl("engine", buf, &len, NULL, 0), 0);
    return !strcmp(buf, "numaheap");
}

static int heap_node_count(void) {
    char nodes[256];
    size_t len = sizeof nodes;
    assert_int_equal(nh_ctl("config.nodes", nodes, &len, NULL, 0), 0);
    nh_nodemask_t m;
    assert_int_equal(nh_nodemask_parse(nodes, &m, NULL), 0);
    int count = 0;
    for (int n = 0; n < NH_MAX_NODES; n++)
        count += nh_nodemask_isset(&m, n);
    return count;
}

static void mallinfo2_follows_allocations(void **s) {
    static char *p[N];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N; i++) {
        p[i] = malloc(SIZE);
        assert_non_null(p[i]);
        memset(p[i], i, SIZE);
    }
    struct mallinfo2 during = mallinfo2();
    assert_true(during.uordblks >= before.uordblks + (size_t)N * SIZE);
    assert_true(during.arena >= during.uordblks);
    assert_int_equal(during.fordblks, during.arena - during.uordblks);
    assert_int_equal(during.keepcost, 0);
    struct mallinfo old = mallinfo(); /* the int version agrees while it fits */
    assert_int_equal((size_t)old.uordblks, mallinfo2().uordblks);
    for (int i = 0; i < N; i++)
        free(p[i]);
    struct mallinfo2 after = mallinfo2();
    assert_true(after.uordblks + (size_t)N * SIZE / 2 <= during.uordblks);
}

static void mallinfo2_counts_large_objects_in_hblkhd(void **s) {
    size_t big = 80u << 20; /* above the 64 MiB default threshold: the large region */
    struct mallinfo2 before = mallinfo2();
    char *p = malloc(big);
    assert_non_null(p);
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    memset(p, 1, big);
    struct mallinfo2 during = mallinfo2();
    assert_true(during.hblkhd >= before.hblkhd + big);
    free(p);
    malloc_trim(0); /* freed, it may stay held (cached) until purged */
    assert_true(mallinfo2().hblkhd + big <= during.hblkhd);
}

static char *read_file(FILE *f) {
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    return text;
}

static int count(const char *text, const char *needle) {
    int k = 0;
    for (const char *c = text; (c = strstr(c, needle)); c += strlen(needle))
        k++;
    return k;
}

static void malloc_info_is_xml_with_a_heap_per_node(void **s) {
    FILE *f = tmpfile();
    assert_non_null(f);
    errno = 0;
    assert_int_equal(malloc_info(1, f), -1); /* options must be 0, as in glibc */
    assert_int_equal(errno, EINVAL);
    void *keep = malloc(1000);
    assert_int_equal(malloc_info(0, f), 0);
    fflush(f);
    char *xml = read_file(f);
    assert_true(!strncmp(xml, "<malloc version=\"1\">\n", 21));
    assert_non_null(strstr(xml, "</malloc>\n"));
    assert_int_equal(count(xml, "<heap nr=\""), heap_node_count());
    assert_int_equal(count(xml, "</heap>"), heap_node_count());
    assert_non_null(strstr(xml, "<heap nr=\"0\">"));
    assert_non_null(strstr(xml, "<total type=\"mmap\""));
    /* A real XML parser agrees, where python3 is there. */
    char path[] = "/tmp/nh_malloc_info_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
    close(fd);
    if (system("python3 -c '' 2>/dev/null") == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); "
                 "sys.exit(len(d.getElementsByTagName(\"heap\")) != %d)' %s",
                 heap_node_count(), path);
        assert_int_equal(system(cmd), 0);
    }
    unlink(path);
    free(xml);
    free(keep);
    fclose(f);
}

static void malloc_stats_prints_glibcs_layout(void **s) {
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(f), 2);
    malloc_stats();
    dup2(saved, 2);
    close(saved);
    fseek(f, 0, SEEK_END);
    char *text = read_file(f);
    assert_true(!strncmp(text, "Arena 0:\nsystem bytes     = ", 28));
    assert_int_equal(count(text, "Arena "), heap_node_count());
    assert_non_null(strstr(text, "\nin use bytes     = "));
    assert_non_null(strstr(text, "\nTotal (incl. mmap):\nsystem bytes     = "));
    free(text);
    fclose(f);
}

/* M_MMAP_THRESHOLD moves the large threshold, as it moves glibc's mmap threshold: a 512 KiB
 * object is then large (interleaved, counted in the large region's statistics), a 200 KiB one
 * is not. glibc's bound (32 MiB on 64-bit) and numaheap's run-time minimum (64 KiB) refuse with
 * 0 and change nothing. */
static void mallopt_mmap_threshold_moves_the_large_path(void **s) {
    uint64_t before = ctl_get("config.large_threshold");
    char *small = malloc(512 << 10);
    assert_non_null(small);
    if (before > (512 << 10)) assert_true(nh_node_of(small) >= 0);
    uint64_t large0 = ctl_get("stats.large.allocated");

    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 256 << 10), 1);
    assert_int_equal(ctl_get("config.large_threshold"), 256 << 10);
    char *big = malloc(512 << 10), *zeroed = calloc(1, 512 << 10);
    char *aligned = aligned_alloc(4096, 512 << 10), *below = malloc(200 << 10);
    assert_non_null(big);
    assert_non_null(zeroed);
    assert_non_null(aligned);
    assert_non_null(below);
    assert_int_equal(nh_node_of(big), NH_NODE_INTERLEAVED);
    assert_int_equal(nh_node_of(zeroed), NH_NODE_INTERLEAVED);
    assert_int_equal(nh_node_of(aligned), NH_NODE_INTERLEAVED);
    assert_true(nh_node_of(below) >= 0);
    assert_true(malloc_usable_size(big) >= 512 << 10);
    for (size_t i = 0; i < 512 << 10; i += 4096)
        assert_int_equal(zeroed[i], 0);
    memset(big, 1, 512 << 10);
    assert_true(ctl_get("stats.large.allocated") >= large0 + 3 * (512 << 10));

    static const int refused[] = {(32 << 20) + 1, INT_MAX, -1, INT_MIN, 0, 4096, (64 << 10) - 1};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        if (mallopt(M_MMAP_THRESHOLD, refused[i]) != 0) fail_msg("%d accepted", refused[i]);
        assert_int_equal(ctl_get("config.large_threshold"), 256 << 10);
    }
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 32 << 20), 1); /* glibc's largest */
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 64 << 10), 1); /* numaheap's smallest */
    assert_int_equal(ctl_get("config.large_threshold"), 64 << 10);
    /* the threshold of NUMAHEAP_LARGE_THRESHOLD's default is above glibc's bound: nh_ctl */
    assert_int_equal(ctl_set("config.large_threshold", before), 0);
    assert_int_equal(ctl_get("config.large_threshold"), before);
    char *again = malloc(512 << 10);
    if (before > (512 << 10)) assert_true(nh_node_of(again) >= 0);
    free(again);
    free(small);
    free(big);
    free(zeroed);
    free(aligned);
    free(below);
}

/* M_MMAP_MAX 0 makes no object large (glibc then maps none): 80 MiB stays on the thread's
 * node; M_MMAP_THRESHOLD meanwhile is kept but not applied, as glibc keeps it; a positive
 * count applies it again. A negative count is 0 for glibc too. */
static void mallopt_mmap_max_zero_keeps_objects_on_their_node(void **s) {
    uint64_t before = ctl_get("config.large_threshold");
    assert_int_equal(mallopt(M_MMAP_MAX, 0), 1);
    assert_int_equal(ctl_get("config.large_threshold"), UINT64_MAX);
    char *p = malloc(80u << 20);
    assert_non_null(p);
    assert_true(nh_node_of(p) >= 0);
    memset(p, 1, 80u << 20);
    nh_stats_t st;
    assert_int_equal(nh_stats(nh_node_of(p), &st), 0);
    assert_true(st.allocated >= 80u << 20);
    free(p);
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
    assert_int_equal(ctl_get("config.large_threshold"), UINT64_MAX);
    p = malloc(2 << 20);
    assert_true(nh_node_of(p) >= 0);
    free(p);
    assert_int_equal(mallopt(M_MMAP_MAX, 65536), 1);
    assert_int_equal(ctl_get("config.large_threshold"), 1 << 20);
    p = malloc(2 << 20);
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    free(p);
    assert_int_equal(mallopt(M_MMAP_MAX, -1), 1);
    assert_int_equal(ctl_get("config.large_threshold"), UINT64_MAX);
    /* nh_ctl's threshold applies whatever M_MMAP_MAX said */
    assert_int_equal(ctl_set("config.large_threshold", before), 0);
    assert_int_equal(ctl_get("config.large_threshold"), before);
}

/* Options without a knob in numaheap: 0 (glibc's "not done"), and nothing changes. */
static void mallopt_refuses_the_rest(void **s) {
    static const int params[] = {M_MXFAST,  M_TRIM_THRESHOLD, M_TOP_PAD,   M_CHECK_ACTION,
                                 M_PERTURB, M_ARENA_TEST,     M_ARENA_MAX, 12345,
                                 -100,      INT_MAX};
    uint64_t threshold = ctl_get("config.large_threshold"), decay = ctl_get("config.decay_ms");
    for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
        assert_int_equal(mallopt(params[i], 1), 0);
        assert_int_equal(mallopt(params[i], 0), 0);
    }
    assert_int_equal(ctl_get("config.large_threshold"), threshold);
    assert_int_equal(ctl_get("config.decay_ms"), decay);
}

/* Resident set in bytes, read without stdio (which would allocate between two trims). */
static uint64_t rss_bytes(void) {
    char buf[128] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof buf - 1) > 0);
    close(fd);
    char *p = strchr(buf, ' ');
    assert_non_null(p);
    return strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* 64 MiB in 256 KiB objects, all touched, then all freed. */
static void churn(void) {
    enum { K = 256 };
    static char *p[K];
    for (int i = 0; i < K; i++) {
        p[i] = malloc(256 << 10);
        assert_non_null(p[i]);
        memset(p[i], i, 256 << 10);
    }
    for (int i = 0; i < K; i++)
        free(p[i]);
}

/* The suite runs with decay off (CMakeLists.txt), so what the frees left resident stays until
 * a trim: trim's 1 must come with less RSS and less resident in the statistics, and a trim
 * with nothing to give back must say 0, as glibc's does. */
static void malloc_trim_gives_memory_back(void **s) {
    malloc_trim(0);
    assert_int_equal(malloc_trim(0), 0); /* nothing freed since the last one */
    churn();
    uint64_t rss0 = rss_bytes(), arena0 = mallinfo2().arena;
    assert_int_equal(malloc_trim(0), 1);
    uint64_t rss1 = rss_bytes(), arena1 = mallinfo2().arena;
    assert_true(rss1 + (32u << 20) < rss0);
    assert_true(arena1 + (32u << 20) < arena0); /* mallinfo2.arena is the stats' resident */
    assert_int_equal(malloc_trim(0), 0);
    churn(); /* again, through nh_ctl */
    uint64_t given = 7;
    size_t len = sizeof given;
    assert_int_equal(nh_ctl("trim", &given, &len, NULL, 0), 0);
    assert_int_equal(given, 1);
    given = 7;
    assert_int_equal(nh_ctl("trim", &given, &len, NULL, 0), 0);
    assert_int_equal(given, 0); /* nothing left */
}

static uint64_t resident_sum(void) {
    uint64_t sum = 0;
    for (int n = 0; n < NH_MAX_NODES; n++) {
        nh_stats_t st;
        if (nh_stats(n, &st) == 0) sum += st.resident;
    }
    return sum;
}

/* nh_stats' resident, and stats.node.N.resident through nh_ctl, follow a trim: the memory
 * given back leaves them (it once stayed counted while RSS fell 40 MB). */
static void resident_drops_after_trim(void **s) {
    int node = -1;
    for (int n = 0; n < NH_MAX_NODES && node < 0; n++) {
        nh_stats_t st;
        if (nh_stats(n, &st) == 0) node = n;
    }
    assert_true(node >= 0);
    char name[64];
    snprintf(name, sizeof name, "stats.node.%d.resident", node);
    churn();
    uint64_t sum0 = resident_sum(), ctl0 = 0, ctl1 = 0;
    size_t len = sizeof ctl0;
    assert_int_equal(nh_ctl(name, &ctl0, &len, NULL, 0), 0);
    assert_int_equal(malloc_trim(0), 1);
    assert_int_equal(nh_ctl(name, &ctl1, &len, NULL, 0), 0);
    assert_true(resident_sum() + (32u << 20) < sum0);
    assert_true(ctl1 < ctl0);
}

static void ctl_strings(void **s) {
    char buf[512];
    size_t len = sizeof buf;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", NH_VERSION_MAJOR, NH_VERSION_MINOR, NH_VERSION_PATCH);
    assert_int_equal(nh_ctl("version", buf, &len, NULL, 0), 0);
    assert_string_equal(buf, want);
    assert_int_equal(len, strlen(want) + 1);
    len = 0; /* size query */
    assert_int_equal(nh_ctl("engine", NULL, &len, NULL, 0), 0);
    assert_true(len > 1);
    size_t need = len;
    len = sizeof buf;
    assert_int_equal(nh_ctl("engine", buf, &len, NULL, 0), 0);
    assert_int_equal(len, need);
    assert_true(!strcmp(buf, "numaheap") || !strcmp(buf, "jemalloc"));
    char tiny[2];
    len = sizeof tiny; /* too small: EINVAL and the size needed */
    errno = 0;
    assert_int_equal(nh_ctl("engine", tiny, &len, NULL, 0), -EINVAL);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(len, need);

    nh_policy_t small, large;
    char fs[512], fl[512];
    assert_int_equal(nh_heap_policy(&small, &large), 0);
    nh_policy_format(&small, fs, sizeof fs);
    nh_policy_format(&large, fl, sizeof fl);
    len = sizeof buf;
    assert_int_equal(nh_ctl("config.policy", buf, &len, NULL, 0), 0);
    assert_string_equal(buf, fs);
    len = sizeof buf;
    assert_int_equal(nh_ctl("config.large_policy", buf, &len, NULL, 0), 0);
    assert_string_equal(buf, fl);
    assert_true(heap_node_count() >= 1);
}

static void ctl_numbers(void **s) {
    uint64_t v = 0;
    size_t len = sizeof v;
    assert_int_equal(nh_ctl("config.large_threshold", &v, &len, NULL, 0), 0);
    const char *env = getenv("NUMAHEAP_LARGE_THRESHOLD");
    if (!env) assert_int_equal(v, 64u << 20);

    static const char *const fields[] = {
        "allocated",  "active",          "committed",     "resident",    "arenas",
        "bind_errno", "commit_failures", "pages_audited", "pages_moved", "pages_misplaced"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        char name[64];
        snprintf(name, sizeof name, "stats.node.0.%s", fields[i]);
        len = sizeof v;
        assert_int_equal(nh_ctl(name, &v, &len, NULL, 0), 0);
        snprintf(name, sizeof name, "stats.large.%s", fields[i]);
        assert_int_equal(nh_ctl(name, &v, &len, NULL, 0), 0);
    }
    uint64_t a0, a1, arenas;
    assert_int_equal(nh_ctl("stats.node.0.allocated", &a0, &len, NULL, 0), 0);
    void *p = nh_malloc_onnode(100000, 0);
    assert_int_equal(nh_ctl("stats.node.0.allocated", &a1, &len, NULL, 0), 0);
    assert_true(a1 >= a0 + 100000);
    nh_free(p);
    nh_stats_t st;
    assert_int_equal(nh_stats(0, &st), 0);
    assert_int_equal(nh_ctl("stats.node.0.arenas", &arenas, &len, NULL, 0), 0);
    assert_int_equal(arenas, st.arenas);

    int64_t node = -5;
    len = sizeof node;
    assert_int_equal(nh_ctl("thread.node", &node, &len, NULL, 0), 0);
    assert_int_equal(node, nh_current_node());
    int64_t zero = 0, minus1 = -1, far = 5000, old = -5;
    assert_int_equal(nh_ctl("thread.node", &old, &len, &zero, sizeof zero), 0);
    assert_int_equal(old, node);
    assert_int_equal(nh_current_node(), 0);
    assert_int_equal(nh_ctl("thread.node", NULL, NULL, &far, sizeof far), -EINVAL);
    assert_int_equal(nh_ctl("thread.node", NULL, NULL, &minus1, sizeof minus1), 0);
}

static void ctl_errors(void **s) {
    uint64_t v;
    size_t len = sizeof v;
    static const char *const unknown[] = {"bogus",
                                          "",
                                          "stats.",
                                          "stats.node.0",
                                          "stats.node.0.",
                                          "stats.node.0.bogus",
                                          "stats.node.x.allocated",
                                          "stats.node..allocated",
                                          "stats.node.1023.allocated",
                                          "stats.node.99999999999999999999.allocated",
                                          "stats.large.bogus",
                                          "version.x",
                                          "Version"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        errno = 0;
        len = sizeof v;
        if (nh_ctl(unknown[i], &v, &len, NULL, 0) != -ENOENT)
            fail_msg("'%s' not ENOENT", unknown[i]);
        assert_int_equal(errno, ENOENT);
    }
    errno = 0;
    assert_int_equal(nh_ctl(NULL, &v, &len, NULL, 0), -EINVAL);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(nh_ctl("config.large_threshold", &v, NULL, NULL, 0), -EINVAL);
    len = 4; /* numbers are 8 bytes */
    assert_int_equal(nh_ctl("config.large_threshold", &v, &len, NULL, 0), -EINVAL);
    len = 16;
    assert_int_equal(nh_ctl("stats.node.0.allocated", &v, &len, NULL, 0), -EINVAL);
    int64_t zero = 0;
    assert_int_equal(nh_ctl("thread.node", NULL, NULL, &zero, 4), -EINVAL);
    assert_int_equal(nh_ctl("thread.node", NULL, NULL, NULL, 8), -EINVAL);
    /* read-only names */
    char text[8] = "x";
    errno = 0;
    assert_int_equal(nh_ctl("version", NULL, NULL, text, sizeof text), -EPERM);
    assert_int_equal(errno, EPERM);
    assert_int_equal(nh_ctl("engine", NULL, NULL, text, sizeof text), -EPERM);
    assert_int_equal(nh_ctl("config.policy", NULL, NULL, "bind:0", 7), -EPERM);
    v = 4096; /* writable, but not below 64 KiB */
    assert_int_equal(nh_ctl("config.large_threshold", NULL, NULL, &v, sizeof v), -EINVAL);
    assert_int_equal(nh_ctl("stats.node.0.allocated", NULL, NULL, &v, sizeof v), -EPERM);
    assert_int_equal(nh_ctl("stats.large.resident", NULL, NULL, &v, sizeof v), -EPERM);
    assert_int_equal(nh_ctl("stats.node.0.bogus", NULL, NULL, &v, sizeof v), -ENOENT);
    assert_int_equal(nh_ctl("bogus", NULL, NULL, &v, sizeof v), -ENOENT);
    /* trim is an action: no value */
    assert_int_equal(nh_ctl("trim", NULL, NULL, &v, sizeof v), -EINVAL);
    /* a failed call changed nothing: the threshold is what it was */
    len = sizeof v;
    assert_int_equal(nh_ctl("config.large_threshold", &v, &len, NULL, 0), 0);
    assert_true(v != 4096);
}

/* Every writable number reads back what was written; a value out of its NUMAHEAP_* variable's
 * bounds is EINVAL and changes nothing. */
static void ctl_knobs_read_back(void **s) {
    static const struct {
        const char *name;
        uint64_t good, bad[3];
    } knobs[] = {
        {"config.large_threshold", 1 << 20, {0, (64 << 10) - 1, (1ull << 40) + 1}},
        {"config.repair_pages", 1, {0, (1u << 24) + 1, UINT64_MAX}},
        {"config.migrate_on_move", 1, {2, 3, UINT64_MAX}},
        {"config.repair_ms", 0, {1, 9, 3600001}},
    };
    for (size_t i = 0; i < sizeof knobs / sizeof *knobs; i++) {
        const char *name = knobs[i].name;
        uint64_t old = 7, was = ctl_get(name);
        size_t len = sizeof old;
        uint64_t good = knobs[i].good;
        assert_int_equal(nh_ctl(name, &old, &len, &good, sizeof good), 0);
        assert_int_equal(old, was); /* the old value first, as mallctl gives it */
        assert_int_equal(ctl_get(name), good);
        for (int b = 0; b < 3; b++) {
            errno = 0;
            if (ctl_set(name, knobs[i].bad[b]) != -EINVAL)
                fail_msg("%s=%llu not EINVAL", name, (unsigned long long)knobs[i].bad[b]);
            assert_int_equal(errno, EINVAL);
            assert_int_equal(ctl_get(name), good);
        }
        assert_int_equal(ctl_set(name, was), 0);
        assert_int_equal(ctl_get(name), was);
    }
    /* the largest values the variables take */
    assert_int_equal(ctl_set("config.large_threshold", 1ull << 40), 0);
    assert_int_equal(ctl_set("config.repair_pages", 1u << 24), 0);
    assert_int_equal(ctl_set("config.large_threshold", DEFAULT_THRESHOLD), 0);
    assert_int_equal(ctl_set("config.repair_pages", 16384), 0);
    /* a string or a short number is no value for them */
    assert_int_equal(nh_ctl("config.decay_ms", NULL, NULL, "0", 2), -EINVAL);
    uint32_t four = 0;
    assert_int_equal(nh_ctl("config.repair_ms", NULL, NULL, &four, sizeof four), -EINVAL);
}

/* The decay delay (numaheap's engine; the jemalloc engine has its own, NUMAHEAP_JE's, and says
 * EOPNOTSUPP): the suite starts with an hour, so a freed 32 MiB object stays resident; at 0
 * the next free gives it back at once. */
static void ctl_decay_takes_effect(void **s) {
    uint64_t hour = ctl_get("config.decay_ms");
    if (!numaheap_engine()) {
        errno = 0;
        assert_int_equal(ctl_set("config.decay_ms", 0), -EOPNOTSUPP);
        assert_int_equal(errno, EOPNOTSUPP);
        assert_int_equal(ctl_get("config.decay_ms"), hour);
        skip();
    }
    assert_int_equal(hour, 3600000); /* CMakeLists.txt */
    assert_int_equal(ctl_set("config.decay_ms", 3600001), -EINVAL);
    size_t size = 32u << 20;
    malloc_trim(0);
    char *p = malloc(size);
    assert_non_null(p);
    memset(p, 1, size);
    uint64_t touched = rss_bytes();
    free(p);
    uint64_t kept = rss_bytes();
    assert_true(kept + (8u << 20) > touched); /* an hour to go */
    assert_int_equal(ctl_set("config.decay_ms", 0), 0);
    assert_int_equal(ctl_get("config.decay_ms"), 0);
    p = malloc(size); /* the same span, already resident */
    assert_non_null(p);
    memset(p, 2, size);
    free(p);
    uint64_t after = rss_bytes();
    assert_true(after + (24u << 20) < kept);
    assert_int_equal(ctl_set("config.decay_ms", hour), 0);
    assert_int_equal(ctl_get("config.decay_ms"), hour);
}

/* 16 MiB of 256-byte blocks touched, all freed but one: the thread's segments outlive it. */
static void *fill_and_exit(void *arg) {
    enum { BLOCKS = 16 << 12 };
    static char *p[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        p[i] = malloc(256);
        memset(p[i], 1, 256);
    }
    *(uint64_t *)arg = rss_bytes();
    for (int i = 1; i < BLOCKS; i++)
        free(p[i]);
    return p[0];
}

/* An exited thread's empty pages go back at its exit, not when its segments do: larson's
 * threads each left their empty pages resident in segments still holding a few live blocks
 * (a page of each class and one empty segment stay, for the thread that starts next; decay is
 * off: CMakeLists). */
static void exited_threads_pages_go_back(void **s) {
    (void)s;
    if (!numaheap_engine()) skip(); /* jemalloc's decay gives them back */
    malloc_trim(0);
    uint64_t before = rss_bytes(), filled = 0;
    pthread_t t;
    void *kept;
    assert_int_equal(pthread_create(&t, NULL, fill_and_exit, &filled), 0);
    assert_int_equal(pthread_join(t, &kept), 0);
    uint64_t after = rss_bytes();
    assert_true(filled > before + (12u << 20));
    assert_in_range(after, 0, before + (2u << 20)); /* 0.7 MiB here, 0.5 of it p[] */
    free(kept);
}

static uint64_t audited_sum(void) {
    uint64_t sum = 0;
    for (int n = 0; n < NH_MAX_NODES; n++) {
        nh_stats_t st;
        if (nh_stats(n, &st) == 0) sum += st.pages_audited;
    }
    return sum;
}

static bool repairer_thread_exists(void) {
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        found = fgets(comm, sizeof comm, f) && !strcmp(comm, "numaheap-repair\n");
        fclose(f);
    }
    closedir(d);
    return found;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000l};
    nanosleep(&ts, NULL);
}

/* The repairer names itself once it runs: up to two minutes for that (the test may be
 * paused). */
static bool repairer_starts(void) {
    for (int i = 0; i < 2400; i++) {
        if (repairer_thread_exists()) return true;
        sleep_ms(50);
    }
    return false;
}

/* Waits (up to two minutes: the test may be paused) for the repairer to audit more pages. */
static bool audits_grow(void) {
    uint64_t from = audited_sum();
    for (int i = 0; i < 2400; i++) {
        if (audited_sum() > from) return true;
        sleep_ms(50);
    }
    return false;
}

/* The repairer's interval at run time: turned on, the thread starts and audits; turned off,
 * it stops auditing; on again, it resumes. */
static void ctl_repair_interval_starts_and_stops_the_repairer(void **s) {
    if (getenv("NUMAHEAP_REPAIR")) skip();
    assert_int_equal(ctl_get("config.repair_ms"), 0);
    assert_false(repairer_thread_exists());
    char *keep = malloc(1 << 20); /* pages to audit */
    memset(keep, 1, 1 << 20);
    assert_int_equal(ctl_set("config.repair_ms", 10), 0);
    assert_int_equal(ctl_get("config.repair_ms"), 10);
    assert_true(repairer_starts());
    assert_true(audits_grow());
    assert_int_equal(ctl_set("config.repair_ms", 0), 0);
    assert_int_equal(ctl_get("config.repair_ms"), 0);
    sleep_ms(300); /* an interval's work under way ends */
    uint64_t stopped = audited_sum();
    sleep_ms(500);
    assert_int_equal(audited_sum(), stopped);
    assert_true(repairer_thread_exists());                     /* it waits for the next change */
    assert_int_equal(ctl_set("config.repair_ms", 3600000), 0); /* an hour: woken, waiting */
    sleep_ms(200);
    assert_int_equal(audited_sum(), stopped);
    assert_int_equal(ctl_set("config.repair_ms", 20), 0); /* the new interval, from now */
    assert_true(audits_grow());
    assert_int_equal(ctl_set("config.repair_ms", 0), 0);
    free(keep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mallinfo2_follows_allocations),
        cmocka_unit_test(mallinfo2_counts_large_objects_in_hblkhd),
        cmocka_unit_test(malloc_info_is_xml_with_a_heap_per_node),
        cmocka_unit_test(malloc_stats_prints_glibcs_layout),
        cmocka_unit_test(mallopt_mmap_threshold_moves_the_large_path),
        cmocka_unit_test(mallopt_mmap_max_zero_keeps_objects_on_their_node),
        cmocka_unit_test(mallopt_refuses_the_rest),
        cmocka_unit_test(malloc_trim_gives_memory_back),
        cmocka_unit_test(exited_threads_pages_go_back),
        cmocka_unit_test(resident_drops_after_trim),
        cmocka_unit_test(ctl_strings),
        cmocka_unit_test(ctl_numbers),
        cmocka_unit_test(ctl_errors),
        cmocka_unit_test(ctl_knobs_read_back),
        cmocka_unit_test(ctl_decay_takes_effect),
        cmocka_unit_test(ctl_repair_interval_starts_and_stops_the_repairer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
