/* Node regions: one virtual reservation cut into a fixed-size region per node, each bound to its
 * node with mbind, handing out spans to the node's arenas. Because all regions share one
 * reservation of power-of-two slices, the home node of any address is a subtraction and a
 * shift.
 *
 * Two commit modes. Implicit (default): the reservation is readable and writable with
 * MAP_NORESERVE, so a span is usable as soon as it is handed out and the kernel places pages
 * on first touch by the region's policy. Explicit (vm.overcommit_memory=2, strict mode, or
 * NUMAHEAP_EXPLICIT_COMMIT=1): the reservation is PROT_NONE, which costs no commit charge, and
 * pieces are made writable as jemalloc commits them. mprotect keeps the VMA's mbind policy, so
 * binding once covers every later commit.
 *
 * Strict mode: every commit is populated and then verified page by page with move_pages; a
 * commit with any page off its node is undone and fails with ENOMEM. The region is bound
 * MPOL_PREFERRED, not MPOL_BIND: the lab showed (6.1, 6.12) that populating an exhausted
 * MPOL_BIND node ends in the OOM killer's SIGKILL, not in an error we could return.
 * A bind policy (NUMAHEAP_POLICY=bind:..., or one inherited from numactl) switches the same
 * machinery on for the bound nodes' regions and the large region, so that "bind" means what the
 * kernel's MPOL_BIND means, never another node's pages, with ENOMEM where the kernel would
 * call the OOM killer. With the balancing flag, a commit is populated under MPOL_PREFERRED as
 * always and only then, verified, marked MPOL_BIND|MPOL_F_NUMA_BALANCING over the bound set:
 * no page of it is ever faulted in under MPOL_BIND by numaheap, yet the kernel's NUMA
 * balancing may move its pages between the bound nodes (which audit then reports). */
#include "alloc_internal.h"
#include "region_table.h"

#include <errno.h>
#include <numaif.h>
#include <string.h>
#include <sys/mman.h>

#define MIN_REGION_SIZE (64ul << 20) /* still many segments, under a tight RLIMIT_AS too */

static region_t regions[NH_MAX_SLOTS + 1];
static int large_slot;
region_map_t region_map;

static uintptr_t align_up(uintptr_t v, size_t a) {
    return (v + a - 1) & ~(uintptr_t)(a - 1);
}

/* Binds [addr, addr+size) of r MPOL_PREFERRED to r's node. */
static int prefer_node(region_t *r, void *addr, size_t size) {
    nh_nodemask_t one;
    mask_zero(&one);
    nh_nodemask_set(&one, r->node);
    /* preferred falls back to other nodes when this one is full; strict mode catches that in
     * region_commit rather than binding (see the top of this file) */
    return os_hooks.bind(addr, size, MPOL_PREFERRED, &one);
}

_Static_assert(NH_MAX_SLOTS + 1 <= NH_REGION_TABLE_MAX, "the region table holds every region");

/* Where the kernel cannot name the regions' mappings, the region table (region_table.h) is how
 * tools outside find them. Best effort: without it they see no heap, nothing else changes. */
static void publish_table(int nslots) {
    union {
        nh_region_table_t t;
        char bytes[NH_REGION_TABLE_SIZE];
    } u = {.t = {.magic = NH_REGION_TABLE_MAGIC,
                 .version = NH_REGION_TABLE_VERSION,
                 .entry_size = sizeof(nh_region_entry_t)}};
    for (int i = 0; i <= nslots && i < (int)NH_REGION_TABLE_MAX; i++)
        u.t.entries[u.t.count++] = (nh_region_entry_t){
            regions[i].base, regions[i].end,
            regions[i].node == NH_NODE_INTERLEAVED ? NH_REGION_TABLE_SPREAD : regions[i].node, 0};
    os_publish(NH_REGION_TABLE_NAME, &u, sizeof u);
}

static int bind_region(region_t *r) {
    return prefer_node(r, (void *)r->base, r->end - r->base);
}

