/* The engine's fast paths, inline so malloc and free cost what jemalloc's own entry points
 * cost. Part of engine.c's responsibility: included by override.c and api.c only. */
#ifndef NH_ENGINE_FAST_H
#define NH_ENGINE_FAST_H

#include "alloc_internal.h"

#include <stddef.h>

void *nhje_malloc(size_t);
void *nhje_calloc(size_t, size_t);
void nhje_free(void *);

static inline void *engine_malloc_fast(size_t size) {
    return nhje_malloc(size);
}
static inline void *engine_calloc_fast(size_t n, size_t size) {
    return nhje_calloc(n, size);
}
static inline void engine_free_fast(void *p) {
    nhje_free(p);
}

/* free() for any pointer: the home-region test, then the thread cache or straight home. */
static inline void engine_free_any(void *p) {
    thread_state_t *ts = &nh_tls;
    if (NH_LIKELY((uintptr_t)p - ts->home_base < ts->home_size)) {
        engine_free_fast(p); /* ours, from this thread's node: into its cache */
    } else if (p) {
        /* other nodes' objects never enter this thread's cache */
        engine_free_remote(p, region_node_of(p));
    }
}

#endif
