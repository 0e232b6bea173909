/* Following the cpuset. The kernel rebinds a memory policy when the cpuset's memory nodes
 * change: plain nodes are remapped position for position, MPOL_F_STATIC_NODES keeps the nodes
 * as given and uses those still allowed (none: the default policy), MPOL_F_RELATIVE_NODES
 * folds them onto the new set (policy/rebind.c). numaheap resolves its small-object and large
 * policies into node regions; this file resolves them at init and again whenever the allowed
 * nodes change, which it notices by asking the kernel (os_hooks.mems) at most once per
 * NUMAHEAP_CPUSET_CHECK from the routing check, a slow path that holds no allocator state.
 * Then regions, routing and large objects take the new nodes, and every thread re-routes at
 * its next routing check (mems_epoch). Nothing here allocates. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

unsigned mems_epoch;

/* One resolution of a policy: its nodes (and per-node weights) over the allowed nodes `over`. */
typedef struct resolved {
    nh_nodemask_t nodes, over;
    uint8_t weights[NH_MAX_NODES];
} resolved_t;

static nh_policy_t user_small, user_large; /* as configured: static and relative nodes as given */
static bool large_default;                 /* NUMAHEAP_LARGE_POLICY gave no nodes: the heap's */
static resolved_t small, large;
static int updating; /* one thread updates at a time; the others keep the old view meanwhile */
static unsigned check_ms;
static uint64_t next_check_ms;
/* The policies nh_heap_policy reports, which change with the cpuset for plain ones (as
 * get_mempolicy reports a rebound policy's new nodes): copied in and out under this lock,
 * held for a copy at a time. */
static int reported_lock;

static void lock_reported(void) {
    while (__atomic_exchange_n(&reported_lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&reported_lock, __ATOMIC_RELAXED)) {}
}

static void unlock_reported(void) {
    __atomic_store_n(&reported_lock, 0, __ATOMIC_RELEASE);
}

/* The default large policy (interleave over p's nodes) becomes weighted where the machine
 * reports differing bandwidths: the kernel's auto weights, or HMAT's (policy/weights.c). */
static void large_default_from_hardware(nh_policy_t *p) {
    p->mode = NH_MPOL_INTERLEAVE;
    uint8_t *w = p->weights;
    memset(w, 0, sizeof p->weights);
    int source = weights_auto(NH_SYSFS_WEIGHTED, NH_SYSFS_NODES, &p->nodes, w);
    int first = -1;
    bool differ = false;
    for (int n = mask_next(&p->nodes, 0); n >= 0; n = mask_next(&p->nodes, n + 1)) {
        int v = source == NH_WEIGHTS_KERNEL ? kernel_wi_weight(n) : w[n];
        if (first < 0) first = v;
        differ |= v != first;
    }
    if (differ && (source == NH_WEIGHTS_HMAT || kernel_caps()->weighted_interleave)) {
        p->mode = NH_MPOL_WEIGHTED_INTERLEAVE;
        return;
    }
    memset(w, 0, sizeof p->weights);
}

/* The temporaries of an update are static, not on the stack of whichever thread updates (a
 * few KiB): only the one holding `updating` (or init) is ever here. */
static void resolve(const nh_policy_t *p, resolved_t *r, const nh_nodemask_t *mems, bool first) {
    static resolved_t old;
    old = *r;
    if (first)
        policy_resolve(p, mems, &r->nodes, r->weights);
    else
        policy_rebind(p, &old.nodes, old.weights, &old.over, mems, &r->nodes, r->weights);
    r->over = *mems;
}

/* heap_policy_nodes, heap_bind, the large policy and the reported policies, from the user's
 * policies over heap_allowed (first: at init, as the kernel resolves a policy when it is set). */
static void resolve_all(bool first) {
    resolve(&user_small, &small, &heap_allowed, first);
    bool bind = user_small.mode == NH_MPOL_BIND && !mask_empty(&small.nodes);
    static nh_policy_t lp;
    lp = user_large;
    if (large_default) { /* the heap's nodes, under bind the bound ones, weighted by hardware */
        lp.nodes = bind ? small.nodes : heap_allowed;
        large_default_from_hardware(&lp);
    } else {
        resolve(&user_large, &large, &heap_allowed, first);
        lp.nodes = large.nodes;
        memcpy(lp.weights, large.weights, sizeof lp.weights);
        if (bind) mask_and(&lp.nodes, &lp.nodes, &small.nodes);
        if (mask_empty(&lp.nodes)) lp.nodes = bind ? small.nodes : heap_allowed;
    }
    heap_policy_nodes = small.nodes;
    heap_bind = bind;
    lock_reported();
    if (!(user_small.flags & (NH_MPOL_F_STATIC_NODES | NH_MPOL_F_RELATIVE_NODES)) &&
        !mask_empty(&user_small.nodes)) {
        /* a plain policy is what it has been remapped to, as get_mempolicy would say */
        heap_config.policy.nodes = small.nodes;
        memcpy(heap_config.policy.weights, small.weights, sizeof small.weights);
    }
    if (large_default) {
        heap_config.large_policy.mode = lp.mode;
        heap_config.large_policy.nodes = lp.nodes;
        memcpy(heap_config.large_policy.weights, lp.weights, sizeof lp.weights);
    } else if (!(user_large.flags & (NH_MPOL_F_STATIC_NODES | NH_MPOL_F_RELATIVE_NODES))) {
        heap_config.large_policy.nodes = lp.nodes;
        memcpy(heap_config.large_policy.weights, lp.weights, sizeof lp.weights);
    }
    unlock_reported();
    large_set(&lp);
}