bool region_strictness(bool strict, const nh_nodemask_t *bound, int node,
                       nh_nodemask_t *verify_nodes) {
    mask_zero(verify_nodes);
    if (node == NH_NODE_INTERLEAVED) { /* spread by the large policy: only bind constrains it */
        if (bound) *verify_nodes = *bound;
        return bound != NULL;
    }
    if (!strict && !(bound && nh_nodemask_isset(bound, node))) return false;
    nh_nodemask_set(verify_nodes, node);
    return true;
}

/* What a commit of r checks, as region_commit reads it. */
typedef struct strictness {
    bool populate, verify, balancing;
    nh_nodemask_t verify_nodes, balance_nodes;
} strictness_t;

/* r's strict commit mode; a bound region the kernel would not bind stays first touch (bind
 * asked for placement, not for failing every allocation), unlike NUMAHEAP_STRICT. */
static void strictness_of(const region_t *r, const config_t *c, strictness_t *st) {
    memset(st, 0, sizeof *st);
    /* A node the cpuset does not allow: nothing is placed there (routing and the node API keep
     * off it), and what is (an engine's metadata, realloc keeping an object's node) goes where
     * the cpuset puts it; checking it against the node could only fail. */
    if (!r->spread && !nh_nodemask_isset(&heap_allowed, r->node)) return;
    st->populate = region_strictness(c->strict, heap_bind ? &heap_policy_nodes : NULL, r->node,
                                     &st->verify_nodes);
    if (r->spread) st->populate |= c->strict;
    if (st->populate && r->bind_errno && !c->strict) {
        log_warn("warning: node %d: mbind refused (errno %d): bind cannot be enforced, "
                 "first-touch placement\n",
                 r->node, r->bind_errno);
        st->populate = false;
    }
    st->verify = st->populate && !r->bind_errno && !mask_empty(&st->verify_nodes);
    /* node regions only: the large region keeps its interleave */
    st->balancing =
        st->verify && !r->spread && heap_bind && (c->policy.flags & NH_MPOL_F_NUMA_BALANCING);
    if (st->balancing) st->balance_nodes = heap_policy_nodes;
}

/* Writes st into r between two increments of r->mask_seq (odd while writing; the stores are
 * releases, so none is seen before the first increment). */
static void set_strictness(region_t *r, const strictness_t *st) {
    __atomic_fetch_add(&r->mask_seq, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&r->populate, st->populate, __ATOMIC_RELEASE);
    __atomic_store_n(&r->verify, st->verify, __ATOMIC_RELEASE);
    __atomic_store_n(&r->balancing, st->balancing, __ATOMIC_RELEASE);
    for (int w = 0; w < NH_MAX_NODES / 64; w++) {
        __atomic_store_n(&r->verify_nodes.bits[w], st->verify_nodes.bits[w], __ATOMIC_RELEASE);
        __atomic_store_n(&r->balance_nodes.bits[w], st->balance_nodes.bits[w], __ATOMIC_RELEASE);
    }
    __atomic_fetch_add(&r->mask_seq, 1, __ATOMIC_RELEASE);
}

/* What region_commit checks, all of it from one side of a cpuset change. (The fields are
 * loaded with acquire, so that the second look at the count cannot come before them: the
 * fence that would do it is not one the thread sanitizer understands.) */
static void read_strictness(const region_t *r, strictness_t *st) {
    for (;;) {
        unsigned s = __atomic_load_n(&r->mask_seq, __ATOMIC_ACQUIRE);
        if (s & 1) continue;
        st->populate = __atomic_load_n(&r->populate, __ATOMIC_ACQUIRE);
        st->verify = __atomic_load_n(&r->verify, __ATOMIC_ACQUIRE);
        st->balancing = __atomic_load_n(&r->balancing, __ATOMIC_ACQUIRE);
        for (int w = 0; w < NH_MAX_NODES / 64; w++) {
            st->verify_nodes.bits[w] = __atomic_load_n(&r->verify_nodes.bits[w], __ATOMIC_ACQUIRE);
            st->balance_nodes.bits[w] =
                __atomic_load_n(&r->balance_nodes.bits[w], __ATOMIC_ACQUIRE);
        }
        if (__atomic_load_n(&r->mask_seq, __ATOMIC_RELAXED) == s) return;
    }
}

