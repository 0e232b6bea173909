/* The reference engine behind alloc/engine.h: Debian's jemalloc, embedded with its symbols
 * renamed to nhje_* and hidden. Each node gets arenas whose extent hooks carve memory from that
 * node's region; threads attach to an arena of their home node; explicit per-(thread, node)
 * tcaches make the node API as fast as malloc; large objects have an arena on the large region.
 * Only this folder knows jemalloc exists. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <jemalloc/jemalloc.h> /* types and MALLOCX_* only: every call goes to nhje_* */

void *nhje_realloc(void *, size_t);
void *nhje_aligned_alloc(size_t, size_t);
void *nhje_mallocx(size_t, int);
void *nhje_rallocx(void *, size_t, int);
void nhje_dallocx(void *, int);
size_t nhje_malloc_usable_size(const void *);
int nhje_mallctl(const char *, void *, size_t *, void *, size_t);
int nhje_mallctlnametomib(const char *, size_t *, size_t *);
int nhje_mallctlbymib(const size_t *, size_t, void *, size_t *, void *, size_t);

/* Our copy of jemalloc is configured here, not by a host jemalloc's MALLOC_CONF: the embedding
 * blanks the variable's name in jemalloc (cmake/embed_jemalloc.sh), and engine_init appends
 * NUMAHEAP_JE once config.c has checked it, so jemalloc never reports on text itself. */
#define ENGINE_CONF "retain:true,background_thread:false"
const char *nhje_malloc_conf = ENGINE_CONF;
static char conf_buf[sizeof ENGINE_CONF + 1 + 4096 + 1];

/* One hooks table per node, so a hook knows its region from the pointer jemalloc passes; the
 * arena index is no help, as jemalloc allocates an arena's metadata through the hooks before
 * arenas.create has returned the index. */
typedef struct node_hooks {
    extent_hooks_t hooks; /* first: jemalloc's pointer is the struct's */
    region_t *region;
} node_hooks_t;

static node_hooks_t node_hooks[NH_MAX_SLOTS];
static node_hooks_t large_hooks;
static unsigned large_arena;
static unsigned arena_ind[NH_MAX_SLOTS][NH_MAX_ARENAS_PER_NODE];
static unsigned narenas[NH_MAX_SLOTS];
static unsigned arena_threads[NH_MAX_SLOTS][NH_MAX_ARENAS_PER_NODE]; /* attached threads */
static pthread_key_t exit_key;

/* This engine's per-thread state. */
typedef struct je_thread {
    unsigned tcache[NH_MAX_SLOTS]; /* explicit tcache id + 1 per node slot, 0 = none */
    int arena_slot;                /* slot + 1 of the attached arena, 0 = none */
    unsigned arena_idx;            /* the arena's index within its node */
    unsigned seq; /* per-thread number for spreading node-API arenas, 0 = unassigned */
} je_thread_t;
static __thread je_thread_t je_tls __attribute__((tls_model("initial-exec")));
/* Names resolved once: by-name lookups cost more than the rest of a thread's attach. */
static size_t mib_arena[2], mib_flush[3];
#define TCACHE_NONE_MARK UINT32_MAX

static region_t *hook_region(extent_hooks_t *h) {
    return ((node_hooks_t *)h)->region;
}

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align, bool *zero,
                        bool *commit, unsigned ind) {
    region_t *r = hook_region(h);
    bool z;
    void *p = r ? region_span_alloc(r, new_addr, size, align, &z) : NULL;
    if (!p) return NULL;
    if (r->spread) {
        int e = large_bind(p, size);
        if (e && !r->bind_errno) r->bind_errno = e; /* first touch then, as for nodes */
    }
    if (*commit) {
        int e = region_commit(r, p, size);
        if (e) {
            nh_tls.last_errno = e; /* the span stays reserved; strict callers see e */
            return NULL;
        }
    }
    *commit = *commit || !r->explicit_commit;
    *zero = z;
    return p;
}

/* Returning true keeps the extent: jemalloc retains it and reuses it, purged. */
static bool hook_dalloc(extent_hooks_t *h, void *a, size_t s, bool c, unsigned ind) {
    return true;
}

static void hook_destroy(extent_hooks_t *h, void *a, size_t s, bool c, unsigned ind) {
    region_t *r = hook_region(h);
    if (r) region_purge(r, a, s, false);
}

static bool hook_commit(extent_hooks_t *h, void *a, size_t s, size_t off, size_t len,
                        unsigned ind) {
    region_t *r = hook_region(h);
    int e = r ? region_commit(r, (char *)a + off, len) : EINVAL;
    if (e) nh_tls.last_errno = e;
    return e != 0;
}