/* fork: a child forked while another thread was inside an update or a copy of the reported
 * policies would find `updating` or the lock taken forever (nh_heap_policy would spin). prepare
 * waits for both to be free and takes them; parent and child give them back. */
static void fork_prepare(void) {
    int expect = 0;
    while (!__atomic_compare_exchange_n(&updating, &expect, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
        expect = 0;
    lock_reported();
}

static void fork_release(void) {
    unlock_reported();
    __atomic_store_n(&updating, 0, __ATOMIC_RELEASE);
}

int mems_fork_register(void) {
    return pthread_atfork(fork_prepare, fork_release, fork_release);
}

void mems_init(config_t *c) {
    user_small = c->policy;
    user_large = c->large_policy;
    large_default = mask_empty(&c->large_policy.nodes);
    check_ms = c->cpuset_check_ms;
    memset(&small, 0, sizeof small);
    memset(&large, 0, sizeof large);
    resolve_all(true);
}

void mems_applied(nh_policy_t *out) {
    policy_init(out, user_small.mode);
    out->nodes = small.nodes;
    memcpy(out->weights, small.weights, sizeof out->weights);
}

void mems_reported(nh_policy_t *small_out, nh_policy_t *large_out) {
    lock_reported();
    if (small_out) *small_out = heap_config.policy;
    if (large_out) *large_out = heap_config.large_policy;
    unlock_reported();
}

bool mems_update(const nh_nodemask_t *allowed) {
    nh_nodemask_t now;
    mask_and(&now, allowed, &heap_nodes);
    /* a cpuset always allows some memory; an empty answer says nothing numaheap can use */
    if (mask_empty(&now) || mask_equal(&now, &heap_allowed)) return false;
    int expect = 0;
    if (!__atomic_compare_exchange_n(&updating, &expect, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false; /* another thread is at it; the next check looks again */
    nh_nodemask_t before = heap_allowed;
    heap_allowed = now;
    resolve_all(false);
    regions_update(&heap_config);
    route_update();
    __atomic_fetch_add(&mems_epoch, 1, __ATOMIC_RELEASE); /* every thread re-routes */
    if (heap_config.verbose) {
        static char from[256], to[256], pol[256], nodes[256];
        static nh_policy_t p;
        nh_nodemask_format(&before, from, sizeof from);
        nh_nodemask_format(&now, to, sizeof to);
        fmt_buf(nodes, sizeof nodes, "local");
        if (!mask_empty(&heap_policy_nodes))
            nh_nodemask_format(&heap_policy_nodes, nodes, sizeof nodes);
        mems_reported(&p, NULL);
        policy_format(&p, pol, sizeof pol);
        log_verbose("numaheap: the cpuset's memory nodes changed from %s to %s: policy %s now "
                    "means %s\n",
                    from, to, pol, nodes);
    }
    __atomic_store_n(&updating, 0, __ATOMIC_RELEASE);
    return true;
}

int mems_check(void) {
    if (!__atomic_load_n(&check_ms, __ATOMIC_RELAXED))
        return 0; /* NUMAHEAP_CPUSET_CHECK=off: the nodes stay what they were */
    nh_nodemask_t m;
    mask_zero(&m);
    int e = os_hooks.mems(&m);
    if (e) return e;
    mems_update(&m);
    return 0;
}

void mems_poll(void) {
    unsigned every = __atomic_load_n(&check_ms, __ATOMIC_RELAXED);
    if (!every || __atomic_load_n(&heap_state, __ATOMIC_ACQUIRE) != HEAP_READY) return;
    uint64_t now = nh_clock_ms(), next = __atomic_load_n(&next_check_ms, __ATOMIC_RELAXED);
    if (now < next || !__atomic_compare_exchange_n(&next_check_ms, &next, now + every, false,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;        /* not yet, or another thread is looking */
    int saved = errno; /* a malloc that succeeds leaves errno alone */
    int e = mems_check();
    errno = saved;
    if (e) { /* the kernel will not say (seccomp): nothing to follow, and no more asking */
        log_verbose("numaheap: the cpuset's memory nodes cannot be read (errno %d): the heap "
                    "keeps the nodes it started with\n",
                    e);
        __atomic_store_n(&check_ms, 0, __ATOMIC_RELAXED);
    }
}
