/* Routing: which node's arena serves the calling thread. A thread starts on the node it runs on
 * (or the only node its CPU affinity covers); every ROUTE_CHECK_BYTES of allocation it asks
 * getcpu (glibc reads it from rseq: no system call) where it runs, and after
 * reroute_checks consecutive sightings elsewhere it moves, so a brief migration does not
 * flush its cache. Non-local policies map the CPU's node to a node of the policy; interleave
 * and weighted policies spread threads over their nodes by smooth weighted round-robin, so
 * thread counts follow the weights at every moment, not only on average. When the cpuset's
 * memory nodes change (mems.c), the tables are rebuilt over the nodes the policy now means and
 * every thread decides again at its next check, as a new thread would. */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread thread_state_t nh_tls
    __attribute__((tls_model("initial-exec"))) = {.home = -1, .bound = -1, .last_cpu = -1};

static nh_policy_t route_policy;
static unsigned reroute_checks;
/* Interleave and weighted: one period of the smooth weighted round-robin over the policy's
 * nodes, computed at init; thread k takes entry k mod the period (a fetch-add, no lock that a
 * fork could inherit held). */
#define SPREAD_MAX (NH_MAX_SLOTS * 255)
static int16_t spread_seq[SPREAD_MAX];
static unsigned spread_len, spread_ticket;
/* For non-interleave policies: the node + 1 a thread running on each CPU should use (0: none),
 * so the periodic check is getcpu and one load. Only the machine's CPUs are ever written: the
 * rest of the table stays in zero pages. */
static int16_t cpu_target1[NH_MAX_CPUS];

static int target_node(int cpu_node);

void route_swrr_init(route_swrr_t *s, const nh_nodemask_t *nodes, const uint8_t *weights) {
    s->k = 0;
    s->total = 0;
    for (int n = mask_next(nodes, 0); n >= 0 && s->k < NH_MAX_SLOTS; n = mask_next(nodes, n + 1)) {
        int w = weights && weights[n] ? weights[n] : 1;
        s->node[s->k] = (int16_t)n;
        s->weight[s->k] = w;
        s->credit[s->k++] = 0;
        s->total += w;
    }
}

int route_swrr_next(route_swrr_t *s) {
    if (!s->k) return -1;
    int best = 0;
    for (int i = 0; i < s->k; i++) {
        s->credit[i] += s->weight[i];
        if (s->credit[i] > s->credit[best]) best = i; /* ties: the lower node */
    }
    s->credit[best] -= s->total;
    return s->node[best];
}

/* The weights threads are spread by: the policy's own (resolved onto the nodes they now mean);
 * for weighted without them the kernel's system-wide ones (sysfs), as MPOL_WEIGHTED_INTERLEAVE
 * would use; 1 each for interleave. */
static void spread_weights(const nh_policy_t *p, uint8_t *w) {
    for (int n = mask_next(&p->nodes, 0); n >= 0; n = mask_next(&p->nodes, n + 1)) {
        int k = p->mode != NH_MPOL_WEIGHTED_INTERLEAVE ? 1
                : p->weights[n]                        ? p->weights[n]
                                                       : kernel_wi_weight(n);
        w[n] = (uint8_t)(k > 0 && k < 256 ? k : 1);
    }
}

static bool spreads(void) {
    return route_policy.mode == NH_MPOL_INTERLEAVE ||
           route_policy.mode == NH_MPOL_WEIGHTED_INTERLEAVE;
}

/* The tables from route_policy (its nodes and weights already resolved). Rewritten in place
 * after a cpuset change: a thread deciding meanwhile may read a mix, and decides again when it
 * sees the new mems_epoch, bumped only once this is done. */
static void build_tables(void) {
    static uint8_t weights[NH_MAX_NODES];
    static route_swrr_t order;
    memset(weights, 0, sizeof weights);
    spread_weights(&route_policy, weights);
    route_swrr_init(&order, &route_policy.nodes, weights);
    unsigned len = (unsigned)order.total;
    for (unsigned i = 0; i < len; i++)
        spread_seq[i] = (int16_t)route_swrr_next(&order);
    __atomic_store_n(&spread_len, len, __ATOMIC_RELAXED);
    const topo_t *t = topo_get();
    for (int cpu = 0; cpu <= t->max_cpu && cpu < NH_MAX_CPUS; cpu++)
        cpu_target1[cpu] = (int16_t)(spreads() ? 0 : target_node(topo_cpu_node(t, cpu)) + 1);
}

