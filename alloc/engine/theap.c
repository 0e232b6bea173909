/* Thread heaps: one per (thread, node). A heap owns segments of its node, keeps per size class a
 * cache of freed blocks (the class's entry point for malloc, through the direct table for sizes
 * up to DIRECT_MAX) and a queue of pages whose first is the class's current page, and a list of
 * full pages. Remote frees into a full page flag the heap, which takes the page back the
 * next time it runs short. At thread exit (or when the thread moves to another node) a heap's
 * segments are abandoned to their node, and only a heap of the same node adopts them. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#define META_CHUNK  (1ul << 20)
#define SWEEP_CALLS 8  /* slow allocations between looks at the clock */
#define SEARCH_MAX  16 /* pages looked at before a fresh one is taken */
#define SWEEP_MS    500
/* the owner's frees into one class's cache between looks at the clock (theap_free_own): a
 * program whose allocations all come from its caches has no slow calls to look from */
#define FREE_TICKS 256u

static void sweep_due(heap_t *h);
#define CACHE_BYTES (1u << 20) /* a class's cache of freed blocks holds about this much */
#define CACHE_MAX   1024
_Static_assert(FREE_TICKS < 0x8000 && CACHE_MAX < 0x8000, "NHE_COUNTS_OUT: each half below 2^15");

__thread nhe_tls_t nhe_tls
    __attribute__((tls_model("initial-exec"))) = {.heap = &nhe_empty_heap, .id = THREAD_ID_NONE};
/* malloc's fast path finds no block in either, and the empty page leads back to itself */
page_t nhe_empty_page = {.next = &nhe_empty_page};
heap_t nhe_empty_heap = {.direct = {[0 ... NDIRECT - 1] = &nhe_empty_page},
                         .cache = {[0 ... NBINS - 1] = {.next = &nhe_empty_page}}};

static _Atomic int pool_lock;
static heap_t *heap_pool;
static tld_t *tld_pool;
static uintptr_t meta_next, meta_end;
static unsigned heaps_on_slot[NH_MAX_SLOTS];
static pthread_key_t exit_key;
static bool exit_key_made;

static void pool_acquire(void) {
    while (__atomic_exchange_n(&pool_lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&pool_lock, __ATOMIC_RELAXED))
            sched_yield();
}
static void pool_release(void) {
    __atomic_store_n(&pool_lock, 0, __ATOMIC_RELEASE);
}

void theap_fork_prepare(void) {
    pool_acquire();
    span_lock_all();
}
void theap_fork_parent(void) {
    span_unlock_all();
    pool_release();
}
void theap_fork_child(void) {
    span_unlock_all();
    pool_release();
}

/* Heaps and tlds come from their own mappings: never from a node region, never freed. */
static void *meta_alloc(size_t size) {
    size = (size + 63) & ~(size_t)63;
    if (meta_next + size > meta_end) {
        void *p = os_hooks.reserve(META_CHUNK, true);
        if (!p) return NULL;
        meta_next = (uintptr_t)p;
        meta_end = meta_next + META_CHUNK;
    }
    void *p = (void *)meta_next;
    meta_next += size;
    return p;
}

static void thread_exit(void *arg) {
    theap_thread_exit();
}

static tld_t *tld_get(void) {
    tld_t *t = nhe_tls.tld;
    if (NH_LIKELY(t != NULL)) return t;
    pool_acquire();
    if (!exit_key_made) {
        exit_key_made = pthread_key_create(&exit_key, thread_exit) == 0;
    }
    t = tld_pool;
    if (t)
        tld_pool = t->pool_next;
    else
        t = meta_alloc(sizeof *t);
    pool_release();
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->id = (uintptr_t)t;
    nhe_tls.tld = t;
    nhe_tls.id = t->id;
    if (exit_key_made) pthread_setspecific(exit_key, t);
    return t;
}