static void update_strictness(region_t *r, const config_t *c) {
    strictness_t st;
    strictness_of(r, c, &st);
    set_strictness(r, &st);
}

int regions_init(const config_t *c, const nh_nodemask_t *nodes) {
    int nslots = 0; /* slots are heap.c's numbering: one per node with an arena */
    for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1)) {
        int slot = heap_slot_of_node(n);
        if (slot < 0) continue;
        region_map.slot_node[slot] = n;
        if (slot + 1 > nslots) nslots = slot + 1;
    }
    if (!nslots) return ENODEV;
    size_t size = c->region_size;
    void *base = NULL;
    /* Halve until the address space (or RLIMIT_AS) takes it. */
    /* one more slice after the node regions: the large region */
    for (; size >= MIN_REGION_SIZE; size >>= 1)
        if ((base = os_hooks.reserve(size * (size_t)(nslots + 1), !c->explicit_commit))) break;
    if (!base) return ENOMEM;
    region_map.base = (uintptr_t)base;
    region_map.shift = (unsigned)__builtin_ctzl(size);
    bool unnamed = false;
    for (int i = 0; i < nslots; i++) {
        region_t *r = &regions[i];
        r->node = region_map.slot_node[i];
        r->base = region_map.base + (uintptr_t)i * size;
        r->end = r->base + size;
        r->next = r->base;
        r->explicit_commit = c->explicit_commit;
        /* mbind refuses a node outside the cpuset (EINVAL): such a region waits for it */
        r->bind_pending = !nh_nodemask_isset(&heap_allowed, r->node);
        r->bind_errno = r->bind_pending ? 0 : bind_region(r);
        update_strictness(r, c);
        char name[32];
        fmt_buf(name, sizeof name, "numaheap node %d", r->node);
        unnamed |= os_name((void *)r->base, r->end - r->base, name) != 0;
        if (r->bind_errno)
            log_verbose("numaheap: node %d: mbind refused (errno %d): first-touch placement%s\n",
                        r->node, r->bind_errno, c->strict ? ", strict allocations fail" : "");
    }
    region_t *lr = &regions[nslots];
    lr->node = NH_NODE_INTERLEAVED;
    lr->base = region_map.base + (uintptr_t)nslots * size;
    lr->end = lr->base + size;
    lr->next = lr->base;
    lr->explicit_commit = c->explicit_commit;
    lr->spread = true;
    update_strictness(lr, c);
    unnamed |= os_name((void *)lr->base, lr->end - lr->base, "numaheap large") != 0;
    large_slot = nslots;
    if (unnamed) publish_table(nslots);
    region_map.slot_node[nslots] = NH_NODE_INTERLEAVED;
    region_map.size = size * (size_t)(nslots + 1); /* last: until now no address is inside */
    return 0;
}

void regions_update(const config_t *c) {
    for (int i = 0; i < large_slot; i++) {
        region_t *r = &regions[i];
        if (r->bind_pending && nh_nodemask_isset(&heap_allowed, r->node)) {
            r->bind_errno = bind_region(r);
            r->bind_pending = false;
            if (r->bind_errno)
                log_verbose("numaheap: node %d: mbind refused (errno %d): first-touch "
                            "placement\n",
                            r->node, r->bind_errno);
        }
        update_strictness(r, c);
    }
    update_strictness(&regions[large_slot], c);
}

region_t *region_large(void) {
    return &regions[large_slot];
}

region_t *region_of_node(int node) {
    int slot = heap_slot_of_node(node);
    return slot < 0 ? NULL : &regions[slot];
}

