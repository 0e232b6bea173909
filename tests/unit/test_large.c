/* Large objects: the userspace weighted stripe's plan, and large allocations through the
 * public API on this host (interleaved region, kernel-reported policy, realloc across the
 * threshold, statistics). Links libnumaheap.a to reach the internal planner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_internal.h"

struct plan {
    size_t covered, per_node[8];
    int runs, order[64];
};

static void record(size_t off, size_t len, int node, void *arg) {
    struct plan *p = arg;
    assert_int_equal(off, p->covered); /* contiguous, no gap, no overlap */
    p->covered += len;
    p->per_node[node] += len;
    if (p->runs < 64) p->order[p->runs] = node;
    p->runs++;
}

static void stripe_weights_3_to_1(void **s) {
    nh_policy_t pol;
    policy_init(&pol, NH_MPOL_WEIGHTED_INTERLEAVE);
    nh_nodemask_set(&pol.nodes, 0);
    nh_nodemask_set(&pol.nodes, 1);
    pol.weights[0] = 3;
    pol.weights[1] = 1;
    struct plan p = {0};
    large_stripe_plan(64u << 20, &pol, 2u << 20, record, &p);
    assert_int_equal(p.covered, 64u << 20);
    assert_int_equal(p.per_node[0], 48u << 20);
    assert_int_equal(p.per_node[1], 16u << 20);
    assert_int_equal(p.runs, 16);
    assert_int_equal(p.order[0], 0);
    assert_int_equal(p.order[1], 1);
}

static void stripe_unweighted_and_ragged(void **s) {
    nh_policy_t pol;
    policy_init(&pol, NH_MPOL_INTERLEAVE);
    nh_nodemask_set(&pol.nodes, 0);
    nh_nodemask_set(&pol.nodes, 2);
    nh_nodemask_set(&pol.nodes, 3);
    struct plan p = {0};
    size_t size = (7u << 20) + 4096; /* not a multiple of the unit */
    large_stripe_plan(size, &pol, 1u << 20, record, &p);
    assert_int_equal(p.covered, size);
    assert_int_equal(p.runs, 8); /* 0 2 3 0 2 3 0, then the short run, node 2's turn */
    assert_int_equal(p.per_node[0], 3u << 20);
    assert_int_equal(p.per_node[2], (2u << 20) + 4096);
    assert_int_equal(p.per_node[3], 2u << 20);
    assert_int_equal(p.order[3], 0);
    assert_int_equal(p.order[7], 2);
}

/* The userspace stripe (weights the kernel cannot express) prefers each run's node: a full
 * node falls back, where MPOL_BIND would have ended in the OOM killer. Fake bind hook. */
static struct { int calls, modes_not_preferred, nodes[16]; } seen;

static int record_bind(void *addr, size_t size, int mode, const nh_nodemask_t *nodes) {
    if (mode != MPOL_PREFERRED) seen.modes_not_preferred++;
    if (seen.calls < 16) seen.nodes[seen.calls] = mask_next(nodes, 0);
    seen.calls++;
    return 0;
}

static void stripe_runs_are_preferred_not_bound(void **s) {
    config_t c = heap_config;
    policy_init(&c.large_policy, NH_MPOL_WEIGHTED_INTERLEAVE);
    nh_nodemask_set(&c.large_policy.nodes, 0);
    nh_nodemask_set(&c.large_policy.nodes, 1);
    c.large_policy.weights[0] = 3; /* node 1 has no kernel weight here: a stripe */
    c.large_policy.weights[1] = 1;
    large_set(&c.large_policy);
    os_hooks_t saved = os_hooks;
    os_hooks.bind = record_bind;
    int e = large_bind((void *)(1ul << 40), 16u << 20);
    os_hooks = saved;
    large_set(&heap_config.large_policy); /* (this host's resolved nodes) */
    assert_int_equal(e, 0);
    assert_int_equal(seen.calls, 8 / 4 * 2); /* 2 MiB units: 3 + 1 runs per 8 MiB, twice */
    assert_int_equal(seen.modes_not_preferred, 0);
    assert_int_equal(seen.nodes[0], 0);
    assert_int_equal(seen.nodes[1], 1);
}

static void large_objects_are_interleaved(void **s) {
    size_t n = heap_large_threshold;
    assert_int_equal(n, 64u << 20); /* the default */
    char *p = malloc(n);
    assert_non_null(p);
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    memset(p, 1, n);
    int mode = -1;
    nh_nodemask_t nodes;
    assert_int_equal(kernel_get_mempolicy(&mode, &nodes, p + n / 2, MPOL_F_ADDR), 0);
    assert_int_equal(mode, MPOL_INTERLEAVE); /* the kernel's word, not ours */
    assert_true(nh_nodemask_isset(&nodes, 0));
    int where[16];
    assert_int_equal(nh_pages_where(p, 16 * 4096, where, 16), 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(where[i], 0);
    nh_stats_t st;
    assert_int_equal(nh_stats(NH_NODE_INTERLEAVED, &st), 0);
    assert_true(st.allocated >= n);
    free(p);
    assert_int_equal(nh_stats(NH_NODE_INTERLEAVED, &st), 0);
    assert_true(st.allocated < n);
}

static void below_threshold_stays_on_node(void **s) {
    char *p = malloc(heap_large_threshold - 4096);
    p[0] = 1;
    assert_int_equal(nh_node_of(p), 0);
    free(p);
}

static void realloc_calloc_aligned_across_threshold(void **s) {
    char *p = malloc(1000);
    memset(p, 7, 1000);
    int home = nh_node_of(p);
    p = realloc(p, 100u << 20); /* grows past the threshold: an object keeps its node */
    assert_int_equal(nh_node_of(p), home);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(p[i], 7);
    p = realloc(p, 200u << 20);
    assert_int_equal(nh_node_of(p), home);
    assert_int_equal(p[999], 7);
    free(p);
    p = nh_malloc_onnode(32u << 20, 0); /* placed on a node: the node for its whole life */
    memset(p, 5, 32u << 20);
    p = realloc(p, 64u << 20);
    assert_int_equal(nh_node_of(p), 0);
    assert_int_equal(p[(32u << 20) - 1], 5);
    free(p);
    p = malloc(100u << 20); /* born large: interleaved, and stays so through realloc */
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    p = realloc(p, 150u << 20);
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    free(p);
    unsigned char *z = calloc(1000, 100000); /* 100 MB: large by product, not by factor */
    assert_int_equal(nh_node_of(z), NH_NODE_INTERLEAVED);
    for (size_t i = 0; i < 100000000; i += 4093)
        assert_int_equal(z[i], 0);
    free(z);
    void *a = aligned_alloc(1 << 21, 70u << 20);
    assert_int_equal((uintptr_t)a % (1 << 21), 0);
    assert_int_equal(nh_node_of(a), NH_NODE_INTERLEAVED);
    free(a);
    errno = 0;
    assert_null(calloc(SIZE_MAX / 2, 4)); /* overflow still ENOMEM through the large check */
    assert_int_equal(errno, ENOMEM);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stripe_weights_3_to_1),
        cmocka_unit_test(stripe_unweighted_and_ragged),
        cmocka_unit_test(stripe_runs_are_preferred_not_bound),
        cmocka_unit_test(large_objects_are_interleaved),
        cmocka_unit_test(below_threshold_stays_on_node),
        cmocka_unit_test(realloc_calloc_aligned_across_threshold),
    };
    return cmocka_run_group_tests_name("large", tests, NULL, NULL);
}