/* route_policy: the small-object policy as it applies now. */
static void take_resolved(void) {
    static nh_policy_t p; /* (init, or the one thread updating: mems.c) */
    mems_applied(&p);
    route_policy.mode = p.mode;
    route_policy.nodes = p.nodes;
    memcpy(route_policy.weights, p.weights, sizeof p.weights);
}

void route_init(const config_t *c) {
    reroute_checks = c->reroute_checks ? c->reroute_checks : 1;
    take_resolved();
    build_tables();
}

void route_update(void) {
    take_resolved();
    build_tables();
}

/* Node of the CPU this thread runs on now (rseq-backed getcpu). */
static int route_cpu_node(void) {
    int cpu = sched_getcpu();
    return topo_cpu_node(topo_get(), cpu);
}

static int cpu_now(void) {
    int cpu = route_cpu_fast();
    return cpu >= 0 ? cpu : sched_getcpu();
}

/* Distance from node from to n for ordering: SLIT where known, else after every known one. */
static int distance(int from, int n) {
    const topo_t *t = topo_get();
    if (n == from) return 0;
    if (from >= 0 && from < NH_TOPO_DIST_NODES && n < NH_TOPO_DIST_NODES && t->distance[from][n])
        return t->distance[from][n];
    return 1000 + n;
}

/* The node of heap_allowed (and of set, when given) nearest to from. */
static int nearest(int from, const nh_nodemask_t *set) {
    int best = -1, best_d = 1 << 30;
    for (int n = mask_next(&heap_allowed, 0); n >= 0; n = mask_next(&heap_allowed, n + 1)) {
        if (set && !nh_nodemask_isset(set, n)) continue;
        int d = distance(from, n);
        if (d < best_d) best = n, best_d = d;
    }
    return best;
}

int route_nearest(int from, const nh_nodemask_t *set) {
    return nearest(from, set);
}

int route_by_distance(int from, const nh_nodemask_t *set, int *out, int max) {
    int k = 0;
    for (int n = mask_next(&heap_allowed, 0); n >= 0 && k < max;
         n = mask_next(&heap_allowed, n + 1)) {
        if (!nh_nodemask_isset(set, n)) continue;
        int i = k++, d = distance(from, n); /* insertion: stable, so ties stay in node order */
        for (; i > 0 && distance(from, out[i - 1]) > d; i--)
            out[i] = out[i - 1];
        out[i] = n;
    }
    return k;
}

/* The one node the thread's CPU affinity covers, or -1. */
static int affinity_node(void) {
    const topo_t *t = topo_get();
    /* every CPU on one node: any mask covers that node alone, so no system call for each new
     * thread (each a few hundred nanoseconds of a thread start of about 25 µs) */
    if (mask_count(&t->cpus) == 1) return mask_next(&t->cpus, 0);
    cpu_set_t set;
    /* the system call, not libc's wrapper: a text page of libc no other call of ours maps (see
     * clock.c). The kernel writes only the bytes of its own mask. */
    CPU_ZERO(&set);
    if (syscall(SYS_sched_getaffinity, 0, sizeof set, &set) < 0) return -1;
    int node = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu <= t->max_cpu; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        int n = topo_cpu_node(t, cpu);
        if (node >= 0 && n != node) return -1;
        node = n;
    }
    return node;
}

static bool allowed(int node) {
    return node >= 0 && node < NH_MAX_NODES && nh_nodemask_isset(&heap_allowed, node);
}

/* Where a thread running on cpu_node should allocate under the configured policy. */
static int target_node(int cpu_node) {
    switch (route_policy.mode) {
    case NH_MPOL_INTERLEAVE:
    case NH_MPOL_WEIGHTED_INTERLEAVE: {
        /* threads are spread over the nodes in proportion to their weights; a thread stays
         * where it was put */
        unsigned len = __atomic_load_n(&spread_len, __ATOMIC_RELAXED);
        if (!len) return nearest(cpu_node, NULL);
        unsigned k = __atomic_fetch_add(&spread_ticket, 1, __ATOMIC_RELAXED) % len;
        int n = spread_seq[k];
        return allowed(n) ? n : nearest(cpu_node, NULL);
    }
    case NH_MPOL_PREFERRED:
    case NH_MPOL_BIND:
    case NH_MPOL_PREFERRED_MANY:
        if (!mask_empty(&route_policy.nodes)) {
            int n = nearest(cpu_node, &route_policy.nodes);
            if (n >= 0) return n;
        }
        /* preferred without nodes is local */
        __attribute__((fallthrough));
    default:
        return nearest(cpu_node, NULL);
    }
}