/* A class's cache limit: about CACHE_BYTES of blocks, at most CACHE_MAX, and none for the
 * blocks above MEDIUM_MAX (a handful would be megabytes; their canary needs them in the page) */
_Static_assert(CACHE_BYTES / MEDIUM_MAX >= 1, "every class up to MEDIUM_MAX has a cache of room");
static uint32_t cache_limit(unsigned bin) {
    if (bin == 0 || nhe_bin_size(bin) > MEDIUM_MAX) return 0;
    size_t n = CACHE_BYTES / nhe_bin_size(bin);
    return n > CACHE_MAX ? CACHE_MAX : (uint32_t)n;
}

static heap_t *heap_new(tld_t *t, int slot) {
    pool_acquire();
    heap_t *h = heap_pool;
    if (h)
        heap_pool = h->pool_next;
    else
        h = meta_alloc(sizeof *h);
    if (h) __atomic_fetch_add(&heaps_on_slot[slot], 1, __ATOMIC_RELAXED);
    pool_release();
    if (!h) return NULL;
    memset(h, 0, sizeof *h);
    /* index 0 (malloc(0)) is never direct: its slow path hands out a guard-page pointer */
    h->direct[0] = &nhe_empty_page;
    for (unsigned i = 1; i < NDIRECT; i++)
        h->direct[i] = &h->cache[nhe_bin_of(i * 16)];
    for (unsigned b = 0; b < NBINS; b++) {
        page_t *c = &h->cache[b];
        c->next = &nhe_empty_page;
        c->key = nhe_page_key(c);
        c->start = region_map.base;
        c->span = region_map.size;
        c->is_cache = 1;
        c->bin = (uint8_t)b;
        c->limit = cache_limit(b);
        c->counts = FREE_TICKS << 16 | (uint32_t)c->limit; /* room for limit blocks */
    }
    h->owner = t->id;
    h->last_sweep_ms = nh_clock_ms(); /* a short-lived thread never sweeps */
    h->node = region_map.slot_node[slot];
    h->region = region_of_node(h->node);
    return h;
}

heap_t *theap_for_slot(int slot) {
    tld_t *t = tld_get();
    if (!t) return NULL;
    heap_t *h = t->heaps[slot];
    if (NH_UNLIKELY(!h)) h = t->heaps[slot] = heap_new(t, slot);
    return h;
}

uint64_t theap_cached_bytes(int node) {
    int slot = heap_slot_of_node(node);
    tld_t *t = nhe_tls.tld;
    heap_t *h = t && slot >= 0 ? t->heaps[slot] : NULL;
    uint64_t bytes = 0;
    for (unsigned bin = 1; h && bin < NBINS; bin++)
        bytes += (uint64_t)(h->cache[bin].limit - h->cache[bin].used) * nhe_bin_size(bin);
    return bytes;
}

unsigned theap_count(int node) {
    int slot = heap_slot_of_node(node);
    return slot < 0 ? 0 : __atomic_load_n(&heaps_on_slot[slot], __ATOMIC_RELAXED);
}

/* ---- page queues ------------------------------------------------------------------------- */
static void pq_remove(page_queue_t *q, page_t *pg) {
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        q->first = pg->next;
    if (pg->next)
        pg->next->prev = pg->prev;
    else
        q->last = pg->prev;
    pg->next = pg->prev = NULL;
}
static void pq_push_front(page_queue_t *q, page_t *pg) {
    pg->prev = NULL;
    pg->next = q->first;
    if (q->first)
        q->first->prev = pg;
    else
        q->last = pg;
    q->first = pg;
}
static void pq_push_back(page_queue_t *q, page_t *pg) {
    pg->next = NULL;
    pg->prev = q->last;
    if (q->last)
        q->last->next = pg;
    else
        q->first = pg;
    q->last = pg;
}

/* The class's current page, which malloc takes from once the class's cache is empty: the first
 * of its queue, else the empty page (so malloc takes the slow path). */
