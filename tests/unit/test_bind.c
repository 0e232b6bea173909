/* Bind semantics inside the allocator, on a one-node host: which regions a bind policy makes
 * strict, the verify-and-undo path of a strict commit driven by fake OS hooks (a kernel that
 * reports pages on chosen nodes), the settings a bind policy implies, and MPOL_BIND's fallback
 * order over its set. The lab (tests/lab) proves the same on real multi-node kernels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <numaif.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc_internal.h"
#include "fake_topo.h"

/* ---- a fake kernel behind os_hooks ------------------------------------------------------ */
static struct {
    int page_node[64]; /* node the fake kernel reports per page of the region */
    int populated, dontneed, nohuge, protect_none, protect_rw;
    int nohuge_fixes; /* MADV_NOHUGEPAGE moves every page to node 1 (4 KiB pages fit there) */
    int binds, bind_mode[8];
    nh_nodemask_t bind_nodes[8];
    uintptr_t base;
} fk;

static int fake_protect(void *addr, size_t size, bool writable) {
    writable ? fk.protect_rw++ : fk.protect_none++;
    return 0;
}

static int fake_advise(void *addr, size_t size, int advice) {
    if (advice == MADV_DONTNEED) fk.dontneed++;
    if (advice == 23 /* MADV_POPULATE_WRITE */) fk.populated++;
    if (advice == MADV_NOHUGEPAGE) fk.nohuge++;
    for (int i = 0; advice == MADV_NOHUGEPAGE && fk.nohuge_fixes && i < 64; i++)
        fk.page_node[i] = 1;
    return 0;
}

static int fake_bind(void *addr, size_t size, int mode, const nh_nodemask_t *nodes) {
    if (fk.binds < 8) fk.bind_mode[fk.binds] = mode, fk.bind_nodes[fk.binds] = *nodes;
    fk.binds++;
    return 0;
}

static int fake_where(unsigned long count, void **pages, int *status) {
    for (unsigned long i = 0; i < count; i++)
        status[i] = fk.page_node[((uintptr_t)pages[i] - fk.base) / NH_PAGE];
    return 0;
}

static os_hooks_t saved_hooks;

/* A 64-page region of node (no memory behind it: the hooks never touch it). */
static region_t fake_region(int node, const nh_nodemask_t *bound) {
    memset(&fk, 0, sizeof fk);
    fk.base = 1ul << 40;
    region_t r = {
        .base = fk.base, .end = fk.base + 64 * NH_PAGE, .node = node, .explicit_commit = true};
    r.populate = region_strictness(false, bound, node, &r.verify_nodes);
    r.verify = r.populate;
    saved_hooks = os_hooks;
    os_hooks.protect = fake_protect;
    os_hooks.advise = fake_advise;
    os_hooks.where = fake_where;
    os_hooks.bind = fake_bind;
    return r;
}

static void restore_hooks(void) {
    os_hooks = saved_hooks;
}

static nh_nodemask_t mask_of(int a, int b) {
    nh_nodemask_t m;
    mask_zero(&m);
    if (a >= 0) nh_nodemask_set(&m, a);
    if (b >= 0) nh_nodemask_set(&m, b);
    return m;
}

/* ---- which regions are strict ----------------------------------------------------------- */
static void strictness_follows_bind_set(void **s) {
    nh_nodemask_t v, bound = mask_of(1, 3);
    assert_false(region_strictness(false, NULL, 0, &v)); /* default: first touch, no checks */
    assert_true(region_strictness(true, NULL, 0, &v));   /* NUMAHEAP_STRICT: every node */
    assert_true(mask_equal(&v, &(nh_nodemask_t){{1}}));
    assert_false(region_strictness(true, NULL, NH_NODE_INTERLEAVED, &v)); /* spread: unchecked */
    assert_false(region_strictness(false, &bound, 0, &v)); /* a node outside the bind set */
    assert_true(region_strictness(false, &bound, 3, &v));  /* a bound node: its own pages only */
    nh_nodemask_t three = mask_of(3, -1);
    assert_true(mask_equal(&v, &three));
    assert_true(region_strictness(false, &bound, NH_NODE_INTERLEAVED, &v)); /* large: the set */
    assert_true(mask_equal(&v, &bound));
}

/* ---- a strict commit: populate, verify, undo --------------------------------------------- */
static void bound_commit_all_on_node_succeeds(void **s) {
    nh_nodemask_t bound = mask_of(1, -1);
    region_t r = fake_region(1, &bound);
    for (int i = 0; i < 64; i++)
        fk.page_node[i] = 1;
    int e = region_commit(&r, (void *)(r.base + 8 * NH_PAGE), 16 * NH_PAGE);
    restore_hooks();
    assert_int_equal(e, 0);
    assert_int_equal(fk.populated, 1);
    assert_int_equal(fk.dontneed, 0);
    assert_int_equal(r.committed, 16 * NH_PAGE);
}

