/* Pages: one size class each, carved into blocks lazily (at most 4 KiB or one block at a time,
 * so a fresh page costs what is used), with two free lists: free (the owner's frees go onto its
 * front, so hot blocks are reused first) and thread_free (other threads' frees, an atomic stack,
 * taken when free runs dry). Links are stored xor-ed with the page's random key and checked to
 * stay inside the page when followed, so an overflow into a free block cannot steer an
 * allocation elsewhere. */
#include "nhe.h"

#include <stdlib.h>
#include <sys/mman.h>

#define EXTEND_BYTES 4096u
/* a page's first carve: a short-lived thread takes a block or two of each of many classes,
 * and carving writes every carved block */
#define FIRST_EXTEND_BYTES 1024u
#define BITS_EXTEND_BYTES  65536u
#define OS_PAGE            4096u

_Noreturn void nhe_fatal(const char *what, const void *p) {
    log_warn("numaheap: %s: %p\n", what, p);
    abort();
}

/* Serials go to each thread in batches: one atomic per SERIAL_BATCH keys. An atomic per key
 * bounced the counter's line between threads that start together (3% of thread churn). Every
 * serial is still given out once, so a page's key differs from its every earlier life's. */
#define SERIAL_BATCH 1024
uintptr_t nhe_page_key(const page_t *pg) {
    static _Atomic uint64_t serials;
    if (NH_UNLIKELY(nhe_tls.serial == nhe_tls.serial_end)) {
        nhe_tls.serial = __atomic_fetch_add(&serials, SERIAL_BATCH, __ATOMIC_RELAXED) + 1;
        nhe_tls.serial_end = nhe_tls.serial + SERIAL_BATCH;
    }
    uintptr_t k = nhe_secret ^ ((uintptr_t)pg * 0x9e3779b97f4a7c15ull) ^
                  (nhe_tls.serial++ * 0xbf58476d1ce4e5b9ull);
    return (k ^ (k >> 29)) | 1; /* never 0: 0 is an allocated block's mark */
}

void page_init(segment_t *seg, page_t *pg, unsigned bin) {
    size_t idx = (size_t)(pg - seg->pages);
    uintptr_t base = nhe_slot_start(seg, idx);
    uintptr_t end = nhe_page_base(seg, idx + 1);
    uint32_t bs = (uint32_t)nhe_bin_size(bin);
    pg->free = NULL;
    pg->local_bits = 0;
    NHE_STORE(pg->start, base);    /* see page_trimmed_bytes */
    NHE_STORE(pg->block_size, bs); /* statistics read it from other threads */
    pg->inv = UINT64_MAX / bs + 1;
    uint32_t reserved = (uint32_t)((end - base) / bs); /* at most 4096: 64 KiB of 16 B blocks */
    pg->span = reserved * bs;
    NHE_STORE(pg->capacity, 0);
    NHE_STORE(pg->counts, reserved << 16); /* used 0: one store of the word (see counts) */
    pg->bin = (uint8_t)bin;
    pg->in_full = 0;
    pg->is_cur = 0;
    pg->sweep_mark = 0;
    /* statistics read these three from other threads (page_trimmed_bytes) */
    NHE_STORE(pg->purged[0], 0);
    NHE_STORE(pg->purged[1], 0);
    NHE_STORE(pg->clean_bits, 0);
    __atomic_store_n(&pg->thread_free, 0, __ATOMIC_RELAXED);
    NHE_STORE(pg->bitmap, bin > SMALL_BINS);
    pg->is_cache = 0;
    if (pg->bitmap && pg->reserved > 63) nhe_fatal("heap corruption (bitmap page too large)", pg);
    /* a fresh key each time the page is set up: stale marks of an earlier life never match */
    pg->key = nhe_page_key(pg);
    NHE_STORE(pg->in_use, 1);
}

/* A bitmap page's blocks join its free set a few at a time too: a bit costs no memory, but a
 * page that handed out every block once before reusing any would have the program touch all of
 * them (a class with one live block cycled through 512 KiB). */