static void set_current(heap_t *h, unsigned bin) {
    page_t *pg = h->bins[bin].first ? h->bins[bin].first : &nhe_empty_page;
    page_t *old = h->cache[bin].next;
    if (old != pg) { /* the flag lives in real pages only: the empty page is shared */
        if (old != &nhe_empty_page) old->is_cur = 0;
        if (pg != &nhe_empty_page) pg->is_cur = 1;
    }
    h->cache[bin].next = pg;
}

/* ---- segments of a heap ------------------------------------------------------------------ */
static segment_t **seg_list(heap_t *h, segment_t *s) {
    return s->used_pages == s->npages ? &h->segs_full : &h->avail[s->kind];
}
static void seg_unlink(segment_t **list, segment_t *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        *list = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
}
static void seg_link(segment_t **list, segment_t *s) {
    s->prev = NULL;
    s->next = *list;
    if (*list) (*list)->prev = s;
    *list = s;
}

/* A free segment goes back to the span cache. Found free by a thread starting or ending (hot),
 * it stays resident for the next thread to take as it is: purging it there made thread churn
 * 1.1-1.2 times slower. Found free by the sweep or a trim, its memory goes back now, in one call
 * rather than one per page. */
static void segment_release(segment_t *s, bool hot) {
    span_unregister(s);
    __atomic_store_n(&s->owner, 0, __ATOMIC_RELEASE);
    s->cookie = 0;
    span_free(s->region, nhe_seg_base(s), 1, hot);
}

static segment_t *segment_new(heap_t *h, uint32_t kind) {
    bool zero;
    uintptr_t a = span_alloc(h->region, 1, &zero);
    if (!a) return NULL;
    segment_t *s = nhe_seg_of(a);
    if (!zero) memset(s, 0, sizeof *s);
    s->cookie = (uintptr_t)s ^ nhe_secret;
    s->kind = kind;
    s->page_shift = kind == SEG_SMALL    ? SMALL_PAGE_SHIFT
                    : kind == SEG_MEDIUM ? MEDIUM_PAGE_SHIFT
                                         : LARGE_PAGE_SHIFT;
    s->npages = (uint32_t)(SEG_SIZE >> s->page_shift);
    s->nsegs = 1;
    s->node = h->node;
    s->region = h->region;
    s->span_base = a;
    __atomic_store_n(&s->heap, h, __ATOMIC_RELEASE);
    __atomic_store_n(&s->owner, h->owner, __ATOMIC_RELEASE);
    seg_link(&h->avail[kind], s);
    span_register(s);
    return s;
}

/* Frees a page slot of an owned (or exclusively held) segment and gives its memory back now,
 * not when the whole segment goes: a program whose classes peak at different times would
 * otherwise hold every class's peak, and one whose threads come and go would hold every exited
 * thread's pages in the segments that others adopt. False if the segment went too (released
 * as segment_release says for hot). */
static bool slot_free(heap_t *h, segment_t *s, page_t *pg, bool hot) {
    segment_t **from = h ? seg_list(h, s) : NULL;
    size_t idx = (size_t)(pg - s->pages);
    NHE_STORE(pg->in_use, 0);
    NHE_STORE(pg->capacity, 0);
    pg->free = NULL;
    pg->local_bits = 0;
    s->used_pages--;
    if (h) {
        seg_unlink(from, s);
        if (s->used_pages == 0) {
            segment_release(s, hot);
            return false;
        }
        seg_link(seg_list(h, s), s);
    }
    if (s->used_pages) { /* else the caller releases s, memory and all */
        uintptr_t lo = (nhe_slot_start(s, idx) + NH_PAGE - 1) & ~(NH_PAGE - 1);
        region_purge(s->region, (void *)lo, nhe_page_base(s, idx + 1) - lo, false);
    }
    return true;
}

