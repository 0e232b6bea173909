/* numaheap's own engine behind alloc/engine.h: the out-of-line halves of malloc and free, the
 * node API, realloc, statistics and trim, and the checks a free must pass. Before
 * initialisation is done (the initialising thread's own nested calls), or if it failed,
 * allocations come from a small bootstrap area and then plain mappings, both freed safely. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define BOOT_SIZE   (256u << 10)
#define ZERO_HEADER SMALL_HEADER                    /* the header, at its color, stays accessible */
#define ZERO_SLOTS  ((SEG_SIZE - ZERO_HEADER) / 16) /* distinct malloc(0) pointers per node */
#define BOOT_MAGIC  0x6e68626f6f74ull               /* "nhboot" */

uintptr_t nhe_secret;
size_t nhe_fast_max; /* 0 until init: everything takes the slow path */
uint32_t nhe_bin_size_k[NBINS];

static _Alignas(64) char boot_area[BOOT_SIZE];
static uintptr_t zero_seg[NH_MAX_SLOTS]; /* per node: a header page, then no access at all */
static _Atomic uintptr_t zero_next;
static _Atomic size_t boot_used;

typedef struct boot_header {
    size_t size;
    uint64_t magic; /* BOOT_MAGIC ^ size */
} boot_header_t;

static size_t boot_need(size_t size) {
    return ((size + 15) & ~(size_t)15) + sizeof(boot_header_t);
}
static size_t boot_map_size(size_t size) {
    return (boot_need(size) + NH_PAGE - 1) & ~(NH_PAGE - 1);
}

const char *engine_name(void) {
    return "numaheap";
}

static void fork_prepare(void) {
    theap_fork_prepare();
}
static void fork_parent(void) {
    theap_fork_parent();
}
static void fork_child(void) {
    theap_fork_child();
}

/* malloc(0) returns a distinct pointer into a segment of the home node whose memory after the
 * header page is inaccessible: a read or write through it faults at once, where a real block
 * would let it touch a neighbour. The header makes it a segment like any other for free. */
static void zero_init(const nh_nodemask_t *nodes) {
    for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1)) {
        int slot = heap_slot_of_node(n);
        region_t *r = region_of_node(n);
        bool fresh;
        uintptr_t a = slot >= 0 && r ? span_alloc(r, 1, &fresh) : 0;
        if (!a) continue;
        segment_t *s = nhe_seg_of(a);
        memset(s, 0, offsetof(segment_t, pages));
        s->cookie = (uintptr_t)s ^ nhe_secret;
        s->kind = SEG_ZERO;
        s->page_shift = HUGE_PAGE_SHIFT;
        s->npages = 1;
        s->nsegs = 1;
        s->node = n;
        s->region = r;
        os_hooks.advise((void *)(a + ZERO_HEADER), SEG_SIZE - ZERO_HEADER, MADV_DONTNEED);
        if (os_hooks.protect((void *)(a + ZERO_HEADER), SEG_SIZE - ZERO_HEADER, false) == 0)
            zero_seg[slot] = a;
    }
}

static void *zero_alloc(int node) {
    int slot = heap_slot_of_node(node);
    if (slot < 0 || !zero_seg[slot]) return NULL;
    uintptr_t k = __atomic_fetch_add(&zero_next, 1, __ATOMIC_RELAXED) % ZERO_SLOTS;
    return (void *)(zero_seg[slot] + ZERO_HEADER + k * 16);
}

int engine_init(const config_t *c, const nh_nodemask_t *nodes) {
    uintptr_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uintptr_t)&s ^ ((uintptr_t)getpid() << 32) ^ nh_clock_ms() * 0x9e3779b97f4a7c15ull;
    nhe_secret = s | 1;
    for (unsigned b = 1; b < NBINS; b++) {
        size_t size = b <= 8 ? b * 16 : 0;
        if (b > 8) {
            unsigned p2 = 7 + (b - 9) / 4, k = (b - 9) % 4 + 1;
            size = ((size_t)1 << p2) + k * ((size_t)1 << (p2 - 2));
        }
        nhe_bin_size_k[b] = (uint32_t)(size / 16);
    }
    /* the class that ends the list pages is fixed: the inline paths test it as a constant */
    if (nhe_bin_of(SMALL_MAX) != SMALL_BINS || nhe_bin_size(SMALL_BINS) != SMALL_MAX) return EINVAL;
    span_init(c->decay_ms);
    zero_init(nodes);
    __atomic_store_n(&nhe_fast_max,
                     c->large_threshold <= LARGE_MAX ? c->large_threshold - 1 : LARGE_MAX,
                     __ATOMIC_RELAXED);
    return pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- bootstrap and fallback -------------------------------------------------------------- */
static bool in_boot(uintptr_t a) {
    return a - (uintptr_t)boot_area < BOOT_SIZE;
}

