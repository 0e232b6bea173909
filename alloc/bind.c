/* Bind over several nodes. The kernel's MPOL_BIND takes pages from the nearest node of its set
 * and then from the others of the set, never from outside it. numaheap's node regions are
 * strict under bind (region.c), so an exhausted home node fails the engine's allocation; the
 * request is then tried on the other bound nodes in the same order, and only when every one
 * is full does the caller see ENOMEM (where the kernel would call the OOM killer). A failure
 * is also where a cpuset that took the bound nodes away shows first: the cpuset is looked at
 * then, before anything else. */
#include "engine.h"

#include <errno.h>

void *bind_spill(size_t size, size_t align, bool zero, int failed) {
    if (!heap_bind || errno != ENOMEM) return NULL;
    /* A cpuset that has just taken the bound nodes away fails every commit there until the
     * next look at it (mems.c): look now, and allocate by what the policy means then. */
    unsigned epoch = __atomic_load_n(&mems_epoch, __ATOMIC_ACQUIRE);
    if (!mems_check() && __atomic_load_n(&mems_epoch, __ATOMIC_ACQUIRE) != epoch) {
        int home = nh_current_node(); /* this thread re-routed */
        if (!heap_bind) {             /* a static policy none of whose nodes is left: local */
            void *p = home >= 0 ? engine_malloc_node(size, align, zero, home) : NULL;
            return p ? p : (errno = ENOMEM, NULL);
        }
        failed = -2; /* no bound node has been tried yet */
    }
    errno = ENOMEM;
    int order[NH_MAX_SLOTS], from = failed >= 0 ? failed : nh_tls.home;
    int k = route_by_distance(from, &heap_policy_nodes, order, NH_MAX_SLOTS);
    for (int i = 0; i < k; i++) {
        if (order[i] == failed) continue; /* that is where the engine just failed */
        void *p = engine_malloc_node(size, align, zero, order[i]);
        if (p) return p;
    }
    errno = ENOMEM;
    return NULL;
}

void *bind_alloc_strict(size_t size, const nh_nodemask_t *set) {
    int order[NH_MAX_SLOTS];
    int k = route_by_distance(nh_current_node(), set, order, NH_MAX_SLOTS);
    for (int i = 0; i < k; i++) {
        void *p = nh_alloc_onnode(size, 0, order[i], NH_ALLOC_STRICT);
        if (p) return p;
        if (errno != ENOMEM) return NULL; /* EOPNOTSUPP: this kernel cannot enforce it */
    }
    errno = ENOMEM;
    return NULL;
}