static void bits_extend(page_t *pg) {
    uint32_t n = pg->reserved - pg->capacity, max = BITS_EXTEND_BYTES / pg->block_size;
    if (max < 1) max = 1;
    if (n > max) n = max;
    if (!n) return;
    uint64_t old = pg->capacity ? nhe_all_bits(pg->capacity) : 0;
    NHE_STORE(pg->free_bits, pg->free_bits | (nhe_all_bits(pg->capacity + n) & ~old));
    NHE_STORE(pg->capacity, pg->capacity + n);
}

void page_extend(page_t *pg) {
    if (pg->bitmap) {
        bits_extend(pg);
        return;
    }
    /* at most a few KiB at a time, or one block: carving writes every carved block, so a
     * batch of big blocks would make memory resident that the program never asked for (16
     * blocks of 1-8 KiB were three quarters of each of glibc-thread's threads' segments) */
    uint32_t n = pg->reserved - pg->capacity;
    uint32_t max = (pg->capacity ? EXTEND_BYTES : FIRST_EXTEND_BYTES) / pg->block_size;
    if (max < 1) max = 1;
    if (n > max) n = max;
    if (!n) return;
    uintptr_t first = pg->start + (uintptr_t)pg->capacity * pg->block_size;
    block_t *b = (block_t *)first;
    /* carved blocks carry the free mark, so freeing one that was never handed out is caught */
    for (uint32_t i = 0; i + 1 < n; i++) {
        block_t *next = (block_t *)((uintptr_t)b + pg->block_size);
        b->next = nhe_encode(pg, next);
        b->key = pg->key;
        b = next;
    }
    b->next = nhe_encode(pg, pg->free);
    b->key = pg->key;
    pg->free = (block_t *)first;
    NHE_STORE(pg->capacity, pg->capacity + n);
}

static uint32_t bits_collect(page_t *pg) {
    if (!pg->free_bits && pg->local_bits) {
        NHE_STORE(pg->free_bits, pg->local_bits);
        NHE_STORE(pg->local_bits, 0);
    }
    if (!(__atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED) & ~TF_FULL)) return 0;
    uint64_t tf = __atomic_exchange_n(&pg->thread_free, 0, __ATOMIC_ACQUIRE) & ~TF_FULL;
    uint32_t n = (uint32_t)__builtin_popcountll(tf);
    if ((tf & (pg->free_bits | pg->local_bits)) || n > pg->used)
        nhe_fatal("free(): double free detected", pg);
    NHE_STORE(pg->free_bits, pg->free_bits | tf);
    NHE_STORE(pg->counts, pg->counts - n); /* used - n, as a word: see counts */
    if (nhe_has_canary(pg))                /* remote frees wrote theirs */
        NHE_STORE(pg->canary_bits, pg->canary_bits | tf);
    return n;
}

void *nhe_canary_check(page_t *pg, uintptr_t blk, uint64_t bit) {
    if (!(pg->canary_bits & bit)) return (void *)blk; /* never freed, or given back by trim */
    NHE_STORE(pg->canary_bits, pg->canary_bits & ~bit);
    if (*(uintptr_t *)blk != nhe_canary(pg, blk))
        nhe_fatal("heap corruption: a freed block was written after free", (void *)blk);
    return (void *)blk;
}

uint32_t page_collect(page_t *pg) {
    if (pg->bitmap) return bits_collect(pg);
    if (!(__atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED) & ~TF_FULL)) return 0;
    uintptr_t tf = __atomic_exchange_n(&pg->thread_free, 0, __ATOMIC_ACQUIRE);
    block_t *head = (block_t *)(tf & ~TF_FULL), *tail = head;
    if (!head) return 0;
    uint32_t n = 1;
    for (block_t *next; (next = nhe_next_checked(pg, tail)); tail = next)
        n++;
    tail->next = nhe_encode(pg, pg->free);
    pg->free = head;
    if (n > pg->used) nhe_fatal("heap corruption (more frees than blocks)", head);
    NHE_STORE(pg->counts, pg->counts - n); /* used - n, as a word: see counts */
    return n;
}

