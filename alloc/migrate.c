/* Audit and repair of placement, and explicit migration, with move_pages: the kernel says
 * where each page is (a NULL node list), and moves pages when given one. Pages that ended up on
 * the wrong node (a preferred region's fallback when its node was full, or a migration) are
 * found by scanning each node region's used part in batches and moved home; a page the kernel
 * cannot move (home node still full) is counted, never lost. */
#include "alloc_internal.h"

#include <errno.h>
#include <numaif.h>

#define BATCH 512

typedef struct scan {
    void *pages[BATCH];
    int status[BATCH];
    int nodes[BATCH];
} scan_t;

int migrate_range(uintptr_t first, uintptr_t end, int node, uint64_t max_move,
                  nh_repair_report_t *rep) {
    scan_t s;
    for (uintptr_t a = first; a < end;) {
        unsigned long n = 0;
        for (; n < BATCH && a < end; a += NH_PAGE)
            s.pages[n++] = (void *)a;
        int e = os_hooks.where(n, s.pages, s.status);
        if (e) return e;
        unsigned long k = 0; /* the misplaced ones, compacted to the front */
        for (unsigned long i = 0; i < n; i++) {
            if (s.status[i] < 0) continue; /* not resident (-ENOENT) or unmapped */
            rep->pages_checked++;
            if (s.status[i] == node) continue;
            rep->pages_misplaced++;
            s.pages[k] = s.pages[i];
            s.nodes[k++] = node;
        }
        if (k > max_move) k = (unsigned long)max_move; /* the rest stays counted misplaced */
        if (!k) continue;
        max_move -= k;
        for (unsigned long i = 0; i < k; i++)
            s.status[i] = -EAGAIN; /* "not moved" until told */
        e = os_hooks.move(k, s.pages, s.nodes, s.status);
        if (e && e != ENOENT && e != ENOMEM && e != EBUSY) return e; /* per-page results below */
        /* a page busy at that moment (one split out of a transparent huge page, say) usually
         * moves on a second try */
        for (int retry = 0; retry < 3; retry++) {
            unsigned long b = 0;
            for (unsigned long i = 0; i < k; i++)
                if (s.status[i] == -EBUSY || s.status[i] == -EAGAIN) b++;
            if (!b) break;
            for (unsigned long i = 0; i < k; i++) {
                if (s.status[i] != -EBUSY && s.status[i] != -EAGAIN) continue;
                int one = -EAGAIN;
                if (os_hooks.move(1, &s.pages[i], &s.nodes[i], &one) == 0 || one >= 0)
                    s.status[i] = one;
            }
        }
        for (unsigned long i = 0; i < k; i++) {
            if (s.status[i] == node)
                rep->pages_moved++;
            else
                rep->pages_failed++;
        }
    }
    return 0;
}

static int repair_node(int node, bool move, nh_repair_report_t *rep) {
    region_t *r = region_of_node(node);
    /* a node the cpuset does not allow takes no pages (move_pages: EACCES) */
    if (!r || !nh_nodemask_isset(&heap_allowed, node)) return EINVAL;
    if (r->bind_errno) return r->bind_errno; /* first touch: no home to enforce */
    return migrate_range(r->base, __atomic_load_n(&r->next, __ATOMIC_ACQUIRE), node,
                         move ? UINT64_MAX : 0, rep);
}

int nh_repair(int node, int move, nh_repair_report_t *out) {
    if (!out || !heap_ready()) return errno = EINVAL, -EINVAL;
    nh_repair_report_t rep = {0};
    int e = 0;
    if (node == -1) {
        for (int n = mask_next(&heap_allowed, 0); n >= 0 && !e; n = mask_next(&heap_allowed, n + 1))
            e = repair_node(n, move, &rep);
    } else {
        e = heap_slot_of_node(node) < 0 ? EINVAL : repair_node(node, move, &rep);
    }
    *out = rep;
    return e ? (errno = e, -e) : 0;
}

int migrate_make_resident(void *p, size_t len, int node) {
    uintptr_t first = (uintptr_t)p & ~(NH_PAGE - 1);
    uintptr_t end = ((uintptr_t)p + len + NH_PAGE - 1) & ~(NH_PAGE - 1);
    /* populating writes nothing: pages shared with neighbouring objects keep their bytes */
    int e = os_populate((void *)first, end - first);
    if (e) return e == EINVAL || e == EOPNOTSUPP ? EOPNOTSUPP : ENOMEM;
    nh_repair_report_t rep = {0};
    e = migrate_range(first, end, node, UINT64_MAX, &rep);
    if (e) return e;
    return rep.pages_failed || rep.pages_checked != (end - first) / NH_PAGE ? ENOMEM : 0;
}

long nh_migrate(void *p, size_t len, int node) {
    uintptr_t end;
    if (!p || !len || __builtin_add_overflow((uintptr_t)p, len, &end) || !heap_ready())
        return errno = EINVAL, -EINVAL;
    /* numaheap's memory only, all of it in one region */
    int home = region_node_of(p);
    if (home == -1 || region_node_of((void *)(end - 1)) != home) return errno = EINVAL, -EINVAL;
    if (heap_slot_of_node(node) < 0 || !nh_nodemask_isset(&heap_allowed, node))
        return errno = EINVAL, -EINVAL;
    nh_repair_report_t rep = {0};
    int e = migrate_range((uintptr_t)p & ~(NH_PAGE - 1), end, node, UINT64_MAX, &rep);
    if (e) return errno = e, -e;
    return (long)(rep.pages_checked - rep.pages_failed);
}