static void page_release(heap_t *h, segment_t *s, page_t *pg) {
    NHE_DEBUG_CHECK(2, nhe_page_check(pg));
    page_queue_t *q = pg->in_full ? &h->full : &h->bins[pg->bin];
    bool was_first = q->first == pg;
    pq_remove(q, pg);
    if (was_first && !pg->in_full) set_current(h, pg->bin);
    pg->in_full = 0;
    slot_free(h, s, pg, false);
}

static page_t *page_fresh(heap_t *h, unsigned bin) {
    uint32_t kind = nhe_kind_of_bin(bin);
    segment_t *s = h->avail[kind];
    if (!s && !(s = segment_new(h, kind))) return NULL;
    page_t *pg = NULL;
    for (uint32_t i = 0; i < s->npages; i++)
        if (!s->pages[i].in_use) {
            pg = &s->pages[i];
            break;
        }
    if (!pg) nhe_fatal("heap corruption (segment page count)", s);
    seg_unlink(&h->avail[kind], s);
    s->used_pages++;
    seg_link(seg_list(h, s), s);
    page_init(s, pg, bin);
    pg->cache = &h->cache[bin];
    return pg;
}

/* ---- abandoning and adopting ------------------------------------------------------------- */
static void adopt_page(heap_t *h, page_t *pg) {
    pq_push_back(&h->bins[pg->bin], pg);
    if (h->bins[pg->bin].first == pg) set_current(h, pg->bin);
}

/* Takes s (exclusively held) over into h: its pages go into h's queues. */
static void adopt(heap_t *h, segment_t *s) {
    NHE_DEBUG_CHECK(2, nhe_segment_check(s));
    /* where the new owner's frees go, before it is the owner (a free from a signal handler) */
    for (uint32_t i = 0; i < s->npages; i++)
        if (s->pages[i].in_use) s->pages[i].cache = &h->cache[s->pages[i].bin];
    __atomic_store_n(&s->heap, h, __ATOMIC_RELEASE);
    __atomic_store_n(&s->owner, h->owner, __ATOMIC_RELEASE);
    s->next = s->prev = NULL;
    seg_link(seg_list(h, s), s);
    for (uint32_t i = 0; i < s->npages; i++) {
        page_t *pg = &s->pages[i];
        if (!pg->in_use) continue;
        pg->in_full = 0;
        pg->is_cur = 0; /* of the heap that left it */
        pg->sweep_mark = 0;
        page_clear_full(pg);
        page_collect(pg);
        if (pg->used) adopt_page(h, pg);
    }
    /* An empty page is kept, resident, only as the heap's first of its class, behind the
     * partly used ones: a thread that starts where one exited most likely runs what it did
     * (freeing every empty page here made thread churn several times slower), while more empty
     * pages of a class the heap already has would only wait for the sweep (larson's peak RSS
     * +20%). */
    for (uint32_t i = 0; i < s->npages; i++) {
        page_t *pg = &s->pages[i];
        if (!pg->in_use || pg->used) continue;
        if (!h->bins[pg->bin].first)
            adopt_page(h, pg);
        else if (!slot_free(h, s, pg, true))
            return;
    }
}

static bool adopt_one(heap_t *h) {
    segment_t *s = span_take_abandoned(h->region);
    if (!s) return false;
    adopt(h, s);
    return true;
}

/* What an exiting heap leaves resident for the thread that starts next, which most likely runs
 * what the last one did: one empty page of each class it had no live blocks of, and its first
 * segment found all empty. Giving every empty page back made thread churn 6 times slower,
 * every empty segment 1.1-1.2 times. */
typedef struct keep {
    uint64_t classes;
    bool segment;
} keep_t;

/* Collects an exclusively held segment's remote frees; false if it is now free and gone. Its
 * empty pages are freed and their memory given back, but for what keep (at abandon) still
 * allows keeping. */
