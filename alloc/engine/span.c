/* Spans of whole segments, per region: carved from the region's bump pointer, returned to a
 * per-region cache when free, and reused from there best-fit (resident spans first, splitting a
 * larger one if needed). A huge object's span stays resident for the decay delay, so a program
 * that frees and allocates large objects reuses hot memory; after that it is purged
 * (MADV_DONTNEED, or decommitted under explicit commit) but kept for its address space. So does
 * a segment freed as a thread starts or exits, for the next thread; one the sweep or a trim
 * found free is purged as it comes back (its pages were reused one by one while it lived, not
 * the span at once). The cache also holds
 * the region's registry of live segments (statistics, trim) and its abandoned segments. */
#include "nhe.h"

#include <errno.h>
#include <sched.h>
#include <sys/mman.h>

#define SPANS_MAX      1024
#define RESIDENT_LIMIT (256ul << 20) /* cached resident bytes per region before early purge */

enum { SPAN_RESIDENT = 0, SPAN_PURGED = 1, SPAN_DECOMMITTED = 2 };

typedef struct span_entry {
    uintptr_t addr;
    uint32_t nsegs;
    uint32_t state;
    uint64_t freed_ms;
} span_entry_t;

typedef struct span_cache {
    _Atomic int lock;
    uint32_t n;
    size_t resident;
    uint64_t dropped; /* spans forgotten because the cache was full (address space only) */
    span_entry_t e[SPANS_MAX];
    segment_t *all;
    segment_t *abandoned;
    region_t *region; /* set on first use */
} span_cache_t;

static span_cache_t caches[NH_MAX_SLOTS + 1];
static uint64_t decay_ms;

