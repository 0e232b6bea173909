/* Internal types of numaheap's own engine: segments, pages, thread heaps.
 *
 * Memory comes in segments of SEG_SIZE bytes, aligned to SEG_SIZE inside a node region, so the
 * segment (and its page table) of any block is the block's address with the low bits cleared.
 * A segment belongs to one thread heap of one node; its pages each hold blocks of one size
 * class. Frees by the owning thread go onto the front of its heap's cache of the class without
 * atomics, and so do other threads' frees of blocks of the same node (past the cache's limit a
 * block goes back to its page: the owner's onto the page's own free set, another thread's onto
 * the page's thread_free list with one CAS, collected by the owner when it runs out). Huge objects
 * (above LARGE_MAX) get a span of whole segments, owned by no thread, and come back to the node's
 * span cache, which keeps them resident for reuse until the decay delay purges them. Memory of one
 * node's region is only ever reused on that node. */
#ifndef NHE_H
#define NHE_H

#include "alloc_internal.h"

/* The cheap hardening on the fast paths (block-boundary and double-free tests, link checks).
 * Always on; -DNHE_CHECKS=0 exists only to measure what they cost. */
#ifndef NHE_CHECKS
#define NHE_CHECKS 1
#endif

#define SEG_SHIFT         22
#define SEG_SIZE          ((uintptr_t)1 << SEG_SHIFT)
#define SEG_MASK          (SEG_SIZE - 1)
#define SMALL_PAGE_SHIFT  16     /* 64 KiB pages for blocks up to SMALL_MAX */
#define MEDIUM_PAGE_SHIFT 19     /* 512 KiB pages for blocks up to MEDIUM_MAX */
#define LARGE_PAGE_SHIFT  21     /* 2 MiB pages for blocks up to LARGE_MAX */
#define HUGE_PAGE_SHIFT   40     /* every offset in a huge segment maps to page 0 */
#define SMALL_HEADER      16384u /* page 0 of a small segment starts after the header */
#define MEDIUM_HEADER     65536u /* ... of a medium segment: 64 KiB, so its blocks align */
#define SMALL_MAX         8192u
#define MEDIUM_MAX        (128u << 10)
#define LARGE_MAX         (1u << 20)
#define DIRECT_MAX        1024u /* sizes served by the direct page table */
#define NDIRECT           (DIRECT_MAX / 16 + 1)
#define NBINS             61 /* size classes 1..60; 0 unused (a set of classes fits 64 bits) */
#define SMALL_BINS        32 /* classes 1..32 are small (list pages), the rest bitmap pages */
#define MAX_PAGES         64
#define TF_FULL           ((uintptr_t)1)         /* thread_free flag: page is in the full list */
#define THREAD_ID_NONE    ((uintptr_t)1)         /* id of a thread with no heap yet: owns nothing */
#define NHE_COUNTS_ONE    ((uint32_t)0x10001)    /* one from a cache's room and one tick */
#define NHE_COUNTS_OUT    ((uint32_t)0x80008000) /* either half below zero */

typedef struct block {
    uintptr_t next; /* encoded: next ^ page key */
    uintptr_t key;  /* page key while free (double-free check), 0 while allocated */
} block_t;

/* SEG_ZERO: malloc(0)'s pointers, inaccessible after the header page */
enum { SEG_SMALL = 1, SEG_MEDIUM = 2, SEG_LARGE = 3, SEG_HUGE = 4, SEG_ZERO = 5 };

struct heap;

/* Two cache lines: the first is what any thread's free reads (written only when the page is
 * set up, adopted, carved, trimmed or swept), the second what the owner writes on every
 * allocation and free, so another thread's frees do not pull the owner's hot line away. */