static bool collect_detached(segment_t *s, keep_t *keep) {
    uint32_t empty = 0;
    for (uint32_t i = 0; i < s->npages; i++) {
        page_t *pg = &s->pages[i];
        if (!pg->in_use) continue;
        page_collect(pg);
        empty += pg->used == 0;
    }
    if (keep && !keep->segment && empty == s->used_pages) {
        keep->segment = true;
        segment_release(s, true);
        return false;
    }
    for (uint32_t i = 0; i < s->npages; i++) {
        page_t *pg = &s->pages[i];
        if (!pg->in_use || pg->used) continue;
        uint64_t bit = (uint64_t)1 << pg->bin;
        if (keep && !(keep->classes & bit))
            keep->classes |= bit;
        else
            slot_free(NULL, s, pg, false);
    }
    if (s->used_pages) return true;
    segment_release(s, false);
    return false;
}

static void abandon_segment(segment_t *s, keep_t *keep) {
    NHE_DEBUG_CHECK(2, nhe_segment_check(s));
    __atomic_store_n(&s->heap, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&s->owner, 0, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i < s->npages; i++) {
        page_t *pg = &s->pages[i];
        pg->next = pg->prev = NULL;
        pg->in_full = 0;
    }
    s->next = s->prev = NULL;
    if (collect_detached(s, keep)) span_abandon(s);
}

static void cache_flush_all(heap_t *h);

static void heap_abandon(heap_t *h, int slot) {
    cache_flush_all(h);
    segment_t *lists[4] = {h->avail[SEG_SMALL], h->avail[SEG_MEDIUM], h->avail[SEG_LARGE],
                           h->segs_full};
    /* no empty page is kept for a class the heap still has live blocks of: the thread that
     * adopts those pages has room there */
    keep_t keep = {0, false};
    for (unsigned bin = 1; bin < NBINS; bin++)
        for (page_t *pg = h->bins[bin].first; pg; pg = pg->next)
            if (pg->used) keep.classes |= (uint64_t)1 << bin;
    for (page_t *pg = h->full.first; pg; pg = pg->next)
        keep.classes |= (uint64_t)1 << pg->bin;
    for (int l = 0; l < 4; l++)
        for (segment_t *s = lists[l], *next; s; s = next) {
            next = s->next;
            abandon_segment(s, &keep);
        }
    pool_acquire();
    __atomic_fetch_sub(&heaps_on_slot[slot], 1, __ATOMIC_RELAXED);
    h->pool_next = heap_pool;
    heap_pool = h;
    pool_release();
}

void theap_collect_abandoned(region_t *r) {
    segment_t *left = NULL;
    for (segment_t *s; (s = span_take_abandoned(r));)
        if (collect_detached(s, NULL)) {
            s->next = left;
            left = s;
        }
    for (segment_t *s = left, *next; s; s = next) {
        next = s->next;
        span_abandon(s);
    }
}

void theap_thread_exit(void) {
    tld_t *t = nhe_tls.tld;
    if (!t) return;
    nhe_tls.heap = &nhe_empty_heap;
    for (int slot = 0; slot < NH_MAX_SLOTS; slot++)
        if (t->heaps[slot]) {
            heap_abandon(t->heaps[slot], slot);
            t->heaps[slot] = NULL;
        }
    nhe_tls.tld = NULL;
    nhe_tls.id = THREAD_ID_NONE;
    pool_acquire();
    t->pool_next = tld_pool;
    tld_pool = t;
    pool_release();
}

/* A thread moving to another node leaves its old home heap to that node. */
void theap_leave_slot(int slot) {
    tld_t *t = nhe_tls.tld;
    if (!t || slot < 0 || !t->heaps[slot]) return;
    if (nhe_tls.heap == t->heaps[slot]) nhe_tls.heap = &nhe_empty_heap;
    heap_abandon(t->heaps[slot], slot);
    t->heaps[slot] = NULL;
}

/* ---- allocation and free ----------------------------------------------------------------- */
static void unfull(heap_t *h, page_t *pg) {
    pq_remove(&h->full, pg);
    pg->in_full = 0;
    page_clear_full(pg);
    pq_push_back(&h->bins[pg->bin], pg);
    if (h->bins[pg->bin].first == pg) set_current(h, pg->bin);
}