void *region_span_alloc(region_t *r, void *want, size_t size, size_t align, bool *zero) {
    if (align < NH_PAGE) align = NH_PAGE;
    size = align_up(size, NH_PAGE);
    uintptr_t cur = __atomic_load_n(&r->next, __ATOMIC_RELAXED), addr;
    do {
        addr = want ? (uintptr_t)want : align_up(cur, align);
        if ((want && addr != cur) || addr < cur || addr > r->end || size > r->end - addr)
            return NULL; /* only the span right after the last one can be given in place */
    } while (!__atomic_compare_exchange_n(&r->next, &cur, addr + size, true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    if (!r->explicit_commit) __atomic_fetch_add(&r->committed, size, __ATOMIC_RELAXED);
    *zero = true; /* spans are handed out once and never touched before */
    return (void *)addr;
}

/* Strict mode: all of [addr, addr+size) on nodes, as the kernel reports it. */
static bool all_on_nodes(const nh_nodemask_t *nodes, char *addr, size_t size) {
    enum { BATCH = 512 };
    void *pages[BATCH];
    int status[BATCH];
    for (size_t off = 0; off < size;) {
        unsigned long n = 0;
        for (; n < BATCH && off < size; n++, off += NH_PAGE)
            pages[n] = addr + off;
        if (os_hooks.where(n, pages, status)) return false;
        for (unsigned long i = 0; i < n; i++)
            if (!nh_nodemask_isset(nodes, status[i])) return false;
    }
    return true;
}

int region_commit(region_t *r, void *addr, size_t size) {
    if (!r->explicit_commit) return 0;
    strictness_t st;
    read_strictness(r, &st);
    /* Strict: no unbound memory for objects; arena metadata made during init is let through
     * so that allocations, not initialisation, report the kernel's refusal. */
    if (st.populate && r->bind_errno &&
        __atomic_load_n(&heap_state, __ATOMIC_ACQUIRE) == HEAP_READY)
        return r->bind_errno;
    int e = os_hooks.protect(addr, size, true);
    /* a range marked MPOL_BIND by an earlier commit is populated under preferred again */
    if (!e && st.balancing) e = prefer_node(r, addr, size);
    if (!e && st.populate) {
        e = os_populate(addr, size);
        if (!e && st.verify && !all_on_nodes(&st.verify_nodes, addr, size)) {
            /* A transparent huge page the node could not give whole went to another node,
             * where 4 KiB pages may still fit: once more without huge pages, then give up. */
            os_hooks.advise(addr, size, MADV_DONTNEED);
            os_hooks.advise(addr, size, MADV_NOHUGEPAGE);
            e = os_populate(addr, size);
            if (!e && !all_on_nodes(&st.verify_nodes, addr, size)) e = ENOMEM;
        }
        if (e) { /* undo: nothing of a failed commit stays resident or charged */
            os_hooks.advise(addr, size, MADV_DONTNEED);
            os_hooks.protect(addr, size, false);
        } else if (st.balancing) {
            int b = os_hooks.bind(addr, size, MPOL_BIND | (int)NH_MPOL_F_NUMA_BALANCING,
                                  &st.balance_nodes);
            if (b) /* the pages are placed and checked: only the marking is missing */
                log_warn("warning: node %d: MPOL_F_NUMA_BALANCING refused (errno %d): pages "
                         "stay where they are\n",
                         r->node, b);
        }
    }
    if (e) {
        __atomic_fetch_add(&r->commit_failures, 1, __ATOMIC_RELAXED);
        return e;
    }
    __atomic_fetch_add(&r->committed, size, __ATOMIC_RELAXED);
    return 0;
}

int region_decommit(region_t *r, void *addr, size_t size) {
    if (!r->explicit_commit) return EOPNOTSUPP; /* jemalloc purges instead */
    int e = os_hooks.advise(addr, size, MADV_DONTNEED);
    if (!e) e = os_hooks.protect(addr, size, false);
    if (!e) __atomic_fetch_sub(&r->committed, size, __ATOMIC_RELAXED);
    return e;
}

int region_purge(region_t *r, void *addr, size_t size, bool lazy) {
    /* Strict mode: refuse, so jemalloc decommits and re-commits (populating) before reuse. */
    if (__atomic_load_n(&r->populate, __ATOMIC_RELAXED)) return EOPNOTSUPP;
    return os_hooks.advise(addr, size, lazy ? MADV_FREE : MADV_DONTNEED);
}