typedef struct page {
    uintptr_t key;   /* free-list encoding and double-free mark, random per page */
    uintptr_t start; /* address of block 0 */
    /* ceil(2^64 / block_size): one multiply of an offset gives the block index (high half) and
     * whether the offset is a block boundary (low half below inv) */
    uint64_t inv;
    uint32_t capacity; /* blocks carved so far */
    uint32_t block_size;
    uint8_t bin;
    uint8_t in_use;
    uint8_t bitmap;      /* a bitmap page (classes above SMALL_MAX): its free blocks are bits */
    uint8_t is_cache;    /* a heap's cache of freed blocks of one class (heap_t.cache) */
    uint32_t sweep_used; /* used at the last sweep: unchanged means idle */
    /* the owning heap's cache of the class, where the owner's frees go: one load on free's
     * path instead of the segment's heap, the class and the index */
    struct page *cache;
    union {
        uint64_t purged[2]; /* 4 KiB pages given back by trim: their blocks are unlisted */
        /* bitmap page of large blocks: free blocks whose first word holds their canary */
        uint64_t canary_bits;
    };
    /* ---- second line: the owner's ---- */
    union {
        block_t *free;      /* owner: blocks to hand out */
        uint64_t free_bits; /* bitmap page: bit i+1 set while block i is free */
    };
    /* bitmap page: the owner's frees, handed out only once free_bits runs dry, so a freed
     * block is not the very next one allocated (a list page has no such set: nhe_free_local) */
    union {
        uint64_t local_bits;
        uint64_t limit; /* a cache's: the most blocks it holds */
    };
    union {
        struct {
            /* blocks handed out and not yet seen back by the owner; a cache's room: its limit
             * less the blocks it holds (pops count it up, pushes down, full at 0). At most 4096 */
            uint16_t used;
            union {
                uint16_t reserved; /* blocks the page can hold */
                /* a cache's: the owner's frees left before its heap looks at the clock, so a
                 * program that only takes and gives back cached blocks still sweeps */
                uint16_t ticks;
            };
        };
        /* both halves at once: a free takes one from each with one subtraction, and either
         * running out sets its half's top bit (NHE_COUNTS_OUT). Pops add 1 to the word, not to
         * used alone: a 16-bit store followed by free's 32-bit load would not be forwarded */
        uint32_t counts;
    };
    uint8_t in_full;
    uint8_t tried;      /* found exhausted once: the next time it goes to the full list */
    uint8_t sweep_mark; /* found empty by the last sweep */
    uint8_t is_cur;     /* the heap's current page of its class: emptying it needs no requeue */
    uintptr_t span;     /* reserved * block_size: links must point inside [start, start+span) */
    /* frees by other threads, TF_FULL in the low bit: a stack of blocks, or on a bitmap page
     * the blocks' bits */
    _Atomic uintptr_t thread_free;
    struct page *next, *prev; /* in the heap's bin queue or full list */
    uint64_t clean_bits;      /* bitmap page: free blocks whose memory trim gave back */
} page_t;

_Static_assert(sizeof(page_t) == 128, "page_t must stay a power of two");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "counts: used is the word's low half");
_Static_assert(NBINS <= 64, "a set of classes is a uint64_t");
_Static_assert(((1u << SMALL_PAGE_SHIFT) >> 4) <= UINT16_MAX, "a page's block counts are 16-bit");

typedef struct segment {
    uintptr_t cookie;        /* address ^ secret: this is one of our segments */
    _Atomic uintptr_t owner; /* id of the owning thread; 0 when abandoned or huge */
    struct heap *_Atomic heap;
    uint32_t kind;
    uint32_t page_shift;
    uint32_t npages;
    uint32_t used_pages;
    uint32_t nsegs; /* segments spanned (huge) */
    int node;
    region_t *region;
    uintptr_t span_base; /* first byte of the span (huge objects aligned beyond a segment) */
    uintptr_t huge_obj;  /* the huge object's address */
    size_t huge_size;    /* its usable size */
    struct segment *next, *prev;         /* heap's lists, or the node's abandoned list */
    struct segment *all_next, *all_prev; /* every live segment of the region */
    /* aligned so each record's two halves are the two cache lines page_t describes: records
     * straddling lines would share the owner's hot half with the next one's shared half */
    page_t pages[MAX_PAGES] __attribute__((aligned(128)));
} segment_t;

_Static_assert(offsetof(segment_t, pages) % 128 == 0, "page records must be line-aligned");

/* A segment's header sits in its first bytes, at an offset that depends on the segment's
 * number: headers at 4 MiB-aligned addresses would all fall into the same cache sets, so a heap
 * of many segments would miss on its own records on every free. A function of the address, so
 * finding the header still needs no load. */