static void *boot_alloc(size_t size, bool zero) {
    if (size > (1ul << 46)) return errno = ENOMEM, NULL;
    size_t need = boot_need(size);
    size_t at = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
    boot_header_t *h;
    if (at + need <= BOOT_SIZE) {
        h = (boot_header_t *)(boot_area + at); /* zero: never reused */
    } else {
        h = os_hooks.reserve(boot_map_size(size), true);
        if (!h) return errno = ENOMEM, NULL;
    }
    h->size = size;
    h->magic = BOOT_MAGIC ^ size;
    (void)zero; /* both kinds of memory are fresh */
    return h + 1;
}

static boot_header_t *boot_header(uintptr_t a) {
    boot_header_t *h = (boot_header_t *)a - 1;
    return (h->magic ^ h->size) == BOOT_MAGIC ? h : NULL;
}

/* A fallback mapping's object sits right after its header at the start of a page. */
static boot_header_t *mapped_header(uintptr_t a) {
    return (a & (NH_PAGE - 1)) == sizeof(boot_header_t) ? boot_header(a) : NULL;
}

/* A pointer outside the regions: ours only if the bootstrap gave it. */
static void free_foreign(void *p) {
    uintptr_t a = (uintptr_t)p;
    if (in_boot(a)) return; /* the bootstrap area is never reused */
    boot_header_t *h = mapped_header(a);
    if (!h) nhe_fatal("free(): invalid pointer (not allocated by numaheap)", p);
    os_hooks.release(h, boot_map_size(h->size));
}

/* ---- checks -------------------------------------------------------------------------------- */
_Noreturn void nhe_corrupt(const page_t *pg, const void *b) {
    nhe_fatal("heap corruption: a free block's link was overwritten", b);
}

void *nhe_corrupt_pop(const page_t *pg, const void *b) {
    nhe_corrupt(pg, b);
}

/* The segment of one of our objects, or a fatal error naming op. p is inside the regions. */
segment_t *nhe_segment_checked(const void *p, const char *op) {
    uintptr_t a = (uintptr_t)p;
    segment_t *s = (a & SEG_MASK) ? nhe_seg_of(a) : huge_aligned_header(a);
    if (!s || s->cookie != ((uintptr_t)s ^ nhe_secret)) nhe_fatal(op, p);
    if (s->kind == SEG_HUGE) {
        if (s->huge_obj != a) nhe_fatal(op, p);
        return s;
    }
    if (s->kind == SEG_ZERO) {
        if ((a & SEG_MASK) < ZERO_HEADER || (a & 15)) nhe_fatal(op, p);
        return s;
    }
    page_t *pg = nhe_page_of(s, a);
    if (!NHE_LOAD(pg->in_use) || nhe_block_index(pg, a) == UINT32_MAX) nhe_fatal(op, p);
    return s;
}

void nhe_free_slow(void *p) {
    uintptr_t a = (uintptr_t)p;
    if (!p) return;
    if (a - region_map.base >= region_map.size) {
        free_foreign(p);
        return;
    }
    segment_t *s = nhe_segment_checked(p, "free(): invalid pointer");
    if (s->kind == SEG_HUGE) {
        huge_free(s);
        return;
    }
    if (s->kind == SEG_ZERO) return; /* malloc(0)'s pointers are never reused */
    page_t *pg = nhe_page_of(s, a);
    block_t *b = p;
    bool mine = NHE_LOAD(s->owner) == nhe_tls.id;
    if (pg->bitmap && !mine) {
        theap_free_bits_remote(s, pg, nhe_block_index(pg, a));
        return;
    }
    if (b->key == pg->key) nhe_fatal("free(): double free detected", p);
    if (pg->bitmap) { /* free in its page already: nhe_free_bits_local's test */
        nhe_free_bits_local(s, pg, nhe_block_index(pg, a));
        return;
    }
    if (mine) { /* only a failed fast check gets here */
        nhe_free_own(s, pg, b, pg->key);
        return;
    }
    theap_free_foreign(s, pg, b);
}

/* ---- allocation ------------------------------------------------------------------------------ */
static void *failed(void) {
    thread_state_t *ts = &nh_tls;
    errno = ts->last_errno ? ts->last_errno : ENOMEM;
    ts->last_errno = 0;
    return NULL;
}

/* The thread's home heap after the routing check. */
static heap_t *home_heap(void) {
    route_check();
    heap_t *h = nhe_tls.heap;
    if (NH_LIKELY(h != &nhe_empty_heap)) return h;
    int slot = heap_slot_of_node(nh_tls.home);
    h = theap_for_slot(slot < 0 ? 0 : slot);
    if (h && !heap_check_every_call) nhe_tls.heap = h;
    return h;
}