static void bound_commit_with_a_foreign_page_is_undone(void **s) {
    nh_nodemask_t bound = mask_of(1, -1);
    region_t r = fake_region(1, &bound);
    for (int i = 0; i < 64; i++)
        fk.page_node[i] = 1;
    fk.page_node[20] = 0; /* the node was full: the preferred policy put one page on node 0 */
    int e = region_commit(&r, (void *)(r.base + 8 * NH_PAGE), 16 * NH_PAGE);
    restore_hooks();
    assert_int_equal(e, ENOMEM);
    assert_int_equal(fk.populated, 2); /* tried again without huge pages */
    assert_int_equal(fk.nohuge, 1);
    assert_int_equal(fk.dontneed, 2);     /* nothing stays resident */
    assert_int_equal(fk.protect_none, 1); /* nor accessible */
    assert_int_equal(r.committed, 0);
    assert_int_equal(r.commit_failures, 1);
}

static void bound_commit_retried_without_huge_pages(void **s) {
    nh_nodemask_t bound = mask_of(1, -1);
    region_t r = fake_region(1, &bound);
    fk.nohuge_fixes = 1;
    for (int i = 0; i < 64; i++)
        fk.page_node[i] = i < 32 ? 1 : 0; /* a huge page's worth fell back to node 0 */
    int e = region_commit(&r, (void *)r.base, 64 * NH_PAGE);
    restore_hooks();
    assert_int_equal(e, 0);
    assert_int_equal(fk.nohuge, 1);
    assert_int_equal(r.committed, 64 * NH_PAGE);
}

/* bind:SET/balancing: populated under preferred (never faulted in under MPOL_BIND), then, once
 * verified, marked MPOL_BIND|MPOL_F_NUMA_BALANCING over the set; a refused commit is not. */
static void balancing_marks_verified_commits(void **s) {
    nh_nodemask_t bound = mask_of(1, 2);
    region_t r = fake_region(1, &bound);
    r.balancing = true;
    r.balance_nodes = bound;
    for (int i = 0; i < 64; i++)
        fk.page_node[i] = 1;
    int e = region_commit(&r, (void *)r.base, 8 * NH_PAGE);
    int binds = fk.binds, first = fk.bind_mode[0], second = fk.bind_mode[1];
    nh_nodemask_t marked = fk.bind_nodes[1];
    fk.binds = 0;
    fk.page_node[40] = 0;
    int e2 = region_commit(&r, (void *)(r.base + 32 * NH_PAGE), 16 * NH_PAGE);
    restore_hooks();
    assert_int_equal(e, 0);
    assert_int_equal(binds, 2);
    assert_int_equal(first, MPOL_PREFERRED);
    assert_int_equal(second, MPOL_BIND | (int)NH_MPOL_F_NUMA_BALANCING);
    assert_true(mask_equal(&marked, &bound));
    assert_int_equal(e2, ENOMEM);
    assert_int_equal(fk.binds, 1); /* preferred for the populate, no marking */
    assert_int_equal(fk.bind_mode[0], MPOL_PREFERRED);
}

static void unbound_region_is_not_checked(void **s) {
    nh_nodemask_t bound = mask_of(1, -1);
    region_t r = fake_region(0, &bound); /* node 0's region under bind:1 */
    for (int i = 0; i < 64; i++)
        fk.page_node[i] = 1;
    int e = region_commit(&r, (void *)r.base, 4 * NH_PAGE);
    restore_hooks();
    assert_int_equal(e, 0);
    assert_int_equal(fk.populated, 0);
}

static void large_region_checked_against_the_set(void **s) {
    nh_nodemask_t bound = mask_of(0, 1);
    region_t r = fake_region(NH_NODE_INTERLEAVED, &bound);
    for (int i = 0; i < 64; i++)
        fk.page_node[i] = i % 2;
    assert_int_equal(region_commit(&r, (void *)r.base, 32 * NH_PAGE), 0);
    fk.page_node[40] = 2; /* interleave fell back outside the bound set */
    assert_int_equal(region_commit(&r, (void *)(r.base + 32 * NH_PAGE), 32 * NH_PAGE), ENOMEM);
    restore_hooks();
    assert_int_equal(r.committed, 32 * NH_PAGE);
}

/* ---- settings a bind policy implies ------------------------------------------------------- */
static void bind_setting_forces_explicit_commit(void **s) {
    config_t c;
    char *env[] = {"NUMAHEAP_POLICY=bind:1", NULL};
    config_load(&c, env, &fake_topo);
    assert_int_equal(c.policy.mode, NH_MPOL_BIND);
    assert_true(c.explicit_commit); /* commits can be populated and verified */
    char *plain[] = {"NUMAHEAP_POLICY=preferred:1", NULL};
    config_load(&c, plain, &fake_topo);
    assert_false(c.explicit_commit && os_overcommit_mode() != 2);
}