static void lock(_Atomic int *l) {
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            sched_yield();
}
static void unlock(_Atomic int *l) {
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static span_cache_t *cache_of(region_t *r) {
    span_cache_t *c = &caches[(r->base - region_map.base) >> region_map.shift];
    if (NH_UNLIKELY(!c->region)) __atomic_store_n(&c->region, r, __ATOMIC_RELEASE);
    return c;
}

void span_init(size_t ms) {
    decay_ms = ms;
}

void span_lock_all(void) {
    for (int i = 0; i <= NH_MAX_SLOTS; i++)
        lock(&caches[i].lock);
}
void span_unlock_all(void) {
    for (int i = 0; i <= NH_MAX_SLOTS; i++)
        unlock(&caches[i].lock);
}

/* Gives a span's memory back to the kernel; the new state, or SPAN_RESIDENT if it could not. */
static uint32_t purge(region_t *r, uintptr_t addr, size_t size) {
    if (!r->explicit_commit && region_purge(r, (void *)addr, size, false) == 0) return SPAN_PURGED;
    if (r->explicit_commit && region_decommit(r, (void *)addr, size) == 0) return SPAN_DECOMMITTED;
    return SPAN_RESIDENT;
}

static void remove_at(span_cache_t *c, uint32_t i) {
    c->e[i] = c->e[--c->n];
}

/* Purges resident spans older than the decay delay, or the oldest ones while over the limit. */
static void decay(region_t *r, span_cache_t *c, uint64_t now, bool all) {
    for (uint32_t i = 0; i < c->n; i++) {
        span_entry_t *e = &c->e[i];
        if (e->state != SPAN_RESIDENT) continue;
        if (all || now - e->freed_ms >= decay_ms || c->resident > RESIDENT_LIMIT) {
            size_t size = (size_t)e->nsegs << SEG_SHIFT;
            e->state = purge(r, e->addr, size);
            if (e->state != SPAN_RESIDENT)
                __atomic_store_n(&c->resident, c->resident - size, __ATOMIC_RELAXED);
        }
    }
}

static void insert(region_t *r, span_cache_t *c, uintptr_t addr, uint32_t nsegs, uint32_t state,
                   uint64_t now);

/* A span whose commit failed: kept for its address space, to be committed when reused. */
static void put_decommitted(region_t *r, span_cache_t *c, uintptr_t addr, uint32_t nsegs) {
    lock(&c->lock);
    insert(r, c, addr, nsegs, SPAN_DECOMMITTED, 0);
    unlock(&c->lock);
}

uintptr_t span_alloc(region_t *r, uint32_t nsegs, bool *zero) {
    span_cache_t *c = cache_of(r);
    size_t size = (size_t)nsegs << SEG_SHIFT;
    uintptr_t addr = 0;
    uint32_t state = SPAN_PURGED;
    lock(&c->lock);
    int best = -1;
    for (uint32_t i = 0; i < c->n; i++) {
        span_entry_t *e = &c->e[i];
        if (e->nsegs < nsegs) continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        span_entry_t *b = &c->e[best];
        /* resident first (no faults), then the tightest fit */
        bool er = e->state == SPAN_RESIDENT, br = b->state == SPAN_RESIDENT;
        if (er != br ? er : e->nsegs < b->nsegs) best = (int)i;
    }
    if (best >= 0) {
        span_entry_t *e = &c->e[best];
        addr = e->addr;
        state = e->state;
        if (state == SPAN_RESIDENT)
            __atomic_store_n(&c->resident, c->resident - size, __ATOMIC_RELAXED);
        if (e->nsegs > nsegs) {
            e->addr += size;
            e->nsegs -= nsegs;
        } else {
            remove_at(c, (uint32_t)best);
        }
    }
    unlock(&c->lock);
    if (addr) {
        int e = state == SPAN_DECOMMITTED ? region_commit(r, (void *)addr, size) : 0;
        if (e) {
            nh_tls.last_errno = e;
            put_decommitted(r, c, addr, nsegs);
            return 0;
        }
        *zero = state != SPAN_RESIDENT;
        return addr;
    }
    bool z;
    void *p = region_span_alloc(r, NULL, size, SEG_SIZE, &z);
    if (!p) return 0;
    if (r->spread) {
        int e = large_bind(p, size);
        if (e && !r->bind_errno) r->bind_errno = e; /* first touch then, as for nodes */
    }
    int e = region_commit(r, p, size);
    if (e) {
        nh_tls.last_errno = e;
        put_decommitted(r, c, (uintptr_t)p, nsegs); /* the address space stays usable */
        return 0;
    }
    *zero = true;
    return (uintptr_t)p;
}

/* The state of two merged spans: decommitted wins (explicit commit keeps no mixed span), then
 * resident (reuse must not assume zero memory). */
static uint32_t merged_state(region_t *r, span_entry_t *e, uintptr_t addr, size_t size,
                             uint32_t state) {
    if (e->state == state) return state;
    if (e->state == SPAN_DECOMMITTED || state == SPAN_DECOMMITTED) {
        if (e->state != SPAN_DECOMMITTED)
            region_decommit(r, (void *)e->addr, (size_t)e->nsegs << SEG_SHIFT);
        else
            region_decommit(r, (void *)addr, size);
        return SPAN_DECOMMITTED;
    }
    return SPAN_RESIDENT;
}

/* Puts a span into the cache, merged with every neighbour whatever its state, so the address
 * space of freed spans always serves larger requests again. Called with the lock held. */
static void insert(region_t *r, span_cache_t *c, uintptr_t addr, uint32_t nsegs, uint32_t state,
                   uint64_t now) {
    size_t size = (size_t)nsegs << SEG_SHIFT;
    for (uint32_t i = 0; i < c->n;) {
        span_entry_t *e = &c->e[i];
        size_t esize = (size_t)e->nsegs << SEG_SHIFT;
        if (e->addr + esize == addr || addr + size == e->addr) {
            if (e->state == SPAN_RESIDENT)
                __atomic_store_n(&c->resident, c->resident - esize, __ATOMIC_RELAXED);
            state = merged_state(r, e, addr, size, state);
            if (e->addr < addr) addr = e->addr;
            size += esize;
            nsegs += e->nsegs;
            remove_at(c, i);
            continue;
        }
        i++;
    }
    if (c->n == SPANS_MAX) { /* many disjoint holes: purge the oldest resident, else give up one */
        uint32_t victim = 0;
        for (uint32_t i = 1; i < c->n; i++)
            if (c->e[i].freed_ms < c->e[victim].freed_ms) victim = i;
        if (c->e[victim].state == SPAN_RESIDENT) {
            size_t vs = (size_t)c->e[victim].nsegs << SEG_SHIFT;
            purge(r, c->e[victim].addr, vs);
            __atomic_store_n(&c->resident, c->resident - vs, __ATOMIC_RELAXED);
        }
        remove_at(c, victim);
        c->dropped++;
    }
    c->e[c->n++] = (span_entry_t){addr, nsegs, state, now};
    if (state == SPAN_RESIDENT)
        __atomic_store_n(&c->resident, c->resident + size, __ATOMIC_RELAXED);
}

void span_free(region_t *r, uintptr_t addr, uint32_t nsegs, bool keep_hot) {
    span_cache_t *c = cache_of(r);
    uint32_t state = keep_hot ? SPAN_RESIDENT : purge(r, addr, (size_t)nsegs << SEG_SHIFT);
    uint64_t now = nh_clock_ms();
    lock(&c->lock);
    insert(r, c, addr, nsegs, state, now);
    decay(r, c, now, decay_ms == 0);
    unlock(&c->lock);
}

void span_decay(region_t *r) {
    span_cache_t *c = cache_of(r);
    if (!__atomic_load_n(&c->resident, __ATOMIC_RELAXED)) return;
    lock(&c->lock);
    decay(r, c, nh_clock_ms(), false);
    unlock(&c->lock);
}

size_t span_trim(void) {
    size_t given = 0;
    for (int i = 0; i <= NH_MAX_SLOTS; i++) {
        span_cache_t *c = &caches[i];
        region_t *r = __atomic_load_n(&c->region, __ATOMIC_ACQUIRE);
        if (!r) continue;
        lock(&c->lock);
        size_t before = c->resident;
        decay(r, c, nh_clock_ms(), true);
        given += before - c->resident;
        unlock(&c->lock);
    }
    return given;
}

size_t span_cached_resident(region_t *r) {
    return __atomic_load_n(&cache_of(r)->resident, __ATOMIC_RELAXED);
}

void span_register(segment_t *seg) {
    span_cache_t *c = cache_of(seg->region);
    lock(&c->lock);
    seg->all_prev = NULL;
    seg->all_next = c->all;
    if (c->all) c->all->all_prev = seg;
    c->all = seg;
    unlock(&c->lock);
}

void span_unregister(segment_t *seg) {
    span_cache_t *c = cache_of(seg->region);
    lock(&c->lock);
    if (seg->all_prev)
        seg->all_prev->all_next = seg->all_next;
    else
        c->all = seg->all_next;
    if (seg->all_next) seg->all_next->all_prev = seg->all_prev;
    unlock(&c->lock);
}

void span_each_segment(region_t *r, void (*fn)(segment_t *, void *), void *arg) {
    span_cache_t *c = cache_of(r);
    lock(&c->lock);
    for (segment_t *s = c->all; s; s = s->all_next)
        fn(s, arg);
    unlock(&c->lock);
}

void span_abandon(segment_t *seg) {
    span_cache_t *c = cache_of(seg->region);
    lock(&c->lock);
    seg->prev = NULL;
    seg->next = c->abandoned;
    __atomic_store_n(&c->abandoned, seg, __ATOMIC_RELAXED); /* peeked at without the lock */
    unlock(&c->lock);
}

segment_t *span_take_abandoned(region_t *r) {
    span_cache_t *c = cache_of(r);
    if (!__atomic_load_n(&c->abandoned, __ATOMIC_RELAXED)) return NULL;
    lock(&c->lock);
    segment_t *s = c->abandoned;
    if (s) __atomic_store_n(&c->abandoned, s->next, __ATOMIC_RELAXED);
    unlock(&c->lock);
    return s;
}
