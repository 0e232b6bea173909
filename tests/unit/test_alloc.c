/* The malloc family and the node API on this host, through the real libnumaheap.so (this test
 * links it, so its malloc is numaheap's): sizes, alignment, usable size, realloc across sizes,
 * cross-thread free, node_of, pages_where, binding, statistics, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numaheap.h"

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}
static int check(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

static void malloc_sizes_and_usable_size(void **s) {
    static const size_t sizes[] = {0,     1,      7,       8,       16,      24,
                                   100,   512,    4095,    4096,    4097,    16384,
                                   32768, 100000, 1 << 20, 5 << 20, 40 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = malloc(sizes[i]);
        assert_non_null(p);
        assert_true(malloc_usable_size(p) >= sizes[i]);
        assert_int_equal((uintptr_t)p % 16, 0);
        fill(p, sizes[i], (unsigned)i);
        assert_true(check(p, sizes[i], (unsigned)i));
        assert_int_equal(nh_node_of(p), 0); /* from node 0's region */
        free(p);
    }
    assert_int_equal(malloc_usable_size(NULL), 0);
}

static void malloc_huge_fails_with_enomem(void **s) {
    errno = 0;
    assert_null(malloc(SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(malloc(SIZE_MAX / 2));
    assert_int_equal(errno, ENOMEM);
    free(NULL); /* no-op */
}

static void alignment_functions(void **s) {
    for (size_t a = sizeof(void *); a <= (1 << 21); a <<= 1) {
        void *p = NULL;
        assert_int_equal(posix_memalign(&p, a, 100), 0);
        assert_int_equal((uintptr_t)p % a, 0);
        free(p);
        p = aligned_alloc(a, a * 3);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % a, 0);
        free(p);
        p = memalign(a, 1);
        assert_int_equal((uintptr_t)p % a, 0);
        free(p);
    }
    void *p = valloc(10);
    assert_int_equal((uintptr_t)p % 4096, 0);
    free(p);
    p = pvalloc(4097);
    assert_int_equal((uintptr_t)p % 4096, 0);
    assert_true(malloc_usable_size(p) >= 8192);
    free(p);
}

static void bad_alignment_is_einval(void **s) {
    void *p = (void *)1;
    assert_int_equal(posix_memalign(&p, 24, 10), EINVAL);
    assert_int_equal(posix_memalign(&p, 4, 10), EINVAL); /* below sizeof(void *) */
    assert_int_equal(posix_memalign(&p, 0, 10), EINVAL);
    assert_ptr_equal(p, (void *)1); /* untouched on failure */
    errno = 0;
    assert_null(aligned_alloc(3, 10));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(aligned_alloc(0, 10));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(memalign(48, 10));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(pvalloc(SIZE_MAX - 10));
    assert_int_equal(errno, ENOMEM);
}

static void calloc_zeroes_and_overflow(void **s) {
    for (size_t n = 1; n < (1 << 22); n *= 3) {
        unsigned char *p = calloc(n, 1);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xff, n);
        free(p);
    }
    errno = 0;
    assert_null(calloc(SIZE_MAX / 2, 3));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(reallocarray(NULL, SIZE_MAX / 2, 3));
    assert_int_equal(errno, ENOMEM);
    void *p = reallocarray(NULL, 10, 10);
    assert_non_null(p);
    free(p);
}