static bool hook_decommit(extent_hooks_t *h, void *a, size_t s, size_t off, size_t len,
                          unsigned ind) {
    region_t *r = hook_region(h);
    return !r || region_decommit(r, (char *)a + off, len) != 0;
}

/* Bytes the purge hooks gave back: malloc_trim's answer is whether its purge added to it. */
static uint64_t purged_bytes;

static bool purged(size_t len) {
    __atomic_fetch_add(&purged_bytes, len, __ATOMIC_RELAXED);
    return false;
}

static bool hook_purge_lazy(extent_hooks_t *h, void *a, size_t s, size_t off, size_t len,
                            unsigned ind) {
    region_t *r = hook_region(h);
    return !r || region_purge(r, (char *)a + off, len, true) != 0 || purged(len);
}

static bool hook_purge_forced(extent_hooks_t *h, void *a, size_t s, size_t off, size_t len,
                              unsigned ind) {
    region_t *r = hook_region(h);
    return !r || region_purge(r, (char *)a + off, len, false) != 0 || purged(len);
}

/* Extents of one arena always lie in one region, so splitting and merging are always fine. */
static bool hook_split(extent_hooks_t *h, void *a, size_t s, size_t sa, size_t sb, bool c,
                       unsigned ind) {
    return false;
}

static bool hook_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool c,
                       unsigned ind) {
    return region_node_of(a) != region_node_of(b);
}

static const extent_hooks_t hooks = {hook_alloc,        hook_dalloc,   hook_destroy,
                                     hook_commit,       hook_decommit, hook_purge_lazy,
                                     hook_purge_forced, hook_split,    hook_merge};

static void engine_thread_exit(void);

static void thread_exit(void *arg) {
    engine_thread_exit();
}

int engine_init(const config_t *c, const nh_nodemask_t *nodes) {
    const topo_t *t = topo_get();
    if (c->je_conf) { /* before the first nhje_ call, which reads nhje_malloc_conf */
        fmt_buf(conf_buf, sizeof conf_buf, "%s,%s", ENGINE_CONF, c->je_conf);
        nhje_malloc_conf = conf_buf;
    }
    for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1)) {
        int slot = heap_slot_of_node(n);
        if (slot < 0) continue;
        node_hooks[slot].hooks = hooks;
        node_hooks[slot].region = region_of_node(n);
        extent_hooks_t *hp = &node_hooks[slot].hooks;
        /* jemalloc's own default: four arenas per CPU */
        unsigned k = c->arenas_per_node ? c->arenas_per_node : 4u * t->node_ncpus[n];
        if (k < 1) k = 1;
        if (k > NH_MAX_ARENAS_PER_NODE) k = NH_MAX_ARENAS_PER_NODE;
        for (unsigned i = 0; i < k; i++) {
            unsigned ind;
            size_t sz = sizeof ind;
            int e = nhje_mallctl("arenas.create", &ind, &sz, &hp, sizeof hp);
            if (e) return e;
            arena_ind[slot][narenas[slot]++] = ind;
        }
    }
    size_t n = 2;
    nhje_mallctlnametomib("thread.arena", mib_arena, &n);
    n = 3;
    nhje_mallctlnametomib("thread.tcache.flush", mib_flush, &n);
    large_hooks.hooks = hooks;
    large_hooks.region = region_large();
    extent_hooks_t *hp = &large_hooks.hooks;
    size_t sz = sizeof large_arena;
    int e = nhje_mallctl("arenas.create", &large_arena, &sz, &hp, sizeof hp);
    return e ? e : pthread_key_create(&exit_key, thread_exit);
}

/* The node's arena with the fewest attached threads, as jemalloc chooses automatic arenas. */
static unsigned pick_arena(int slot) {
    unsigned best = 0, best_n = UINT32_MAX;
    for (unsigned i = 0; i < narenas[slot]; i++) {
        unsigned n = __atomic_load_n(&arena_threads[slot][i], __ATOMIC_RELAXED);
        if (n < best_n) best = i, best_n = n;
    }
    return best;
}

static void detach(je_thread_t *ts) {
    if (ts->arena_slot > 0)
        __atomic_fetch_sub(&arena_threads[ts->arena_slot - 1][ts->arena_idx], 1, __ATOMIC_RELAXED);
    ts->arena_slot = 0;
}

/* jemalloc keeps which pages a thread's cache draws on to itself: nothing to report. */
int engine_hot_ranges(int node, uintptr_t *start, size_t *len, int max) {
    return 0;
}

