/* Fast paths of the jemalloc engine, inline so malloc and free cost what jemalloc's own entry
 * points cost plus the routing budget and the home-region test. */
#ifndef NH_JE_ENGINE_INLINE_H
#define NH_JE_ENGINE_INLINE_H

#include "alloc_internal.h"

/* realloc and the aligned calls count towards the routing check as one small allocation: their
 * sizes say nothing about how often the thread should look (realloc growth would check on
 * every step), and they test for large objects explicitly. */
#define ROUTE_NOMINAL_CHARGE 64

void *nhje_malloc(size_t);
void *nhje_calloc(size_t, size_t);
void nhje_free(void *);
NH_HIDDEN void *je_malloc_slow(size_t size);
NH_HIDDEN void *je_calloc_slow(size_t n, size_t size);
NH_HIDDEN void je_free_remote(void *p, int node); /* bypasses the thread cache */

/* jemalloc sets errno itself; under bind a failure goes on to the other bound nodes */
static inline void *engine_malloc(size_t size) {
    void *p = route_charge(size) ? je_malloc_slow(size) : nhje_malloc(size);
    return NH_LIKELY(p != NULL) ? p : bind_spill(size, 0, false, bind_failed_node(size));
}

static inline void *engine_calloc(size_t n, size_t size) {
    size_t total;
    bool overflow = __builtin_mul_overflow(n, size, &total);
    /* overflow ends in je_calloc_slow too: jemalloc's ENOMEM */
    void *p =
        route_charge(overflow ? SIZE_MAX : total) ? je_calloc_slow(n, size) : nhje_calloc(n, size);
    if (NH_LIKELY(p != NULL) || overflow) return p;
    return bind_spill(total, 0, true, bind_failed_node(total));
}

/* The home-region test, then the thread cache or straight home. */
static inline void engine_free(void *p) {
    thread_state_t *ts = &nh_tls;
    if (NH_LIKELY((uintptr_t)p - ts->home_base < ts->home_size)) {
        nhje_free(p); /* ours, from this thread's node: into its cache */
    } else if (p) {
        /* other nodes' objects never enter this thread's cache */
        je_free_remote(p, region_node_of(p));
    }
}

static inline void engine_free_sized(void *p, size_t size) {
    engine_free(p); /* jemalloc finds the size itself; no check here */
}

#endif