bool page_try_full(page_t *pg) {
    uintptr_t expect = 0;
    return __atomic_compare_exchange_n(&pg->thread_free, &expect, TF_FULL, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

void page_clear_full(page_t *pg) {
    __atomic_fetch_and(&pg->thread_free, ~TF_FULL, __ATOMIC_ACQ_REL);
}

static bool purged_bit(const page_t *pg, uintptr_t page_base, uintptr_t addr) {
    size_t i = (addr - page_base) / OS_PAGE;
    return (pg->purged[i / 64] >> (i % 64)) & 1;
}

void page_relist_purged(page_t *pg) {
    if (!(pg->purged[0] | pg->purged[1])) return;
    unsigned shift = pg->block_size <= SMALL_MAX ? SMALL_PAGE_SHIFT : MEDIUM_PAGE_SHIFT;
    uintptr_t page_base = pg->start & ~(((uintptr_t)1 << shift) - 1);
    for (uint32_t i = 0; i < pg->capacity; i++) {
        block_t *b = (block_t *)nhe_block_at(pg, i);
        if (!purged_bit(pg, page_base, (uintptr_t)b)) continue;
        b->next = nhe_encode(pg, pg->free);
        b->key = pg->key;
        pg->free = b;
    }
    NHE_STORE(pg->purged[0], 0);
    NHE_STORE(pg->purged[1], 0);
}

/* Takes the lowest run of set bits off *bits (a bitmap page's blocks: bit 0 is never one, so
 * a run ends below bit 63) and returns it as a mask; *lo is its first bit. The whole OS pages
 * inside the run's blocks, of a page whose block 0 is at start, are [*from, *to). */
static uint64_t bits_take_run(uint64_t *bits, uintptr_t start, uint32_t bs, unsigned *lo,
                              uintptr_t *from, uintptr_t *to) {
    *lo = (unsigned)__builtin_ctzll(*bits);
    unsigned len = (unsigned)__builtin_ctzll(~(*bits >> *lo));
    uint64_t mask = (((uint64_t)1 << len) - 1) << *lo;
    *bits &= ~mask;
    uintptr_t first = start + (uintptr_t)(*lo - 1) * bs;
    *from = (first + OS_PAGE - 1) & ~(uintptr_t)(OS_PAGE - 1);
    *to = (first + (uintptr_t)len * bs) & ~(uintptr_t)(OS_PAGE - 1);
    return mask;
}

/* A bitmap page gives back the whole 4 KiB pages inside each run of free blocks not given back
 * yet; the blocks stay free (their bits need no memory). */
static size_t bits_trim(page_t *pg) {
    bits_collect(pg);
    NHE_STORE(pg->free_bits, pg->free_bits | pg->local_bits);
    NHE_STORE(pg->local_bits, 0);
    uint64_t dirty = pg->free_bits & ~pg->clean_bits;
    size_t given = 0;
    segment_t *seg = nhe_seg_of(pg->start);
    while (dirty) {
        unsigned lo;
        uintptr_t from, to;
        uint64_t mask = bits_take_run(&dirty, pg->start, pg->block_size, &lo, &from, &to);
        if (to > from) {
            if (region_purge(seg->region, (void *)from, to - from, false) != 0) continue;
            given += to - from;
            /* the first word may be zero now */
            NHE_STORE(pg->canary_bits, pg->canary_bits & ~mask);
        }
        NHE_STORE(pg->clean_bits, pg->clean_bits | mask);
    }
    return given;
}

/* The bytes of pg that trim gave back and no allocation has reused: statistics read it from
 * other threads, so every word once, and a torn view only misplaces a few pages. */
size_t page_trimmed_bytes(const page_t *pg) {
    if (!NHE_LOAD(pg->bitmap))
        return (size_t)(__builtin_popcountll(__atomic_load_n(&pg->purged[0], __ATOMIC_RELAXED)) +
                        __builtin_popcountll(__atomic_load_n(&pg->purged[1], __ATOMIC_RELAXED))) *
               OS_PAGE;
    uint64_t clean = NHE_LOAD(pg->clean_bits);
    uintptr_t start = NHE_LOAD(pg->start);
    uint32_t bs = NHE_LOAD(pg->block_size);
    size_t bytes = 0;
    while (clean) { /* what bits_trim purged: the whole OS pages inside each run */
        unsigned lo;
        uintptr_t from, to;
        bits_take_run(&clean, start, bs, &lo, &from, &to);
        if (to > from) bytes += to - from;
    }
    return bytes;
}

size_t page_trim(segment_t *seg, page_t *pg) {
    if (pg->bitmap) return bits_trim(pg);
    enum { MAXB = (1u << MEDIUM_PAGE_SHIFT) / 16 / 8 };
    uint8_t freemap[MAXB > 512 ? 512 : MAXB];
    /* the purged map covers pages up to 512 KiB: blocks of the large pages are not trimmed */
    if (pg->capacity > sizeof freemap * 8 || pg->block_size > MEDIUM_MAX) return 0;
    page_collect(pg);
    /* pages purged by an earlier trim are purged again below but were given back then */
    uint64_t was_purged[2] = {pg->purged[0], pg->purged[1]};
    page_relist_purged(pg); /* start from every free block listed */
    __builtin_memset(freemap, 0, sizeof freemap);
    for (block_t *b = pg->free; b; b = nhe_next_checked(pg, b)) {
        uint32_t i = nhe_block_index(pg, (uintptr_t)b);
        if (i == UINT32_MAX) nhe_fatal("heap corruption (free list)", b);
        freemap[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    size_t idx = (size_t)(pg - seg->pages);
    uintptr_t page_base = nhe_page_base(seg, idx);
    uintptr_t page_end = nhe_page_base(seg, idx + 1);
    uintptr_t carved_end = pg->start + (uintptr_t)pg->capacity * pg->block_size;
    size_t given = 0;
    bool purged = false;
    uintptr_t run = 0; /* start of a run of purgeable OS pages */
    for (uintptr_t o = (pg->start + OS_PAGE - 1) & ~(uintptr_t)(OS_PAGE - 1); o <= page_end;
         o += OS_PAGE) {
        bool all_free = o < page_end;
        if (all_free && o < carved_end) {
            uint32_t lo = (uint32_t)((o - pg->start) / pg->block_size);
            uint64_t hi_off = o + OS_PAGE - 1 - pg->start;
            uint32_t hi = (uint32_t)(hi_off / pg->block_size);
            if (hi >= pg->capacity) hi = pg->capacity - 1;
            for (uint32_t i = lo; i <= hi && all_free; i++)
                all_free = (freemap[i / 8] >> (i % 8)) & 1;
        }
        if (all_free && !run) run = o;
        if (!all_free && run) {
            if (region_purge(seg->region, (void *)run, o - run, false) == 0) {
                purged = true;
                for (uintptr_t q = run; q < o; q += OS_PAGE) {
                    size_t i = (q - page_base) / OS_PAGE;
                    uint64_t bit = (uint64_t)1 << (i % 64);
                    NHE_STORE(pg->purged[i / 64], pg->purged[i / 64] | bit);
                    /* what no block ever reached was never faulted in by this page */
                    if (!(was_purged[i / 64] & bit) && q < carved_end) given += OS_PAGE;
                }
            }
            run = 0;
        }
    }
    if (!purged) return 0;
    /* relist only the free blocks whose links were not just zeroed */
    pg->free = NULL;
    pg->local_bits = 0;
    for (uint32_t i = pg->capacity; i-- > 0;) {
        if (!((freemap[i / 8] >> (i % 8)) & 1)) continue;
        block_t *b = (block_t *)nhe_block_at(pg, i);
        if (purged_bit(pg, page_base, (uintptr_t)b)) continue;
        b->next = nhe_encode(pg, pg->free);
        pg->free = b;
    }
    return given;
}