#define SEG_COLORS     32u
#define SEG_COLOR_STEP 128u
_Static_assert(sizeof(segment_t) + (SEG_COLORS - 1) * SEG_COLOR_STEP <= SMALL_HEADER,
               "segment header must fit before page 0 at every color");

static inline segment_t *nhe_seg_of(uintptr_t a) {
    uintptr_t base = a & ~SEG_MASK;
    return (segment_t *)(base + ((base >> SEG_SHIFT) & (SEG_COLORS - 1)) * SEG_COLOR_STEP);
}
/* The first byte of the segment whose header is s. */
static inline uintptr_t nhe_seg_base(const segment_t *s) {
    return (uintptr_t)s & ~SEG_MASK;
}
/* The first byte of page slot idx of s (page 0's blocks start after the header). */
static inline uintptr_t nhe_page_base(const segment_t *s, size_t idx) {
    return nhe_seg_base(s) + (idx << s->page_shift);
}

/* The first byte of page slot idx's blocks: page 0's start after the segment's header. */
static inline uintptr_t nhe_slot_start(const segment_t *s, size_t idx) {
    if (idx) return nhe_page_base(s, idx);
    return nhe_seg_base(s) + (s->kind == SEG_SMALL ? SMALL_HEADER : MEDIUM_HEADER);
}

typedef struct page_queue {
    page_t *first, *last;
} page_queue_t;

typedef struct heap {
    page_t *direct[NDIRECT]; /* size / 16 -> the cache of its class (0: the empty page) */
    page_queue_t bins[NBINS];
    /* Blocks this thread freed, per class, last in first out: the heap's own of any page and
     * other heaps' of the same node. A page record whose links may point anywhere in the
     * regions, which malloc's inline path takes from first, so a freed block is reused while
     * it is still in the CPU's cache whichever page it is of (a page's own list reuses it only
     * once the page is current again: 10-20% slower on larson and on mixed sizes to 32 KiB).
     * Its blocks count as allocated in their pages meanwhile; past the limit they go back.
     * Its next is the class's current page, which malloc takes from when the cache is empty:
     * the entry point of a class never changes, so a cache that empties and fills on every
     * call costs nothing more than a page would. */
    page_t cache[NBINS] __attribute__((aligned(64))); /* meta_alloc gives 64 */
    uint64_t last_sweep_ms; /* empty pages are given back by a sweep that finds them twice */
    unsigned generic_calls;
    page_queue_t full;
    _Atomic int full_dirty; /* another thread freed into a page of the full list */
    uintptr_t owner;        /* thread id */
    int node;
    region_t *region;
    segment_t *avail[4];  /* owned small/medium segments with free page slots */
    segment_t *segs_full; /* owned segments with every page slot in use */
    struct heap *pool_next;
} heap_t;

/* Per-thread: its id (the address of its tld), the heap malloc uses, and one heap per node. */
typedef struct tld {
    uintptr_t id;
    heap_t *heaps[NH_MAX_SLOTS];
    struct tld *pool_next;
} tld_t;

typedef struct nhe_tls {
    heap_t *heap; /* the home heap, or the empty heap until routed */
    uintptr_t id; /* tld address, THREAD_ID_NONE until the thread has one */
    tld_t *tld;
    /* the page keys' serials this thread may hand out, [serial, serial_end) (nhe_page_key) */
    uint64_t serial, serial_end;
} nhe_tls_t;

NH_HIDDEN extern __thread nhe_tls_t nhe_tls __attribute__((tls_model("initial-exec")));
NH_HIDDEN extern heap_t nhe_empty_heap;
NH_HIDDEN extern page_t nhe_empty_page;
NH_HIDDEN extern uintptr_t nhe_secret;
NH_HIDDEN extern size_t nhe_fast_max;            /* largest size the inline path serves */
NH_HIDDEN extern uint32_t nhe_bin_size_k[NBINS]; /* class size / 16 */

/* Relaxed accesses for fields the owner writes and statistics read from other threads. */
#define NHE_LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define NHE_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static inline size_t nhe_bin_size(unsigned bin) {
    return (size_t)nhe_bin_size_k[bin] * 16;
}

