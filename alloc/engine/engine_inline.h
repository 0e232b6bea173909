/* Fast paths of numaheap's engine, inline in the malloc family: a pop from the size class's
 * cache of freed blocks, else from the class's current page, and a push onto that cache when
 * the freeing thread owns the segment. Everything else (routing, fresh pages, remote
 * frees, checks that failed) is out of line. The checks here are the cheap hardening: a free must
 * fall in our regions, on a block boundary of a carved block, and not on a block already marked
 * free. */
#ifndef NHE_ENGINE_INLINE_H
#define NHE_ENGINE_INLINE_H

#include "nhe.h"

NH_HIDDEN void *nhe_malloc_generic(size_t size, bool zero);
NH_HIDDEN void *nhe_overflow(void); /* calloc's n * size overflowed: NULL, ENOMEM, no retry */
NH_HIDDEN void nhe_free_slow(void *p);

/* The end of every owner's free: one block fewer in use; a page that empties (unless it is the
 * class's current one) or was parked full goes back to the front of its queue. */
static inline void nhe_owner_freed(segment_t *seg, page_t *pg) {
    /* none in use: a double free the mark could not see (a block whose memory trim gave back
     * reads 0), and taking one would borrow from reserved */
    if (NH_UNLIKELY((uint16_t)pg->counts == 0)) nhe_fatal("free(): double free detected", pg);
    uint32_t counts = pg->counts - 1; /* used - 1, as a word: see counts */
    NHE_STORE(pg->counts, counts);
    if (NH_UNLIKELY(((uint16_t)counts == 0 && !pg->is_cur) || pg->in_full))
        theap_free_local_slow(seg, pg);
}

/* A free onto the block's own page, no atomic instruction: onto the front of the list malloc
 * takes from once the page is current. */
static inline void nhe_free_local(segment_t *seg, page_t *pg, block_t *b) {
    b->next = nhe_encode(pg, pg->free);
    b->key = pg->key;
    pg->free = b;
    nhe_owner_freed(seg, pg);
}

/* The owner's free, no atomic instruction: onto the front of its heap's cache of the class,
 * which malloc takes from first (last in, first out, as glibc's and tcmalloc's thread caches
 * do), so the block is reused while its lines are still in the CPU's cache. b keeps its page's
 * free mark (key) while cached, so freeing it again fails the same test as a block free in its
 * page. A full cache (no room left), or the count of frees between looks at the clock run
 * out, takes the call. */
static inline void nhe_free_own(segment_t *seg, page_t *pg, block_t *b, uintptr_t key) {
    page_t *c = pg->cache;
    uint32_t counts = c->counts - NHE_COUNTS_ONE;
    if (NH_LIKELY(!(counts & NHE_COUNTS_OUT))) {
        b->next = nhe_encode(c, c->free);
        b->key = key;
        c->free = b;
        c->counts = counts;
        return;
    }
    theap_free_own(seg, pg, b);
}

static inline void *engine_malloc(size_t size) {
    page_t *c;
    if (NH_LIKELY(size <= DIRECT_MAX))
        c = nhe_tls.heap->direct[(size + 15) >> 4];
    else if (size <= __atomic_load_n(&nhe_fast_max, __ATOMIC_RELAXED)) /* tune.c changes it */
        c = &nhe_tls.heap->cache[nhe_bin_of(size)];
    else
        return nhe_malloc_generic(size, false);
    /* nhe_class_pop, spelled out so that every way out is a tail call: through its NULL the
     * compiler tested the slow path's result again on the way back */
    block_t *b = c->free;
    if (NH_LIKELY(b != NULL)) return nhe_page_pop(c, b);
    page_t *pg = c->next;
    if (pg->bitmap) {
        uint64_t bits = pg->free_bits;
        if (NH_LIKELY(bits != 0)) return nhe_bits_pop(pg, bits);
        return nhe_malloc_generic(size, false);
    }
    b = pg->free;
    if (NH_LIKELY(b != NULL)) return nhe_page_pop(pg, b);
    return nhe_malloc_generic(size, false);
}

static inline void *engine_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return nhe_overflow();
    if (NH_LIKELY(total <= DIRECT_MAX)) {
        void *p = nhe_class_pop(nhe_tls.heap->direct[(total + 15) >> 4]);
        if (NH_LIKELY(p != NULL)) {
            __builtin_memset(p, 0, total);
            return p;
        }
    }
    return nhe_malloc_generic(total, true);
}

/* The bitmap page's blocks already free: the owner's sets and other threads' frees waiting. */
static inline uint64_t nhe_free_set(page_t *pg) {
    return pg->local_bits | pg->free_bits | __atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED);
}

/* The owner's free of block i of a bitmap page: set its bit, unless it is free already. */
static inline void nhe_free_bits_local(segment_t *seg, page_t *pg, uint32_t i) {
    uint64_t bits = pg->local_bits, bit = nhe_bit(i);
    uintptr_t blk = nhe_block_at(pg, i);
    if (NH_UNLIKELY(nhe_free_set(pg) & bit)) nhe_fatal("free(): double free detected", (void *)blk);
    NHE_STORE(pg->local_bits, bits | bit);
    if (nhe_has_canary(pg)) {
        *(uintptr_t *)blk = nhe_canary(pg, blk);
        NHE_STORE(pg->canary_bits, pg->canary_bits | bit); /* see page_trimmed_bytes */
    }
    nhe_owner_freed(seg, pg);
}

static inline void engine_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    if (NH_LIKELY(a - region_map.base < region_map.size)) {
        segment_t *seg = nhe_seg_of(a);
        /* a segment-aligned address is a huge object with its header elsewhere */
        if (NH_LIKELY(a & SEG_MASK)) {
            page_t *pg = nhe_page_of(seg, a);
            block_t *b = (block_t *)p;
            uint32_t i = nhe_block_index(pg, a);
            if (NH_LIKELY(i != UINT32_MAX)) {
                /* ours, or another thread's block whose cookie proves the page record is ours */
                bool mine = NHE_LOAD(seg->owner) == nhe_tls.id;
                if (NH_LIKELY(mine || seg->cookie == ((uintptr_t)seg ^ nhe_secret))) {
                    if (pg->bitmap) {
                        if (!mine) {
                            theap_free_bits_remote(seg, pg, i);
                            return;
                        }
                        /* free in its page already: the slow path says so */
                        if (NH_UNLIKELY(nhe_free_set(pg) & nhe_bit(i))) {
                            nhe_free_slow(p);
                            return;
                        }
                    }
                    /* loaded once: the stores into b could alias it for all the compiler knows */
                    uintptr_t key = pg->key;
                    if (NH_LIKELY(!NHE_CHECKS || b->key != key)) {
                        if (NH_LIKELY(mine))
                            nhe_free_own(seg, pg, b, key);
                        else
                            theap_free_foreign(seg, pg, b);
                        return;
                    }
                }
            }
        }
    }
    nhe_free_slow(p);
}

/* operator delete with a size: the size can only be the object's or smaller, never more than
 * its block. A larger one is a delete through the wrong type. */
static inline void engine_free_sized(void *p, size_t size) {
    uintptr_t a = (uintptr_t)p;
    if (NH_LIKELY(a - region_map.base < region_map.size)) {
        segment_t *seg = nhe_seg_of(a);
        if ((a & SEG_MASK) && NH_UNLIKELY(size > nhe_page_of(seg, a)->block_size) &&
            seg->kind < SEG_HUGE)
            nhe_fatal("operator delete: size larger than the object", p);
    }
    engine_free(p);
}

#endif