/* A bind the process inherited (numactl --membind, a container) is bind too, flags included. */
static void inherited_bind_is_strict_with_its_flags(void **s) {
    topo_t t = fake_topo;
    t.inherited_mode = NH_MPOL_BIND;
    t.inherited_flags = NH_MPOL_F_RELATIVE_NODES;
    t.inherited_nodes = mask_of(0, -1);
    config_t c;
    char *env[] = {NULL};
    config_load(&c, env, &t);
    assert_int_equal(c.policy.mode, NH_MPOL_BIND);
    assert_int_equal(c.policy.flags, NH_MPOL_F_RELATIVE_NODES);
    assert_true(c.explicit_commit);
}

static void large_policy_outside_bind_set_refused(void **s) {
    config_t c;
    char *env[] = {"NUMAHEAP_POLICY=bind:1-2", "NUMAHEAP_LARGE_POLICY=interleave:0-1", NULL};
    config_load(&c, env, &fake_topo);
    assert_int_equal(c.large_policy.mode, NH_MPOL_INTERLEAVE);
    assert_true(mask_empty(&c.large_policy.nodes)); /* the default: the bound nodes (heap.c) */
    char *inside[] = {"NUMAHEAP_POLICY=bind:1-2", "NUMAHEAP_LARGE_POLICY=weighted:1=3,2=1", NULL};
    config_load(&c, inside, &fake_topo);
    assert_int_equal(c.large_policy.mode, NH_MPOL_WEIGHTED_INTERLEAVE);
    assert_int_equal(c.large_policy.weights[1], 3);
}

/* bind:N/balancing asks the kernel's NUMA balancing to act: on a kernel without the flag the
 * setting is refused (one warning) and the default stays. */
static void balancing_needs_the_kernel_flag(void **s) {
    nh_caps_t real = *kernel_caps(), old = real;
    old.numa_balancing = 0;
    kernel_caps_override(&old);
    config_t c;
    char *env[] = {"NUMAHEAP_POLICY=bind:1/balancing", NULL};
    config_load(&c, env, &fake_topo);
    kernel_caps_override(&real);
    assert_int_equal(c.policy.mode, NH_MPOL_LOCAL); /* the default */
    config_load(&c, env, &fake_topo);
    assert_int_equal(c.policy.mode, real.numa_balancing ? NH_MPOL_BIND : NH_MPOL_LOCAL);
}

/* ---- MPOL_BIND's order over its set -------------------------------------------------------- */
static void bind_order_is_nearest_first(void **s) {
    topo_t *t = (topo_t *)topo_get(); /* this host's, with the fake machine's distances */
    topo_t saved = *t;
    nh_nodemask_t saved_allowed = heap_allowed;
    memcpy(t->distance, fake_topo.distance, sizeof t->distance);
    heap_allowed = mask_of(0, 1); /* routing picks among the nodes the cpuset allows */
    nh_nodemask_set(&heap_allowed, 2);
    nh_nodemask_set(&heap_allowed, 3);
    nh_nodemask_t set = mask_of(0, 3);
    nh_nodemask_set(&set, 2);
    int order[8];
    int k = route_by_distance(3, &set, order, 8);      /* 3 itself, then 2 (21), then 0 (41) */
    int k1 = route_by_distance(1, &set, order + 3, 5); /* 0 and 2 at 21 (lower first), 3 at 31 */
    int nearest = route_nearest(0, &set);
    *t = saved;
    heap_allowed = saved_allowed;
    assert_int_equal(k, 3);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    assert_int_equal(k1, 3);
    assert_int_equal(order[3], 0);
    assert_int_equal(order[4], 2);
    assert_int_equal(order[5], 3);
    assert_int_equal(nearest, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strictness_follows_bind_set),
        cmocka_unit_test(bound_commit_all_on_node_succeeds),
        cmocka_unit_test(bound_commit_with_a_foreign_page_is_undone),
        cmocka_unit_test(bound_commit_retried_without_huge_pages),
        cmocka_unit_test(balancing_marks_verified_commits),
        cmocka_unit_test(unbound_region_is_not_checked),
        cmocka_unit_test(large_region_checked_against_the_set),
        cmocka_unit_test(bind_setting_forces_explicit_commit),
        cmocka_unit_test(inherited_bind_is_strict_with_its_flags),
        cmocka_unit_test(large_policy_outside_bind_set_refused),
        cmocka_unit_test(balancing_needs_the_kernel_flag),
        cmocka_unit_test(bind_order_is_nearest_first),
    };
    return cmocka_run_group_tests_name("bind", tests, fake_topo_group_setup,
                                       fake_topo_group_teardown);
}