/* Size class: 16-byte steps to 128, then four classes per power of two. */
static inline unsigned nhe_bin_of(size_t size) {
    if (size <= 128) return size <= 16 ? 1 : (unsigned)((size + 15) >> 4);
    unsigned b = 63u - (unsigned)__builtin_clzl(size - 1);
    return 9 + (b - 7) * 4 + (unsigned)(((size - 1) >> (b - 2)) & 3);
}

static inline block_t *nhe_decode(const page_t *pg, uintptr_t v) {
    return (block_t *)(v ^ pg->key);
}
static inline uintptr_t nhe_encode(const page_t *pg, const block_t *b) {
    return (uintptr_t)b ^ pg->key;
}

NH_HIDDEN _Noreturn void nhe_corrupt(const page_t *pg, const void *b);
/* nhe_corrupt for malloc's path, declared as returning so the call is a jump: a call to a
 * function that never returns would have malloc set up a stack frame first. Never returns. */
NH_HIDDEN void *nhe_corrupt_pop(const page_t *pg, const void *b);

/* The block after b on a list of pg, checked: an overwritten link decodes outside the page. */
static inline block_t *nhe_next_checked(const page_t *pg, const block_t *b) {
    block_t *n = nhe_decode(pg, b->next);
    if (n && (uintptr_t)n - pg->start >= pg->span) nhe_corrupt(pg, b);
    return n;
}

/* Bitmap pages. Blocks above SMALL_MAX are few per page (at most 51), so the page tracks its
 * free blocks as bits, out of the blocks' memory: allocation and free touch no block, which is
 * what a workload of many big objects is bound by (every touch of a cold block is a miss), and
 * no overflow can reach the free set. Bit 0 is TF_FULL's, so block i is bit i + 1. */
static inline uint64_t nhe_bit(uint32_t i) {
    return (uint64_t)2 << i;
}
/* The bits of blocks 0..n-1. */
static inline uint64_t nhe_all_bits(uint32_t n) {
    return (nhe_bit(n - 1) << 1) - 2;
}
/* Address of block i of pg. */
static inline uintptr_t nhe_block_at(const page_t *pg, uint32_t i) {
    return pg->start + (uintptr_t)i * pg->block_size;
}
/* A free block of the large classes (above MEDIUM_MAX) carries a canary in its first word, so
 * a write after free is caught when the block is handed out again; one word of a block of
 * 160 KiB or more costs nothing next to what its user touches. */
static inline uintptr_t nhe_canary(const page_t *pg, uintptr_t blk) {
    return pg->key ^ blk;
}
static inline bool nhe_has_canary(const page_t *pg) {
    return NHE_CHECKS && NH_UNLIKELY(pg->block_size > MEDIUM_MAX);
}
/* Checks the canary of block blk (bit) of pg as it is handed out; returns blk. */
NH_HIDDEN __attribute__((returns_nonnull)) void *nhe_canary_check(page_t *pg, uintptr_t blk,
                                                                  uint64_t bit);

static inline void *nhe_bits_pop(page_t *pg, uint64_t bits) {
    unsigned i = (unsigned)__builtin_ctzll(bits) - 1;
    uint64_t bit = bits & -bits;
    bits &= bits - 1;
    NHE_STORE(pg->free_bits, bits); /* another thread's free reads it for its double-free test */
    NHE_STORE(pg->clean_bits, pg->clean_bits & bits); /* see page_trimmed_bytes */
    NHE_STORE(pg->counts, pg->counts + 1);            /* used + 1: see counts */
    uintptr_t blk = nhe_block_at(pg, i);
    /* a tail call: malloc's fast path saves no registers for it */
    if (nhe_has_canary(pg)) return nhe_canary_check(pg, blk, bit);
    return (void *)blk;
}

/* Block index of p in pg, or UINT32_MAX if p is not the start of a carved block. The offset is
 * taken in 32 bits, where the exact-division identity holds: an address before block 0 wraps to
 * an index far past any capacity. */
static inline uint32_t nhe_block_index(const page_t *pg, uintptr_t p) {
    unsigned __int128 m = (unsigned __int128)(uint32_t)(p - pg->start) * pg->inv;
    uint32_t i = (uint32_t)(m >> 64);
    /* capacity: another thread's free reads it while the owner carves (relaxed, a plain load);
     * without the checks it still keeps huge and zero segments out */
    bool ok = i < NHE_LOAD(pg->capacity) && (!NHE_CHECKS || (uint64_t)m < pg->inv);
    return ok ? i : UINT32_MAX;
}

