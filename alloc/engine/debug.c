/* Invariant checks of the engine's structures, compiled in by NH_DEBUG (cmake -DNH_DEBUG=N):
 * level 2 checks a page or segment whenever the engine changes its lists, level 3 also walks a
 * whole heap on every slow-path allocation. A broken invariant stops the program with one line
 * naming it, before the corruption spreads. */
#include "nhe.h"

#define CHECK(cond, what, p)                                                                       \
    do {                                                                                           \
        if (!(cond)) nhe_fatal("invariant broken: " what, p);                                      \
    } while (0)

static uint32_t count_list(const page_t *pg, const block_t *b) {
    uint32_t n = 0;
    for (; b; n++) {
        CHECK(nhe_block_index(pg, (uintptr_t)b) != UINT32_MAX, "free block off its page", b);
        CHECK(n < pg->capacity, "free list longer than the page", b);
        b = nhe_decode(pg, b->next);
    }
    return n;
}

void nhe_page_check(const page_t *pg) {
    CHECK(pg->in_use, "page in a list is not in use", pg);
    CHECK(pg->bin > 0 && pg->bin < NBINS && pg->block_size == nhe_bin_size(pg->bin),
          "page block size is not its class's", pg);
    CHECK(pg->capacity <= pg->reserved && pg->span == (uintptr_t)pg->reserved * pg->block_size,
          "page capacity beyond its span", pg);
    CHECK(pg->used <= pg->capacity, "page uses more blocks than it carved", pg);
    CHECK(pg->bitmap == (pg->bin > SMALL_BINS), "page kind is not its class's", pg);
    if (pg->bitmap) {
        CHECK(
            !((pg->free_bits | pg->local_bits) & ~(pg->capacity ? nhe_all_bits(pg->capacity) : 0)),
            "bitmap page bits beyond its blocks", pg);
        CHECK(!(pg->free_bits & pg->local_bits) &&
                  !(pg->clean_bits & ~(pg->free_bits | pg->local_bits)),
              "bitmap page sets", pg);
        CHECK((uint32_t)__builtin_popcountll(pg->free_bits | pg->local_bits) + pg->used ==
                  pg->capacity,
              "page blocks lost or counted twice", pg);
        return;
    }
    uint32_t listed = count_list(pg, pg->free);
    /* remote frees not collected yet count as used; blocks trim unlisted are in neither */
    if (!(pg->purged[0] | pg->purged[1]))
        CHECK(listed + pg->used == pg->capacity, "page blocks lost or counted twice", pg);
}

void nhe_segment_check(const segment_t *s) {
    CHECK(s->cookie == ((uintptr_t)s ^ nhe_secret), "segment cookie", s);
    if (s->kind == SEG_HUGE) return;
    CHECK(s->npages == SEG_SIZE >> s->page_shift, "segment page count", s);
    uint32_t in_use = 0;
    for (uint32_t i = 0; i < s->npages; i++)
        in_use += s->pages[i].in_use;
    CHECK(in_use == s->used_pages, "segment used-page count", s);
}

/* A class's cache: blocks of the class, each carrying its page's free mark, as many as the
 * count says and no more than the limit. */
static void cache_check(const page_t *c, unsigned bin) {
    uint32_t n = 0;
    for (const block_t *b = c->free; b; b = nhe_decode(c, b->next), n++) {
        CHECK((uintptr_t)b - c->start < c->span, "cached block outside the regions", b);
        const page_t *pg = nhe_page_of(nhe_seg_of((uintptr_t)b), (uintptr_t)b);
        CHECK(pg->in_use && pg->bin == bin && nhe_block_index(pg, (uintptr_t)b) != UINT32_MAX,
              "cached block of another class", b);
        CHECK(b->key == pg->key, "cached block without its page's free mark", b);
        CHECK(!pg->bitmap || !((pg->free_bits | pg->local_bits |
                                __atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED)) &
                               nhe_bit(nhe_block_index(pg, (uintptr_t)b))),
              "cached block free in its page too", b);
        CHECK(n < c->limit, "cache longer than its limit", c);
    }
    CHECK(c->used <= c->limit && n == (uint32_t)(c->limit - c->used), "cache count", c);
}

void nhe_heap_check(const heap_t *h) {
    for (unsigned bin = 1; bin < NBINS; bin++) {
        cache_check(&h->cache[bin], bin);
        const page_t *prev = NULL;
        for (const page_t *pg = h->bins[bin].first; pg; prev = pg, pg = pg->next) {
            CHECK(pg->prev == prev, "bin queue links", pg);
            CHECK(pg->bin == bin && !pg->in_full, "page in the wrong queue", pg);
            CHECK(pg->cache == &h->cache[bin], "page's cache is not its heap's", pg);
            nhe_page_check(pg);
        }
        CHECK(h->bins[bin].last == prev, "bin queue tail", h);
        const page_t *want = h->bins[bin].first ? h->bins[bin].first : &nhe_empty_page;
        CHECK(h->cache[bin].next == want, "class's current page", h);
    }
    for (const page_t *pg = h->full.first; pg; pg = pg->next)
        CHECK(pg->in_full && pg->in_use && pg->cache == &h->cache[pg->bin], "page in the full list",
              pg);
    CHECK(h->direct[0] == &nhe_empty_page, "malloc(0) must take the slow path", h);
    for (unsigned i = 1; i < NDIRECT; i++)
        CHECK(h->direct[i] == &h->cache[nhe_bin_of(i * 16)], "direct page table", h);
}