static bool reclaim_full(heap_t *h) {
    if (!__atomic_load_n(&h->full_dirty, __ATOMIC_RELAXED) ||
        !__atomic_exchange_n(&h->full_dirty, 0, __ATOMIC_ACQ_REL))
        return false;
    bool any = false;
    for (page_t *pg = h->full.first, *next; pg; pg = next) {
        next = pg->next;
        if (__atomic_load_n(&pg->thread_free, __ATOMIC_ACQUIRE) & ~TF_FULL) {
            unfull(h, pg);
            any = true;
        }
    }
    return any;
}

/* Pushes a run of blocks of one page onto its thread_free list with one CAS. */
static void push_run(segment_t *s, page_t *pg, block_t *head, block_t *tail) {
    /* the heap is read before the push: once the blocks are published the owner may release
     * the segment. Heaps are never unmapped, so a stale one only gets a spurious flag. */
    heap_t *h = __atomic_load_n(&s->heap, __ATOMIC_ACQUIRE);
    uintptr_t old = __atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED);
    do {
        tail->next = nhe_encode(pg, (block_t *)(old & ~TF_FULL));
    } while (!__atomic_compare_exchange_n(&pg->thread_free, &old, (uintptr_t)head, true,
                                          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    /* the first free into a full page tells its heap */
    if ((old & TF_FULL) && h) __atomic_store_n(&h->full_dirty, 1, __ATOMIC_RELEASE);
}

/* A block of the heap's own back to its page (past the cache's limit, or flushed): onto the
 * page's free list or set. A bitmap block loses the free mark it carried while cached: a block
 * free in its bitmap page is known by its bit, and one handed out from there must not look
 * free. */
static void free_to_page(segment_t *s, page_t *pg, block_t *b) {
    if (pg->bitmap) {
        b->key = 0;
        nhe_free_bits_local(s, pg, nhe_block_index(pg, (uintptr_t)b));
    } else {
        nhe_free_local(s, pg, b);
    }
}

/* Empties a class's cache: the heap's own blocks back onto their pages, other heaps' home with
 * one CAS per run of blocks of one page. */
static void cache_flush(heap_t *h, unsigned bin) {
    page_t *c = &h->cache[bin];
    block_t *b = c->free;
    c->free = NULL;
    NHE_STORE(c->counts, (c->counts & 0xffff0000u) | (uint32_t)c->limit); /* used: see counts */
    page_t *run_pg = NULL;
    segment_t *run_seg = NULL;
    block_t *run_head = NULL, *run_tail = NULL;
    while (b) {
        block_t *next = nhe_next_checked(c, b);
        segment_t *s = nhe_seg_of((uintptr_t)b);
        page_t *pg = nhe_page_of(s, (uintptr_t)b);
        if (NHE_LOAD(s->owner) == h->owner) { /* its segment may have been adopted since */
            free_to_page(s, pg, b);
        } else if (pg != run_pg) {
            if (run_pg) push_run(run_seg, run_pg, run_head, run_tail);
            run_pg = pg, run_seg = s, run_head = run_tail = b;
        } else {
            run_tail->next = nhe_encode(pg, b);
            run_tail = b;
        }
        b = next;
    }
    if (run_pg) push_run(run_seg, run_pg, run_head, run_tail);
}

static void cache_flush_all(heap_t *h) {
    for (unsigned bin = 1; bin < NBINS; bin++)
        if (h->cache[bin].free) cache_flush(h, bin);
}

/* Onto the front of h's cache of pg's class (see nhe_free_own), which has room. */
static void cache_push(heap_t *h, page_t *pg, block_t *b) {
    page_t *c = &h->cache[pg->bin];
    b->next = nhe_encode(c, c->free);
    b->key = pg->key;
    c->free = b;
    NHE_STORE(c->counts, c->counts - 1); /* used - 1, as a word: see counts */
}

void theap_free_own(segment_t *s, page_t *pg, block_t *b) {
    page_t *c = pg->cache;
    if (c->ticks == 0) {
        /* b is live, so the sweep leaves its page in place; if its cache had room, b goes
         * there as it would have */
        c->counts = FREE_TICKS << 16 | c->used; /* one store of the word: see counts */
        heap_t *h = NHE_LOAD(s->heap);
        sweep_due(h);
        if (c->used != 0) {
            cache_push(h, pg, b);
            return;
        }
    }
    free_to_page(s, pg, b);
}

void theap_free_foreign(segment_t *s, page_t *pg, block_t *b) {
    heap_t *h = nhe_tls.heap;
    if (h == &nhe_empty_heap || s->node != h->node) { /* another node's: straight home */
        theap_free_remote(s, pg, b);
        return;
    }
    /* the cache holds blocks of other threads, which must go home now and then: a full one
     * sends them home first (a list page's class always has a cache: see cache_limit) */
    if (h->cache[pg->bin].used == 0) cache_flush(h, pg->bin);
    cache_push(h, pg, b);
}

void *theap_alloc_bin(heap_t *h, unsigned bin) {
    NHE_DEBUG_CHECK(3, (h->generic_calls % 16) ? (void)0 : nhe_heap_check(h)); /* sampled */
    page_t *c = &h->cache[bin];
    if (c->free) return nhe_page_pop(c, c->free);
    page_queue_t *q = &h->bins[bin];
    for (int pass = 0; pass < 3; pass++) {
        unsigned searched = 0;
        for (page_t *pg = q->first; pg && searched < SEARCH_MAX; searched++) {
            /* a bitmap page whose owner freed one block at most grows first: that block is
             * likely the one just freed, not to be the next one handed out */
            if (pg->bitmap && !pg->free_bits && pg->capacity < pg->reserved &&
                (pg->local_bits & (pg->local_bits - 1)) == 0)
                page_extend(pg);
            if (!pg->free) {
                page_collect(pg);
                if (!pg->free) page_relist_purged(pg);
                if (!pg->free && pg->capacity < pg->reserved) page_extend(pg);
            }
            if (pg->free) {
                NHE_DEBUG_CHECK(2, nhe_page_check(pg));
                pg->tried = 0;
                if (pg != q->first) {
                    pq_remove(q, pg);
                    pq_push_front(q, pg);
                }
                set_current(h, bin);
                return page_pop(pg);
            }
            page_t *next = pg->next;
            if (!pg->tried) { /* exhausted once: to the back, its blocks may come home soon */
                pg->tried = 1;
                if (next) {
                    pq_remove(q, pg);
                    pq_push_back(q, pg);
                }
                pg = next;
                continue;
            }
            if (!page_try_full(pg)) continue; /* remote frees just came: collect them */
            pq_remove(q, pg);
            pg->in_full = 1;
            pq_push_front(&h->full, pg);
            pg = next;
        }
        set_current(h, bin);
        if (!reclaim_full(h) && !adopt_one(h)) break;
    }
    page_t *pg = page_fresh(h, bin);
    if (!pg) return NULL;
    pq_push_front(q, pg);
    page_extend(pg);
    set_current(h, bin);
    return page_pop(pg);
}

void *theap_alloc(heap_t *h, size_t size, bool zero) {
    void *p;
    if (size <= LARGE_MAX) {
        p = theap_alloc_bin(h, nhe_bin_of(size));
        if (p && zero) memset(p, 0, size);
    } else {
        p = huge_alloc(h->region, size, 0, zero);
    }
    return p;
}

void theap_free_local_slow(segment_t *s, page_t *pg) {
    heap_t *h = s->heap;
    if (pg->in_full) unfull(h, pg);
    if (pg->used != 0) return;
    /* an empty page goes to the front, to be reused first; the sweep gives it back if it
     * stays empty */
    page_queue_t *q = &h->bins[pg->bin];
    if (q->first != pg) {
        pq_remove(q, pg);
        pq_push_front(q, pg);
        set_current(h, pg->bin);
    }
}

/* Every so often (by the clock, checked every SWEEP_CALLS slow allocations): pages found empty
 * by two sweeps in a row go back to their segments, so a heap holds what it uses. */
void theap_maybe_sweep(heap_t *h) {
    if (++h->generic_calls % SWEEP_CALLS) return;
    sweep_due(h);
}

static void sweep_due(heap_t *h) {
    uint64_t now = nh_clock_ms();
    if (now - h->last_sweep_ms < SWEEP_MS) return;
    h->last_sweep_ms = now;
    theap_collect_abandoned(h->region); /* remote frees into exited threads' segments */
    span_decay(h->region);
    /* cached blocks keep their pages from emptying: a class no longer used gives them back */
    cache_flush_all(h);
    for (unsigned bin = 1; bin < NBINS; bin++)
        for (page_t *pg = h->bins[bin].first, *next; pg; pg = next) {
            next = pg->next;
            page_collect(pg);
            if (pg->used) {
                /* a mostly free page left alone since the last sweep gives its free 4 KiB
                 * pages back, as malloc_trim would */
                if (pg->used == pg->sweep_used && pg->used < pg->capacity / 2)
                    page_trim(nhe_seg_of(pg->start), pg);
                pg->sweep_used = pg->used;
                pg->sweep_mark = 0;
            } else if (pg->sweep_mark) {
                page_release(h, nhe_seg_of(pg->start), pg);
            } else {
                pg->sweep_mark = 1;
            }
        }
}

void theap_free_bits_remote(segment_t *s, page_t *pg, uint32_t i) {
    uint64_t bit = nhe_bit(i);
    uintptr_t blk = nhe_block_at(pg, i);
    /* already free in the owner's set or cache: a double free, as far as this thread can see */
    if (((NHE_LOAD(pg->free_bits) | NHE_LOAD(pg->local_bits)) & bit) ||
        ((block_t *)blk)->key == pg->key)
        nhe_fatal("free(): double free detected", (void *)blk);
    heap_t *h = __atomic_load_n(&s->heap, __ATOMIC_ACQUIRE);         /* before: see push_run */
    if (nhe_has_canary(pg)) *(uintptr_t *)blk = nhe_canary(pg, blk); /* its bit: at collection */
    uintptr_t old = __atomic_fetch_or(&pg->thread_free, bit, __ATOMIC_ACQ_REL);
    if (old & bit) nhe_fatal("free(): double free detected", (void *)blk);
    if ((old & TF_FULL) && h) __atomic_store_n(&h->full_dirty, 1, __ATOMIC_RELEASE);
}

void theap_free_remote(segment_t *s, page_t *pg, block_t *b) {
    b->key = pg->key;
    push_run(s, pg, b, b);
}

size_t theap_trim_mine(void) {
    tld_t *t = nhe_tls.tld;
    size_t given = 0;
    if (!t) return 0;
    for (int slot = 0; slot < NH_MAX_SLOTS; slot++) {
        heap_t *h = t->heaps[slot];
        if (!h) continue;
        cache_flush_all(h);
        segment_t *lists[4] = {h->avail[SEG_SMALL], h->avail[SEG_MEDIUM], h->avail[SEG_LARGE],
                               h->segs_full};
        for (int l = 0; l < 4; l++)
            for (segment_t *s = lists[l]; s; s = s->next)
                for (uint32_t i = 0; i < s->npages; i++)
                    if (s->pages[i].in_use && !s->pages[i].in_full)
                        given += page_trim(s, &s->pages[i]);
        for (unsigned b = 1; b < NBINS; b++)
            set_current(h, b);
    }
    return given;
}