static inline page_t *nhe_page_of(segment_t *seg, uintptr_t p) {
    return (page_t *)((char *)seg->pages + (((p & SEG_MASK) >> seg->page_shift) << 7));
}

/* ---- span.c: segments of a region, the span cache, decay -------------------------------- */
NH_HIDDEN void span_init(size_t decay_ms);
/* A SEG_SIZE-aligned span of nsegs segments of r; *zero says whether it is known zero. */
NH_HIDDEN uintptr_t span_alloc(region_t *r, uint32_t nsegs, bool *zero);
/* Back into the cache: resident for the decay delay if keep_hot (a huge object's span, likely
 * reused whole, or a segment freed as a thread starts or exits, for the next thread), else its
 * memory given back now (a segment the sweep or a trim found free). */
NH_HIDDEN void span_free(region_t *r, uintptr_t addr, uint32_t nsegs, bool keep_hot);
NH_HIDDEN void span_decay(region_t *r); /* purges what outlived the decay delay */
NH_HIDDEN void span_register(segment_t *seg);
NH_HIDDEN void span_unregister(segment_t *seg);
/* Purges every cached span of every region now; returns the bytes given back. */
NH_HIDDEN size_t span_trim(void);
/* Cached bytes of r not yet purged. */
NH_HIDDEN size_t span_cached_resident(region_t *r);
/* Calls fn on every live segment of r, under r's lock. */
NH_HIDDEN void span_each_segment(region_t *r, void (*fn)(segment_t *, void *), void *arg);
NH_HIDDEN void span_abandon(segment_t *seg);           /* onto r's abandoned list */
NH_HIDDEN segment_t *span_take_abandoned(region_t *r); /* NULL if none */
NH_HIDDEN void span_lock_all(void);
NH_HIDDEN void span_unlock_all(void);

/* ---- page.c: pages, free lists, collection ---------------------------------------------- */
NH_HIDDEN void page_init(segment_t *seg, page_t *pg, unsigned bin);
/* A new random key for a page record or a cache, never the same twice. */
NH_HIDDEN uintptr_t nhe_page_key(const page_t *pg);
NH_HIDDEN void page_extend(page_t *pg);

static inline void *nhe_page_pop(page_t *pg, block_t *b) {
    block_t *next = nhe_decode(pg, b->next);
    /* an overwritten link decodes outside the page: stop before it becomes a write */
    /* a cache's links may point anywhere in the regions but never into a segment's header */
    if (NHE_CHECKS &&
        NH_UNLIKELY((uintptr_t)next - pg->start >= pg->span ||
                    ((uintptr_t)next & SEG_MASK) < SMALL_HEADER) &&
        next)
        return nhe_corrupt_pop(pg, b);
    pg->free = next;
    /* the class's next block, most likely freed a while ago: it loads while the program uses
     * this one (7% on mixed small sizes, 5% on larson). A prefetch never faults, on NULL
     * or on an overwritten link alike. */
    __builtin_prefetch(next, 1);
    b->key = 0;
    NHE_STORE(pg->counts, pg->counts + 1); /* used + 1: see counts */
    return b;
}

/* A block of a page with free blocks, list or bitmap. */
static inline void *page_pop(page_t *pg) {
    return pg->bitmap ? nhe_bits_pop(pg, pg->free_bits) : nhe_page_pop(pg, pg->free);
}

/* A block of the class whose cache is c: the newest cached one, else one of the class's
 * current page; NULL if neither has one. */
static inline void *nhe_class_pop(page_t *c) {
    block_t *b = c->free;
    if (NH_LIKELY(b != NULL)) return nhe_page_pop(c, b);
    page_t *pg = c->next;
    if (pg->bitmap) {
        uint64_t bits = pg->free_bits;
        return NH_LIKELY(bits != 0) ? nhe_bits_pop(pg, bits) : NULL;
    }
    b = pg->free;
    return NH_LIKELY(b != NULL) ? nhe_page_pop(pg, b) : NULL;
}
/* Gathers the owner's and the remote frees into the free list; returns the number of remote
 * frees collected. */
