/* The engine contract: what numaheap asks of the code that hands out memory. Two engines
 * implement it, chosen at build time (cmake -DNH_ENGINE=numaheap|jemalloc): numaheap's own
 * (alloc/engine/) and the embedded jemalloc kept as the reference (alloc/jemalloc/). Each keeps
 * its per-thread state private. The fast paths are inline, from the engine's engine_inline.h,
 * so malloc and free cost only what the engine costs.
 *
 * Every allocating function returns NULL with errno set on failure. Memory of a node's region
 * is handed out again only for that node. An object keeps the node it was placed on for its
 * whole life, through every realloc; objects malloc'd at or above heap_large_threshold live in
 * the large (interleaved) region. */
#ifndef NH_ENGINE_H
#define NH_ENGINE_H

#include "alloc_internal.h"

/* After regions_init: set up per-node state, thread-exit and fork handlers. 0 or errno. */
NH_HIDDEN int engine_init(const config_t *c, const nh_nodemask_t *nodes);

/* Inline in engine_inline.h:
 *   void *engine_malloc(size_t size);            malloc: routing and large objects included
 *   void *engine_calloc(size_t n, size_t size);  calloc: overflow is ENOMEM
 *   void engine_free(void *p);                   any pointer, NULL included
 *   void engine_free_sized(void *p, size_t n);   operator delete with a size: may check n
 * engine_malloc's and engine_calloc's NULL is final: under bind, a request that failed on its
 * node has been tried on the other bound nodes already (bind_spill), so malloc's fast path
 * returns straight through. */

/* align is a power of two; size may be 0. */
NH_HIDDEN void *engine_aligned(size_t align, size_t size);
/* p is the engine's, size > 0; the result stays on p's node (or in the large region). */
NH_HIDDEN void *engine_realloc(void *p, size_t size);
NH_HIDDEN size_t engine_usable_size(const void *p);
/* The node API: on node's region whatever the size; align 0 or a power of two. */
NH_HIDDEN void *engine_malloc_node(size_t size, size_t align, bool zero, int node);
/* Route's decision: the calling thread now allocates on node. 0 or errno. */
NH_HIDDEN int engine_attach(int node);
/* The calling thread's most recently used memory on node's region (the pages it allocates
 * from now), at most max page-aligned ranges into start/len; returns how many. An engine that
 * cannot tell reports none. */
NH_HIDDEN int engine_hot_ranges(int node, uintptr_t *start, size_t *len, int max);
/* Gives free memory back to the kernel now; true if any was. */
NH_HIDDEN bool engine_trim(void);
/* Adds node's figures (NH_NODE_INTERLEAVED: the large region) to out. 0 or errno. */
NH_HIDDEN int engine_node_stats(int node, nh_stats_t *out);
NH_HIDDEN const char *engine_name(void);
/* Changes at run time (mallopt, nh_ctl; tune.c). heap_large_threshold has a new value: the
 * inline paths follow it from now on. */
NH_HIDDEN void engine_large_threshold_changed(void);
/* Freed memory stays resident ms milliseconds before it is given back (NUMAHEAP_DECAY_MS). 0,
 * or EOPNOTSUPP for an engine without such a delay. */
NH_HIDDEN int engine_set_decay(unsigned ms);

#include "engine_inline.h"

#endif