int engine_attach(int node) {
    int slot = heap_slot_of_node(node);
    if (slot < 0) return EINVAL;
    je_thread_t *ts = &je_tls;
    unsigned i = pick_arena(slot), ind = arena_ind[slot][i];
    /* Nothing cached from the old node may be handed out once the thread lives elsewhere. (A
     * thread never attached has cached no node's objects: its frees bypass the cache.) */
    if (ts->arena_slot) nhje_mallctlbymib(mib_flush, 3, NULL, NULL, NULL, 0);
    int e = nhje_mallctlbymib(mib_arena, 2, NULL, NULL, &ind, sizeof ind);
    if (e) return e;
    detach(ts);
    __atomic_fetch_add(&arena_threads[slot][i], 1, __ATOMIC_RELAXED);
    ts->arena_slot = slot + 1;
    ts->arena_idx = i;
    pthread_setspecific(exit_key, (void *)1);
    return 0;
}

static void engine_thread_exit(void) {
    je_thread_t *ts = &je_tls;
    detach(ts);
    for (int s = 0; s < NH_MAX_SLOTS; s++) {
        unsigned tc = ts->tcache[s];
        ts->tcache[s] = 0;
        if (tc && tc != TCACHE_NONE_MARK) {
            tc -= 1;
            nhje_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc);
        }
    }
}

/* MALLOCX_TCACHE flags for this thread's cache of a node's objects, created on first use. */
static int node_tcache_flags(je_thread_t *ts, int slot) {
    unsigned tc = ts->tcache[slot];
    if (NH_UNLIKELY(!tc)) {
        unsigned id;
        size_t sz = sizeof id;
        tc = nhje_mallctl("tcache.create", &id, &sz, NULL, 0) ? TCACHE_NONE_MARK : id + 1;
        ts->tcache[slot] = tc;
        pthread_setspecific(exit_key, (void *)1);
    }
    return tc == TCACHE_NONE_MARK ? MALLOCX_TCACHE_NONE : MALLOCX_TCACHE(tc - 1);
}

static unsigned thread_seq;

/* The arena of a node this thread uses through the node API: spread by a per-thread sequence
 * number (TLS addresses are all alike modulo small numbers, so they cannot spread threads). */
static int node_flags(je_thread_t *ts, int slot) {
    if (NH_UNLIKELY(!ts->seq)) ts->seq = __atomic_add_fetch(&thread_seq, 1, __ATOMIC_RELAXED);
    unsigned a = arena_ind[slot][ts->seq % narenas[slot]];
    return MALLOCX_ARENA(a) | node_tcache_flags(ts, slot);
}

const char *engine_name(void) {
    return "jemalloc";
}

/* The slow path: routing checks, and in strict mode with an unbound node (every call comes
 * here then) the kernel's reason for a failure rather than jemalloc's ENOMEM. */
static void *fix_errno(void *p) {
    thread_state_t *ts = &nh_tls;
    if (!p) errno = ts->last_errno ? ts->last_errno : ENOMEM; /* jemalloc's realloc sets none */
    ts->last_errno = 0;
    return p;
}

static void *malloc_large(size_t size, size_t align, bool zero);

void *je_malloc_slow(size_t size) {
    route_slow(&nh_tls);
    if (size >= large_threshold()) return malloc_large(size, 0, false);
    return fix_errno(nhje_malloc(size));
}

void *je_calloc_slow(size_t n, size_t size) {
    route_slow(&nh_tls);
    size_t total;
    if (!__builtin_mul_overflow(n, size, &total) && total >= large_threshold())
        return malloc_large(total, 0, true);
    return fix_errno(nhje_calloc(n, size));
}

void *engine_aligned(size_t align, size_t size) {
    if (route_charge(ROUTE_NOMINAL_CHARGE)) route_slow(&nh_tls);
    void *p = size >= large_threshold() ? malloc_large(size, align, false)
                                        : nhje_aligned_alloc(align, size ? size : 1);
    return fix_errno(p);
}

size_t engine_usable_size(const void *p) {
    return nhje_malloc_usable_size(p);
}

bool engine_trim(void) {
    /* every arena's unused dirty pages back to the kernel (MALLCTL_ARENAS_ALL); jemalloc's
     * purge succeeds with nothing to purge, so success alone says nothing was given back */
    uint64_t before = __atomic_load_n(&purged_bytes, __ATOMIC_RELAXED);
    if (nhje_mallctl("arena.4096.purge", NULL, NULL, NULL, 0) != 0) return false;
    return __atomic_load_n(&purged_bytes, __ATOMIC_RELAXED) != before;
}