static void *aligned_from(heap_t *h, region_t *r, size_t align, size_t size, bool zero) {
    if (align <= 16)
        return size <= LARGE_MAX ? theap_alloc(h, size, zero) : huge_alloc(r, size, 0, zero);
    size_t n = size > align ? size : align;
    if (align <= MEDIUM_HEADER && n <= LARGE_MAX) {
        unsigned bin = nhe_bin_of(n);
        while (bin < NBINS && nhe_bin_size(bin) % align)
            bin++;
        if (bin < NBINS) {
            void *p = theap_alloc_bin(h, bin);
            if (p && zero) memset(p, 0, size);
            return p;
        }
    }
    return huge_alloc(r, size, align, zero);
}

void *nhe_overflow(void) {
    errno = ENOMEM;
    return NULL;
}

/* malloc's and calloc's failure: under bind, the other bound nodes first (engine.h), so the
 * inline paths' slow calls are tail calls with nothing to test on the way back. */
static void *malloc_failed(size_t size, bool zero) {
    failed();
    return bind_spill(size, 0, zero, bind_failed_node(size));
}

void *nhe_malloc_generic(size_t size, bool zero) {
    if (NH_UNLIKELY(!heap_ready())) return boot_alloc(size, zero);
    heap_t *h = home_heap();
    void *p;
    if (!h) return malloc_failed(size, zero);
    if (size == 0 && (p = zero_alloc(h->node))) return p;
    theap_maybe_sweep(h);
    if (size >= large_threshold())
        p = huge_alloc(region_large(), size, 0, zero);
    else
        p = theap_alloc(h, size, zero);
    return p ? p : malloc_failed(size, zero);
}

void *engine_aligned(size_t align, size_t size) {
    if (NH_UNLIKELY(!heap_ready())) {
        /* the bootstrap area is 16-aligned; more is only needed after init */
        return align <= 16 ? boot_alloc(size, false) : (errno = ENOMEM, NULL);
    }
    heap_t *h = home_heap();
    if (!h) return failed();
    void *p = size >= large_threshold() ? huge_alloc(region_large(), size, align, false)
                                        : aligned_from(h, h->region, align, size, false);
    return p ? p : failed();
}

void *engine_malloc_node(size_t size, size_t align, bool zero, int node) {
    int slot = heap_slot_of_node(node);
    if (slot < 0) return errno = EINVAL, NULL;
    heap_t *h = theap_for_slot(slot);
    if (!h) return failed();
    if (size <= DIRECT_MAX && align <= 16) {
        void *p = nhe_class_pop(h->direct[(size + 15) >> 4]);
        if (p) {
            if (zero) memset(p, 0, size);
            return p;
        }
    }
    void *p = aligned_from(h, h->region, align, size, zero);
    return p ? p : failed();
}

size_t engine_usable_size(const void *p) {
    uintptr_t a = (uintptr_t)p;
    if (a - region_map.base >= region_map.size) {
        boot_header_t *h = in_boot(a) ? boot_header(a) : mapped_header(a);
        if (h) return h->size;
        nhe_fatal("malloc_usable_size(): invalid pointer", p);
    }
    segment_t *s = nhe_segment_checked(p, "malloc_usable_size(): invalid pointer");
    return s->kind == SEG_HUGE   ? s->huge_size
           : s->kind == SEG_ZERO ? 0
                                 : nhe_page_of(s, a)->block_size;
}

void *engine_realloc(void *p, size_t size) {
    uintptr_t a = (uintptr_t)p;
    if (a - region_map.base >= region_map.size) { /* bootstrap memory: move it out */
        size_t old = engine_usable_size(p);
        void *q = engine_malloc(size);
        if (q) {
            memcpy(q, p, old < size ? old : size);
            engine_free(p);
        }
        return q;
    }
    segment_t *s = nhe_segment_checked(p, "realloc(): invalid pointer");
    size_t old;
    if (s->kind == SEG_ZERO) {
        old = 0;
    } else if (s->kind == SEG_HUGE) {
        old = s->huge_size;
        size_t cap = s->span_base + ((size_t)s->nsegs << SEG_SHIFT) - s->huge_obj;
        if (size <= cap && size > MEDIUM_MAX) { /* grow or shrink in place */
            NHE_STORE(s->huge_size, (size + NH_PAGE - 1) & ~(NH_PAGE - 1));
            return p;
        }
    } else {
        old = nhe_page_of(s, a)->block_size;
        if (size <= old && (size >= old / 2 || old <= 64)) return p;
        /* growing past the medium classes: a whole-segment span, which keeps growing in place
         * up to its end instead of moving through every large class */
        if (size > old && size > MEDIUM_MAX && size < large_threshold()) {
            void *q = huge_alloc(s->region, size, 0, false);
            if (!q) return failed();
            memcpy(q, p, old);
            engine_free(p);
            return q;
        }
    }
    /* the object keeps its node (or stays interleaved): allocate the copy there */
    void *q;
    if (s->node == NH_NODE_INTERLEAVED)
        q = size >= large_threshold() ? huge_alloc(region_large(), size, 0, false)
                                      : engine_malloc(size);
    else
        q = engine_malloc_node(size, 0, false, s->node);
    if (!q) return failed();
    memcpy(q, p, old < size ? old : size);
    engine_free(p);
    return q;
}

