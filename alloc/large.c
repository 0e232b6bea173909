/* Large objects (NUMAHEAP_LARGE_THRESHOLD and up) are spread over nodes instead of living on
 * one: they come from a dedicated region (the slice after the node regions) whose spans are
 * bound, as they are handed out, by the large policy: MPOL_INTERLEAVE; MPOL_WEIGHTED_INTERLEAVE
 * where the kernel has it and the weights are the kernel's; otherwise a userspace weighted
 * stripe, runs of STRIPE_UNIT * weight bytes preferring each node in turn (MPOL_PREFERRED, so
 * a full node is a fallback, never an OOM kill). */
#include "alloc_internal.h"

#include <errno.h>
#include <numaif.h>

/* Big enough that a 64 MiB object needs a handful of mbind calls (and VMAs), small enough that
 * weights still show at that size. */
#define STRIPE_UNIT (2ul << 20)

/* The policy in force, one of a few copies: a change of the cpuset's nodes (mems.c) writes the
 * next one and then publishes it, so a thread binding a span meanwhile reads a whole policy,
 * old or new, never half of each. */
#define LARGE_COPIES 4
static struct large_state {
    nh_policy_t policy;
    bool use_stripe;
} copies[LARGE_COPIES];
static unsigned current;

void large_set(const nh_policy_t *p) {
    unsigned next = (__atomic_load_n(&current, __ATOMIC_RELAXED) + 1) % LARGE_COPIES;
    struct large_state *st = &copies[next];
    st->policy = *p;
    st->policy.flags = 0; /* p's nodes are what the flags meant, resolved over the cpuset */
    st->use_stripe = false;
    if (p->mode == NH_MPOL_WEIGHTED_INTERLEAVE) {
        nh_error_t err;
        int mode_flags;
        /* the kernel cannot express these weights, or has no weighted interleave at all */
        st->use_stripe = kernel_policy_args(&st->policy, &mode_flags, &err) != 0;
    }
    __atomic_store_n(&current, next, __ATOMIC_RELEASE);
}

void large_stripe_plan(size_t size, const nh_policy_t *p, size_t unit,
                       void (*emit)(size_t off, size_t len, int node, void *arg), void *arg) {
    size_t off = 0;
    while (off < size) {
        for (int n = mask_next(&p->nodes, 0); n >= 0 && off < size;
             n = mask_next(&p->nodes, n + 1)) {
            size_t len = unit * (p->weights[n] ? p->weights[n] : 1);
            if (len > size - off) len = size - off;
            emit(off, len, n, arg);
            off += len;
        }
    }
}

struct stripe_ctx {
    char *base;
    int err;
};

static void bind_run(size_t off, size_t len, int node, void *arg) {
    struct stripe_ctx *c = arg;
    nh_nodemask_t one;
    mask_zero(&one);
    nh_nodemask_set(&one, node);
    /* preferred, not bind: a full node's run falls back instead of ending in the OOM killer
     * (region.c); under a bind policy the large region's strict commits check the set */
    int e = os_hooks.bind(c->base + off, len, MPOL_PREFERRED, &one);
    if (e && !c->err) c->err = e;
}

int large_bind(void *addr, size_t size) {
    const struct large_state *st = &copies[__atomic_load_n(&current, __ATOMIC_ACQUIRE)];
    if (st->use_stripe) {
        struct stripe_ctx c = {addr, 0};
        large_stripe_plan(size, &st->policy, STRIPE_UNIT, bind_run, &c);
        return c.err;
    }
    int mode = st->policy.mode == NH_MPOL_WEIGHTED_INTERLEAVE ? NH_MPOL_WEIGHTED_INTERLEAVE
                                                              : MPOL_INTERLEAVE;
    return os_hooks.bind(addr, size, mode, &st->policy.nodes);
}
