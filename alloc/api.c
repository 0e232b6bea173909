/* The explicit node API of include/numaheap.h: allocation on a node or by policy, where an
 * object's pages are, thread binding, statistics. */
#include "alloc_internal.h"
#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAGES_BATCH 512

/* A node with a heap that the cpuset allows now (mbind refuses others with EINVAL too). */
static bool node_ok(int node) {
    return heap_ready() && heap_slot_of_node(node) >= 0 && nh_nodemask_isset(&heap_allowed, node);
}

void *nh_alloc_onnode(size_t size, size_t alignment, int node, unsigned flags) {
    if ((alignment & (alignment - 1)) || (flags & ~(NH_ALLOC_ZERO | NH_ALLOC_STRICT)))
        return errno = EINVAL, NULL;
    if (!node_ok(node)) return errno = EINVAL, NULL;
    repair_poll(); /* a program that allocates only here starts the repairer too */
    void *p = engine_malloc_node(size, alignment, flags & NH_ALLOC_ZERO, node);
    if (p && (flags & NH_ALLOC_STRICT)) {
        int e = migrate_make_resident(p, size ? size : 1, node);
        if (e) {
            nh_free(p);
            return errno = e, NULL;
        }
    }
    return p;
}

void *nh_malloc_onnode(size_t size, int node) {
    return nh_alloc_onnode(size, 0, node, 0);
}

void *nh_calloc_onnode(size_t n, size_t size, int node) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return errno = ENOMEM, NULL;
    return nh_alloc_onnode(total, 0, node, NH_ALLOC_ZERO);
}

void *nh_aligned_alloc_onnode(size_t alignment, size_t size, int node) {
    if (!alignment) return errno = EINVAL, NULL; /* here 0 is an error, not "malloc's" */
    return nh_alloc_onnode(size, alignment, node, 0);
}

/* The next node of a rotation over p's nodes, each taken weight times (1 when unweighted). */
static int rotate(const nh_policy_t *p) {
    static __thread unsigned turn;
    unsigned total = 0;
    for (int n = mask_next(&p->nodes, 0); n >= 0; n = mask_next(&p->nodes, n + 1))
        total += p->weights[n] ? p->weights[n] : 1;
    unsigned k = total ? turn++ % total : 0;
    for (int n = mask_next(&p->nodes, 0); n >= 0; n = mask_next(&p->nodes, n + 1)) {
        unsigned w = p->weights[n] ? p->weights[n] : 1;
        if (k < w) return n;
        k -= w;
    }
    return -1;
}

void *nh_malloc_policy(size_t size, const nh_policy_t *p) {
    if (!p || policy_validate(p, topo_get(), NULL)) return errno = EINVAL, NULL;
    heap_ready();      /* heap_allowed below: empty if the heap could not start */
    nh_nodemask_t set; /* relative nodes mapped, allowed heap nodes only */
    policy_effective_nodes(p, &heap_allowed, &set);
    if (!mask_empty(&p->nodes) && mask_empty(&set)) return errno = EINVAL, NULL;
    int node = -1;
    switch (p->mode) {
    case NH_MPOL_INTERLEAVE:
    case NH_MPOL_WEIGHTED_INTERLEAVE:
        node = rotate(p);
        break;
    case NH_MPOL_BIND: /* never another node's pages: resident and checked, or ENOMEM */
        return bind_alloc_strict(size, &set);
    case NH_MPOL_PREFERRED:
    case NH_MPOL_PREFERRED_MANY:
        if (!mask_empty(&set)) {
            node = route_nearest(nh_current_node(), &set);
            break;
        }
        __attribute__((fallthrough));
    default:
        return malloc(size);
    }
    return nh_malloc_onnode(size, node);
}

void nh_free(void *p) {
    engine_free(p); /* not free(): the TSan build has no override and keeps its own */
}

int nh_node_of(const void *p) {
    return p ? region_node_of(p) : -1;
}

long nh_pages_where(const void *p, size_t len, int *nodes, size_t max) {
    if (!p || !nodes || !max) return errno = EINVAL, -EINVAL;
    uintptr_t first = (uintptr_t)p & ~(NH_PAGE - 1), end;
    if (__builtin_add_overflow((uintptr_t)p, len, &end) || len == 0) return errno = EINVAL, -EINVAL;
    size_t npages = (end - first + NH_PAGE - 1) / NH_PAGE;
    if (npages > max) npages = max;
    void *batch[PAGES_BATCH];
    for (size_t done = 0; done < npages;) {
        size_t k = npages - done < PAGES_BATCH ? npages - done : PAGES_BATCH;
        for (size_t i = 0; i < k; i++)
            batch[i] = (void *)(first + (done + i) * NH_PAGE);
        int e = kernel_move_pages(k, batch, NULL, nodes + done, 0);
        if (e) return errno = e, -e;
        done += k;
    }
    return (long)npages;
}

int nh_thread_bind(int node) {
    int e = route_bind(node);
    return e ? (errno = e, -e) : 0;
}

int nh_thread_unbind(void) {
    return -route_unbind();
}

int nh_heap_policy(nh_policy_t *small, nh_policy_t *large) {
    if (!heap_ready()) return errno = EAGAIN, -EAGAIN;
    mems_reported(small, large);
    return 0;
}

int nh_current_node(void) {
    return heap_ready() ? route_current_node() : -1;
}

int nh_stats(int node, nh_stats_t *out) {
    int e = out ? stats_node(node, out) : EINVAL;
    return e ? (errno = e, -e) : 0;
}
