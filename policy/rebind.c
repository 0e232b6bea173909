/* A policy's nodes over the nodes the process may use, as the kernel computes them: when the
 * policy is set (mpol_set_nodemask) and again whenever the cpuset's memory nodes change
 * (mpol_rebind_*, described in set_mempolicy(2) and numa_memory_policy.rst). Plain nodes are
 * remapped position for position onto the new set, MPOL_F_STATIC_NODES keeps the nodes as
 * given and uses those still allowed, MPOL_F_RELATIVE_NODES numbers nodes within the set and
 * folds them onto it. Pure functions over masks: no allocation, no system call. */
#include "policy_internal.h"

#include <string.h>

/* The allowed nodes in order, into nth; returns how many. */
static int ordered(const nh_nodemask_t *set, int16_t *nth) {
    int k = 0;
    for (int n = mask_next(set, 0); n >= 0; n = mask_next(set, n + 1))
        nth[k++] = (int16_t)n;
    return k;
}

/* Position of n among set's nodes, -1 if n is not in set. */
static int position(const nh_nodemask_t *set, int n) {
    if (!nh_nodemask_isset(set, n)) return -1;
    int k = 0;
    for (int m = mask_next(set, 0); m >= 0 && m < n; m = mask_next(set, m + 1))
        k++;
    return k;
}

/* Weights that land on one node add up, as both shares now go there. */
static void add_weight(uint8_t *w, int n, unsigned v) {
    unsigned sum = w[n] + v;
    w[n] = (uint8_t)(sum > 255 ? 255 : sum);
}

void policy_effective_nodes(const nh_policy_t *p, const nh_nodemask_t *usable, nh_nodemask_t *out) {
    policy_resolve(p, usable, out, NULL);
}

void policy_resolve(const nh_policy_t *p, const nh_nodemask_t *usable, nh_nodemask_t *out,
                    uint8_t *weights) {
    mask_zero(out);
    if (weights) memset(weights, 0, NH_MAX_NODES);
    if (!(p->flags & NH_MPOL_F_RELATIVE_NODES)) {
        mask_and(out, &p->nodes, usable);
        for (int n = mask_next(out, 0); weights && n >= 0; n = mask_next(out, n + 1))
            weights[n] = p->weights[n];
        return;
    }
    int16_t nth[NH_MAX_NODES];
    int k = ordered(usable, nth);
    if (!k) return;
    for (int r = mask_next(&p->nodes, 0); r >= 0; r = mask_next(&p->nodes, r + 1)) {
        nh_nodemask_set(out, nth[r % k]);
        if (weights) add_weight(weights, nth[r % k], p->weights[r]);
    }
}

void policy_remap_nodes(const nh_nodemask_t *nodes, const nh_nodemask_t *from,
                        const nh_nodemask_t *to, nh_nodemask_t *out, const uint8_t *weights,
                        uint8_t *out_weights) {
    int16_t nth[NH_MAX_NODES];
    int k = ordered(to, nth);
    nh_nodemask_t m;
    mask_zero(&m);
    if (out_weights) memset(out_weights, 0, NH_MAX_NODES);
    for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1)) {
        int pos = k ? position(from, n) : -1;
        int to_node = pos < 0 ? n : nth[pos % k]; /* outside from (or nothing to map onto): n */
        nh_nodemask_set(&m, to_node);
        if (out_weights && weights) add_weight(out_weights, to_node, weights[n]);
    }
    *out = m;
}

void policy_rebind(const nh_policy_t *p, const nh_nodemask_t *cur, const uint8_t *cur_weights,
                   const nh_nodemask_t *from, const nh_nodemask_t *to, nh_nodemask_t *out,
                   uint8_t *out_weights) {
    if (mask_empty(&p->nodes)) { /* default, local, preferred without nodes: nothing to map */
        mask_zero(out);
        if (out_weights) memset(out_weights, 0, NH_MAX_NODES);
        return;
    }
    if (p->flags & (NH_MPOL_F_STATIC_NODES | NH_MPOL_F_RELATIVE_NODES)) {
        /* both start again from the nodes as given; static may end empty (the caller's
         * default policy), relative only when nothing is allowed at all */
        policy_resolve(p, to, out, out_weights);
        return;
    }
    policy_remap_nodes(cur, from, to, out, cur_weights, out_weights);
    mask_and(out, out, to);
    if (mask_empty(out)) { /* mpol_rebind_nodemask: an empty remap is the whole new set */
        *out = *to;
        bool own = false; /* per-policy weights stay per-policy: 1 each */
        for (int n = 0; cur_weights && n < NH_MAX_NODES; n++)
            own |= cur_weights[n] != 0;
        for (int n = mask_next(to, 0); out_weights && n >= 0; n = mask_next(to, n + 1))
            out_weights[n] = own;
    }
}