NH_HIDDEN uint32_t page_collect(page_t *pg);
NH_HIDDEN bool page_try_full(page_t *pg); /* sets TF_FULL unless remote frees are waiting */
NH_HIDDEN void page_clear_full(page_t *pg);
/* Gives back the 4 KiB pages that hold only free blocks; returns the bytes given back that
 * were not already (a second trim in a row returns 0). */
NH_HIDDEN size_t page_trim(segment_t *seg, page_t *pg);
NH_HIDDEN size_t page_trimmed_bytes(const page_t *pg); /* given back and not reused since */
NH_HIDDEN void page_relist_purged(page_t *pg);
NH_HIDDEN _Noreturn void nhe_fatal(const char *what, const void *p);

/* ---- theap.c: thread heaps -------------------------------------------------------------- */
NH_HIDDEN void *theap_alloc(heap_t *h, size_t size, bool zero);
NH_HIDDEN void *theap_alloc_bin(heap_t *h, unsigned bin);
NH_HIDDEN heap_t *theap_for_slot(int slot); /* this thread's heap of a node slot */
NH_HIDDEN void theap_free_local_slow(segment_t *seg, page_t *pg);
NH_HIDDEN void theap_free_remote(segment_t *seg, page_t *pg, block_t *b);
/* A free by a thread that does not own the block: cached if the block is of its node. */
NH_HIDDEN void theap_free_foreign(segment_t *seg, page_t *pg, block_t *b);
/* The owner's free past its cache's limit: back to the block's page. Every FREE_TICKS frees of a
 * class, also the owner's look at the clock for the sweep. */
NH_HIDDEN void theap_free_own(segment_t *seg, page_t *pg, block_t *b);
/* A free of block i of a bitmap page by a thread that does not own it: one atomic OR. */
NH_HIDDEN void theap_free_bits_remote(segment_t *seg, page_t *pg, uint32_t i);
NH_HIDDEN void theap_maybe_sweep(heap_t *h);
NH_HIDDEN void theap_thread_exit(void);
NH_HIDDEN void theap_leave_slot(int slot); /* the thread moved off this node */
/* Remote frees into the region's abandoned segments collected, their empty pages freed and
 * given back, the segments left empty released. */
NH_HIDDEN void theap_collect_abandoned(region_t *r);
NH_HIDDEN size_t theap_trim_mine(void);
NH_HIDDEN unsigned theap_count(int node);
/* Bytes of blocks the calling thread's heap of node holds in its caches. */
NH_HIDDEN uint64_t theap_cached_bytes(int node);
NH_HIDDEN void theap_fork_prepare(void);
NH_HIDDEN void theap_fork_parent(void);
NH_HIDDEN void theap_fork_child(void);

/* The segment kind that holds blocks of a class. */
static inline uint32_t nhe_kind_of_bin(unsigned bin) {
    size_t bs = nhe_bin_size(bin);
    return bs <= SMALL_MAX ? SEG_SMALL : bs <= MEDIUM_MAX ? SEG_MEDIUM : SEG_LARGE;
}

/* ---- huge.c: objects of whole segments ---------------------------------------------------- */
NH_HIDDEN void *huge_alloc(region_t *r, size_t size, size_t align, bool zero);
NH_HIDDEN void huge_free(segment_t *seg);
NH_HIDDEN segment_t *huge_aligned_header(uintptr_t p); /* header of a segment-aligned object */

/* ---- debug.c: invariant checks (NH_DEBUG) ------------------------------------------------ */
#ifndef NH_DEBUG
#define NH_DEBUG 0
#endif
NH_HIDDEN void nhe_page_check(const page_t *pg);
NH_HIDDEN void nhe_segment_check(const segment_t *s);
NH_HIDDEN void nhe_heap_check(const heap_t *h); /* level 3, every 16th slow call */
#define NHE_DEBUG_CHECK(level, call)                                                               \
    do {                                                                                           \
        if (NH_DEBUG >= (level)) call;                                                             \
    } while (0)

/* ---- engine.c ----------------------------------------------------------------------------- */
NH_HIDDEN segment_t *nhe_segment_checked(const void *p, const char *op); /* or fatal */

#endif