static void attach(thread_state_t *ts, int node) {
    if (node >= 0 && engine_attach(node) == 0) {
        region_t *r = region_of_node(node);
        ts->home = node;
        ts->home_base = r->base;
        ts->home_size = r->end - r->base;
    }
    ts->strikes = 0;
    ts->last_cpu = -1;
}

/* NUMAHEAP_MIGRATE_ON_MOVE: the thread leaves node from for want. Its current pages there
 * (engine_hot_ranges, read before the engine lets go of them) come along, at most
 * FOLLOW_BYTES of them: the move is paid by this thread's allocation. */
#define FOLLOW_MAX   64
#define FOLLOW_BYTES (4ul << 20)
static void move_and_follow(thread_state_t *ts, int from, int want) {
    uintptr_t start[FOLLOW_MAX];
    size_t len[FOLLOW_MAX], total = 0;
    bool follow = __atomic_load_n(&heap_config.migrate_on_move, __ATOMIC_RELAXED); /* nh_ctl */
    int n = follow ? engine_hot_ranges(from, start, len, FOLLOW_MAX) : 0;
    for (int i = 0; i < n; i++) {
        if (len[i] > FOLLOW_BYTES - total) len[i] = FOLLOW_BYTES - total;
        total += len[i];
    }
    attach(ts, want);
    if (n && ts->home == want) {
        uint64_t moved = repair_follow(start, len, n, want);
        log_verbose("numaheap: thread moved from node %d to %d: %llu page(s) brought along\n", from,
                    want, (unsigned long long)moved);
    }
}

/* The node a thread starting here (or starting over after a cpuset change) should use. */
static int first_target(void) {
    int n = affinity_node();
    return target_node(n >= 0 ? n : route_cpu_node());
}

static void route_decide(thread_state_t *ts) {
    size_t t = large_threshold();
    size_t b = t - 1 < ROUTE_CHECK_BYTES ? t - 1 : ROUTE_CHECK_BYTES;
    ts->budget = heap_check_every_call ? 0 : (ptrdiff_t)b;
    ts->quiet = ROUTE_QUIET_CHECKS;
    if (!heap_ready()) return;
    int cpu = cpu_now();
    unsigned epoch = __atomic_load_n(&mems_epoch, __ATOMIC_ACQUIRE);
    bool changed = ts->epoch != epoch; /* the cpuset's nodes changed since the last decision */
    ts->epoch = epoch;
    if (ts->bound >= 0) {
        /* a node the cpuset took away: the nearest allowed one until it comes back */
        int want = allowed(ts->bound) ? ts->bound : nearest(route_cpu_node(), NULL);
        if (want != ts->home) attach(ts, want);
        ts->last_cpu = cpu;
        return;
    }
    if (ts->home < 0) {
        attach(ts, first_target());
        return;
    }
    if (changed) { /* every policy means other nodes now: decide as a new thread would */
        int want = first_target();
        if (want >= 0 && want != ts->home) move_and_follow(ts, ts->home, want);
        ts->last_cpu = cpu;
        return;
    }
    if (spreads()) {
        ts->last_cpu = cpu;
        return;
    }
    int want = cpu < 0 || cpu >= NH_MAX_CPUS ? -1 : cpu_target1[cpu] - 1;
    if (want < 0 || want == ts->home) {
        ts->strikes = 0;
        ts->last_cpu = cpu; /* until the thread runs elsewhere, nothing to check */
    } else if (++ts->strikes >= reroute_checks || affinity_node() == want) {
        /* hysteresis is for the scheduler's moves; a thread pinned elsewhere stays there */
        move_and_follow(ts, ts->home, want);
    }
}

void route_slow(thread_state_t *ts) {
    mems_poll(); /* first, so that this very decision sees a changed cpuset */
    route_decide(ts);
    repair_poll(); /* here the thread holds nothing of the allocator: see repair.c */
}

int route_bind(int node) {
    /* a node the cpuset does not allow: EINVAL, as mbind gives for it */
    if (!heap_ready() || heap_slot_of_node(node) < 0 || !allowed(node)) return EINVAL;
    thread_state_t *ts = &nh_tls;
    ts->bound = node;
    if (ts->home != node) attach(ts, node);
    return ts->home == node ? 0 : EINVAL;
}

int route_unbind(void) {
    thread_state_t *ts = &nh_tls;
    ts->bound = -1;
    if (!heap_ready()) return 0;
    int want = target_node(route_cpu_node());
    if (want != ts->home) attach(ts, want);
    return 0;
}

int route_current_node(void) {
    thread_state_t *ts = &nh_tls;
    if (ts->home < 0 || ts->epoch != __atomic_load_n(&mems_epoch, __ATOMIC_RELAXED)) route_slow(ts);
    return ts->home;
}