int engine_attach(int node) {
    int slot = heap_slot_of_node(node);
    if (slot < 0) return EINVAL;
    int old = heap_slot_of_node(nh_tls.home);
    if (old >= 0 && old != slot && nh_tls.home >= 0) theap_leave_slot(old);
    heap_t *h = theap_for_slot(slot);
    if (!h) return ENOMEM;
    nhe_tls.heap = heap_check_every_call ? &nhe_empty_heap : h;
    return 0;
}

/* The first page of each class's queue in the thread's heap of node: the pages its next
 * allocations come from, whose carved blocks are what it allocated last. */
int engine_hot_ranges(int node, uintptr_t *start, size_t *len, int max) {
    int slot = heap_slot_of_node(node), n = 0;
    tld_t *t = nhe_tls.tld;
    heap_t *h = t && slot >= 0 ? t->heaps[slot] : NULL;
    for (unsigned b = 1; h && b < NBINS && n < max; b++) {
        page_t *pg = h->bins[b].first;
        if (!pg || pg == &nhe_empty_page || pg->is_cache || !pg->capacity) continue;
        uintptr_t first = pg->start & ~(NH_PAGE - 1);
        uintptr_t end =
            (pg->start + (uintptr_t)pg->capacity * pg->block_size + NH_PAGE - 1) & ~(NH_PAGE - 1);
        start[n] = first;
        len[n++] = end - first;
    }
    return n;
}

bool engine_trim(void) {
    if (!heap_ready()) return false;
    size_t given = theap_trim_mine();
    for (int n = mask_next(&heap_nodes, 0); n >= 0; n = mask_next(&heap_nodes, n + 1))
        theap_collect_abandoned(region_of_node(n));
    theap_collect_abandoned(region_large());
    given += span_trim();
    return given > 0;
}

typedef struct stat_acc {
    nh_stats_t *out;
    uint64_t trimmed; /* bytes of in-use pages that trim gave back: active, not resident */
} stat_acc_t;

static void add_segment(segment_t *s, void *arg) {
    stat_acc_t *acc = arg;
    nh_stats_t *out = acc->out;
    if (s->kind == SEG_HUGE) {
        size_t size = NHE_LOAD(s->huge_size);
        out->allocated += size;
        out->active += size;
        return;
    }
    for (uint32_t i = 0; i < s->npages; i++) {
        page_t *pg = &s->pages[i];
        if (!NHE_LOAD(pg->in_use)) continue;
        out->allocated += (uint64_t)NHE_LOAD(pg->used) * NHE_LOAD(pg->block_size);
        out->active += (uint64_t)1 << s->page_shift;
        acc->trimmed += page_trimmed_bytes(pg);
    }
}

int engine_node_stats(int node, nh_stats_t *out) {
    region_t *r = node == NH_NODE_INTERLEAVED ? region_large() : region_of_node(node);
    if (!r) return EINVAL;
    theap_collect_abandoned(r);
    stat_acc_t acc = {out, 0};
    uint64_t active_before = out->active, allocated_before = out->allocated;
    span_each_segment(r, add_segment, &acc);
    /* the caller's own cached blocks are free; other threads' count as allocated until they
     * go back, as blocks in any allocator's thread caches do */
    uint64_t cached = node == NH_NODE_INTERLEAVED ? 0 : theap_cached_bytes(node);
    out->allocated -=
        cached < out->allocated - allocated_before ? cached : out->allocated - allocated_before;
    uint64_t active = out->active - active_before;
    out->resident += (active > acc.trimmed ? active - acc.trimmed : 0) + span_cached_resident(r);
    /* thread heaps of the node; the node's span cache serves it even when no thread does */
    unsigned heaps = node == NH_NODE_INTERLEAVED ? 0 : theap_count(node);
    out->arenas += heaps ? heaps : 1;
    return 0;
}

/* ---- changes at run time (tune.c) --------------------------------------------------------- */
void engine_large_threshold_changed(void) {
    size_t t = large_threshold();
    __atomic_store_n(&nhe_fast_max, t <= LARGE_MAX ? t - 1 : LARGE_MAX, __ATOMIC_RELAXED);
}

int engine_set_decay(unsigned ms) {
    span_lock_all(); /* the span caches read the delay under their locks */
    span_init(ms);
    span_unlock_all();
    return 0;
}