void *engine_malloc_node(size_t size, size_t align, bool zero, int node) {
    int slot = heap_slot_of_node(node);
    if (slot < 0) return errno = EINVAL, NULL;
    int flags = (align ? MALLOCX_ALIGN(align) : 0) | (zero ? MALLOCX_ZERO : 0);
    if (node != nh_tls.home) flags |= node_flags(&je_tls, slot);
    void *p = nhje_mallocx(size ? size : 1, flags);
    if (!p) errno = ENOMEM;
    return p;
}

static void *realloc_node(void *p, size_t size, int node) {
    void *q = nhje_rallocx(p, size, node_flags(&je_tls, heap_slot_of_node(node)));
    if (!q) errno = ENOMEM;
    return q;
}

static void *realloc_large(void *p, size_t size);

void *engine_realloc(void *p, size_t size) {
    if (route_charge(ROUTE_NOMINAL_CHARGE)) route_slow(&nh_tls);
    int node = region_node_of(p);
    /* the object keeps its node at every size; the interleaved ones stay interleaved */
    void *q = node == NH_NODE_INTERLEAVED       ? realloc_large(p, size)
              : node < 0 || node == nh_tls.home ? nhje_realloc(p, size)
                                                : realloc_node(p, size, node);
    return fix_errno(q);
}

void je_free_remote(void *p, int node) {
    int slot = heap_slot_of_node(node);
    je_thread_t *ts = &je_tls;
    if (nh_tls.home < 0 && node < 0) { /* before routing, or memory from before init */
        nhje_free(p);
        return;
    }
    /* Into this thread's cache of that node's objects if it has one, else straight home. */
    unsigned tc = slot >= 0 ? ts->tcache[slot] : 0;
    nhje_dallocx(p, tc && tc != TCACHE_NONE_MARK ? MALLOCX_TCACHE(tc - 1) : MALLOCX_TCACHE_NONE);
}

/* Large objects bypass thread caches: they are rare, and a cache would hold them on one node's
 * thread. */
static void *malloc_large(size_t size, size_t align, bool zero) {
    int flags = MALLOCX_ARENA(large_arena) | MALLOCX_TCACHE_NONE;
    void *p =
        nhje_mallocx(size, flags | (align ? MALLOCX_ALIGN(align) : 0) | (zero ? MALLOCX_ZERO : 0));
    if (!p) errno = ENOMEM;
    return p;
}

static void *realloc_large(void *p, size_t size) {
    void *q = nhje_rallocx(p, size, MALLOCX_ARENA(large_arena) | MALLOCX_TCACHE_NONE);
    if (!q) errno = ENOMEM;
    return q;
}

static uint64_t arena_stat(unsigned ind, const char *what) {
    char name[96];
    fmt_buf(name, sizeof name, "stats.arenas.%u.%s", ind, what);
    size_t v = 0, sz = sizeof v;
    return nhje_mallctl(name, &v, &sz, NULL, 0) ? 0 : v;
}

static void add_arena_stats(unsigned ind, nh_stats_t *out) {
    /* jemalloc counts objects parked in thread caches as allocated; they are not live */
    uint64_t held = arena_stat(ind, "small.allocated") + arena_stat(ind, "large.allocated");
    uint64_t cached = arena_stat(ind, "tcache_bytes") + arena_stat(ind, "tcache_stashed_bytes");
    out->allocated += held > cached ? held - cached : 0;
    out->active += arena_stat(ind, "pactive") * NH_PAGE;
    out->resident += arena_stat(ind, "resident");
    out->arenas++;
}

static void refresh_stats(void) {
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    nhje_mallctl("epoch", &epoch, &sz, &epoch, sz);
}

int engine_node_stats(int node, nh_stats_t *out) {
    if (node == NH_NODE_INTERLEAVED) {
        refresh_stats();
        add_arena_stats(large_arena, out);
        return 0;
    }
    int slot = heap_slot_of_node(node);
    if (slot < 0) return EINVAL;
    refresh_stats();
    for (unsigned i = 0; i < narenas[slot]; i++)
        add_arena_stats(arena_ind[slot][i], out);
    return 0;
}

/* Nothing is cached: a request of ROUTE_CHECK_BYTES or more always overdraws the routing budget
 * and reaches the slow paths, which read heap_large_threshold (tune.c keeps it that large). */
void engine_large_threshold_changed(void) {}

/* jemalloc's own decay applies (NUMAHEAP_JE's dirty_decay_ms), fixed at init. */
int engine_set_decay(unsigned ms) {
    (void)ms;
    return EOPNOTSUPP;
}
