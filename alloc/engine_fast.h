/* The engine's fast paths, inline so malloc and free cost what jemalloc's own entry points
 * cost. Part of engine.c's responsibility: only override.c includes this. */
#ifndef NH_ENGINE_FAST_H
#define NH_ENGINE_FAST_H

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

#endif