static void realloc_across_sizes(void **s) {
    unsigned char *p = realloc(NULL, 1); /* realloc(NULL, n) is malloc */
    assert_non_null(p);
    p[0] = 42;
    size_t n = 1;
    while (n < (16u << 20)) {
        size_t m = n * 3 + 1;
        p = realloc(p, m);
        assert_non_null(p);
        assert_int_equal(p[0], 42);
        fill(p + 1, m - 1, (unsigned)m);
        assert_true(check(p + 1, m - 1, (unsigned)m));
        assert_int_equal(nh_node_of(p), 0);
        n = m;
    }
    p = realloc(p, 10); /* shrink keeps the prefix */
    assert_int_equal(p[0], 42);
    assert_null(realloc(p, 0)); /* frees, as glibc does */
    p = malloc(10);
    errno = 0;
    assert_null(realloc(p, SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    free(p); /* the old block survives a failed realloc */
}

#define XFER 20000
static void *xfer[XFER];

static void *producer(void *arg) {
    for (int i = 0; i < XFER; i++) {
        xfer[i] = malloc((size_t)(16 + i % 500));
        memset(xfer[i], i & 0xff, 16);
    }
    return NULL;
}

static void *consumer(void *arg) {
    for (int i = 0; i < XFER; i++) {
        if (((unsigned char *)xfer[i])[0] != (i & 0xff)) return (void *)1;
        free(xfer[i]);
    }
    return NULL;
}

static void cross_thread_free(void **s) {
    nh_stats_t before, after;
    assert_int_equal(nh_stats(0, &before), 0);
    pthread_t a, b;
    void *bad;
    pthread_create(&a, NULL, producer, NULL);
    pthread_join(a, NULL);
    pthread_create(&b, NULL, consumer, NULL);
    pthread_join(b, &bad);
    assert_null(bad);
    assert_int_equal(nh_stats(0, &after), 0);
    /* everything came back: at most the threads' own bookkeeping remains */
    assert_true(after.allocated < before.allocated + (256u << 10));
}

static void node_api_on_node(void **s) {
    char *p = nh_malloc_onnode(100, 0);
    assert_non_null(p);
    assert_int_equal(nh_node_of(p), 0);
    p = realloc(p, 1 << 20); /* keeps its node */
    assert_int_equal(nh_node_of(p), 0);
    nh_free(p);
    int *z = nh_calloc_onnode(1000, sizeof(int), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(z[i], 0);
    nh_free(z);
    void *al = nh_aligned_alloc_onnode(4096, 10, 0);
    assert_int_equal((uintptr_t)al % 4096, 0);
    assert_int_equal(nh_node_of(al), 0);
    nh_free(al);
    nh_free(NULL);
}

static void node_api_bad_input(void **s) {
    const int bad_nodes[] = {-1, 1, 7, NH_MAX_NODES, 100000, -100000};
    for (size_t i = 0; i < sizeof bad_nodes / sizeof *bad_nodes; i++) {
        errno = 0;
        assert_null(nh_malloc_onnode(10, bad_nodes[i]));
        assert_int_equal(errno, EINVAL);
        errno = 0;
        assert_null(nh_calloc_onnode(1, 10, bad_nodes[i]));
        assert_int_equal(errno, EINVAL);
    }
    errno = 0;
    assert_null(nh_calloc_onnode(SIZE_MAX / 2, 3, 0));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(nh_aligned_alloc_onnode(3, 10, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(nh_aligned_alloc_onnode(0, 10, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(nh_malloc_onnode(SIZE_MAX, 0));
    assert_int_equal(errno, ENOMEM);
    void *p = nh_malloc_onnode(0, 0); /* size 0: a unique pointer, as malloc(0) */
    assert_non_null(p);
    free(p);
}

static void alloc_onnode_flags(void **s) {
    unsigned char *p = nh_alloc_onnode(5000, 64, 0, NH_ALLOC_ZERO | NH_ALLOC_STRICT);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(p[i], 0);
    int where[3];
    assert_int_equal(nh_pages_where(p, 5000, where, 3),
                     (long)((((uintptr_t)p + 4999) / 4096) - (uintptr_t)p / 4096 + 1));
    assert_int_equal(where[0], 0); /* resident already: strict populated it */
    free(p);
    p = nh_alloc_onnode(100, 0, 0, 0);
    assert_non_null(p);
    free(p);
    errno = 0;
    assert_null(nh_alloc_onnode(100, 3, 0, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(nh_alloc_onnode(100, 0, 0, 4)); /* unknown flag */
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(nh_alloc_onnode(100, 0, 9, NH_ALLOC_STRICT));
    assert_int_equal(errno, EINVAL);
}

static void node_of_foreign_pointers(void **s) {
    int local = 0;
    assert_int_equal(nh_node_of(&local), -1);
    assert_int_equal(nh_node_of(NULL), -1);
    static char global[64];
    assert_int_equal(nh_node_of(global), -1);
}

static void pages_where_reports_kernel_placement(void **s) {
    size_t len = 64 * 4096;
    char *p = nh_aligned_alloc_onnode(4096, len, 0);
    memset(p, 1, len / 2); /* touch the first half only */
    int nodes[64];
    assert_int_equal(nh_pages_where(p, len, nodes, 64), 64);
    for (int i = 0; i < 32; i++)
        assert_int_equal(nodes[i], 0);
    for (int i = 32; i < 64; i++)
        assert_true(nodes[i] == -ENOENT || nodes[i] == 0);
    assert_int_equal(nh_pages_where(p, len, nodes, 10), 10); /* bounded by max */
    assert_int_equal(nh_pages_where(p + 100, 1, nodes, 64), 1);
    free(p);
    assert_int_equal(nh_pages_where(NULL, 10, nodes, 64), -EINVAL);
    assert_int_equal(nh_pages_where(nodes, 0, nodes, 64), -EINVAL);
    assert_int_equal(nh_pages_where(nodes, SIZE_MAX, nodes, 64), -EINVAL); /* overflow */
    assert_int_equal(nh_pages_where(nodes, 10, NULL, 64), -EINVAL);
    static char foreign[256] __attribute__((aligned(4096))); /* one page, not ours: still asked */
    foreign[0] = 1;
    assert_int_equal(nh_pages_where(foreign, sizeof foreign, nodes, 64), 1);
    assert_int_equal(nodes[0], 0);
}

static void migrate_and_repair_bad_input(void **s) {
    size_t len = 16 * 4096;
    char *p = nh_aligned_alloc_onnode(4096, len, 0);
    memset(p, 1, len);
    assert_int_equal(nh_migrate(p, len, 0), 16); /* already there: all 16 resident pages */
    static char global[8192];
    int local = 0;
    assert_int_equal(nh_migrate(global, sizeof global, 0), -EINVAL); /* not numaheap's */
    assert_int_equal(nh_migrate(&local, sizeof local, 0), -EINVAL);
    assert_int_equal(nh_migrate(NULL, 10, 0), -EINVAL);
    assert_int_equal(nh_migrate(p, 0, 0), -EINVAL);
    assert_int_equal(nh_migrate(p, SIZE_MAX, 0), -EINVAL); /* length overflow */
    assert_int_equal(nh_migrate(p, len, 1), -EINVAL);      /* no such node */
    assert_int_equal(nh_migrate(p, len, -1), -EINVAL);
    assert_int_equal(errno, EINVAL);
    nh_repair_report_t r;
    assert_int_equal(nh_repair(0, 1, &r), 0);
    assert_true(r.pages_checked >= 16);
    assert_int_equal(r.pages_misplaced, 0); /* one node: nothing can be elsewhere */
    assert_int_equal(nh_repair(-1, 0, &r), 0);
    assert_int_equal(nh_repair(3, 1, &r), -EINVAL);
    assert_int_equal(nh_repair(0, 1, NULL), -EINVAL);
    free(p);
}

static void thread_bind_and_unbind(void **s) {
    assert_int_equal(nh_current_node(), 0);
    assert_int_equal(nh_thread_bind(0), 0);
    assert_int_equal(nh_current_node(), 0);
    void *p = malloc(64);
    assert_int_equal(nh_node_of(p), 0);
    free(p);
    errno = 0;
    assert_int_equal(nh_thread_bind(1), -EINVAL);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(nh_thread_bind(-1), -EINVAL);
    assert_int_equal(nh_thread_unbind(), 0);
    assert_int_equal(nh_current_node(), 0);
}

static void stats_consistency(void **s) {
    nh_stats_t a, b, c;
    assert_int_equal(nh_stats(0, &a), 0);
    /* objects in thread caches count as allocated: allow one cache's worth of slack */
    enum { N = 10000, SZ = 1000, SLACK = 512 * 1024 };
    static void *blocks[N];
    for (int i = 0; i < N; i++)
        blocks[i] = malloc(SZ);
    assert_int_equal(nh_stats(0, &b), 0);
    assert_true(b.allocated + SLACK >= a.allocated + (uint64_t)N * SZ);
    assert_true(b.active >= b.allocated);
    assert_true(b.committed >= b.active);
    assert_true(b.resident > 0);
    assert_true(b.arenas >= 1);
    assert_int_equal(b.bind_errno, 0);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    assert_int_equal(nh_stats(0, &c), 0);
    assert_true(c.allocated + (uint64_t)N * SZ <= b.allocated + SLACK);
    errno = 0;
    assert_int_equal(nh_stats(1, &c), -EINVAL);
    assert_int_equal(nh_stats(0, NULL), -EINVAL);
}

static void malloc_by_policy(void **s) {
    nh_policy_t p;
    const char *ok[] = {"local",        "default",          "preferred:0", "bind:0",
                        "interleave:0", "preferred-many:0", "weighted:0=2"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(nh_policy_parse(ok[i], &p, NULL), 0);
        void *q = nh_malloc_policy(100, &p);
        assert_non_null(q);
        assert_int_equal(nh_node_of(q), 0);
        free(q);
    }
    memset(&p, 0, sizeof p);
    p.mode = NH_MPOL_BIND; /* no nodes: invalid */
    errno = 0;
    assert_null(nh_malloc_policy(100, &p));
    assert_int_equal(errno, EINVAL);
    assert_null(nh_malloc_policy(100, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malloc_sizes_and_usable_size),
        cmocka_unit_test(malloc_huge_fails_with_enomem),
        cmocka_unit_test(alignment_functions),
        cmocka_unit_test(bad_alignment_is_einval),
        cmocka_unit_test(calloc_zeroes_and_overflow),
        cmocka_unit_test(realloc_across_sizes),
        cmocka_unit_test(cross_thread_free),
        cmocka_unit_test(node_api_on_node),
        cmocka_unit_test(node_api_bad_input),
        cmocka_unit_test(alloc_onnode_flags),
        cmocka_unit_test(node_of_foreign_pointers),
        cmocka_unit_test(pages_where_reports_kernel_placement),
        cmocka_unit_test(migrate_and_repair_bad_input),
        cmocka_unit_test(thread_bind_and_unbind),
        cmocka_unit_test(stats_consistency),
        cmocka_unit_test(malloc_by_policy),
    };
    return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
