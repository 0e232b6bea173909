/* Routing: which node's arena serves the calling thread. A thread starts on the node it runs on
 * (or the only node its CPU affinity covers); every ROUTE_CHECK_BYTES of allocation it asks
 * getcpu (glibc reads it from rseq: no system call) where it runs, and after
 * reroute_checks consecutive sightings elsewhere it moves, so a brief migration does not
 * flush its cache. Non-local policies map the CPU's node to a node of the policy. */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <sched.h>

__thread thread_state_t nh_tls
    __attribute__((tls_model("initial-exec"))) = {.home = -1, .bound = -1, .last_cpu = -1};

static nh_policy_t route_policy;
static unsigned reroute_checks;
static unsigned interleave_rr;
/* For non-interleave policies: the node a thread running on each CPU should use, so the
 * periodic check is getcpu and one load. */
static int16_t cpu_target[NH_MAX_CPUS];

static int target_node(int cpu_node);

void route_init(const config_t *c) {
    route_policy = c->policy;
    reroute_checks = c->reroute_checks ? c->reroute_checks : 1;
    const topo_t *t = topo_get();
    bool spread =
        c->policy.mode == NH_MPOL_INTERLEAVE || c->policy.mode == NH_MPOL_WEIGHTED_INTERLEAVE;
    for (int cpu = 0; cpu < NH_MAX_CPUS; cpu++)
        cpu_target[cpu] =
            (int16_t)(spread || cpu > t->max_cpu ? -1 : target_node(t->cpu_node[cpu]));
}

/* Node of the CPU this thread runs on now (rseq-backed getcpu). */
static int route_cpu_node(void) {
    int cpu = sched_getcpu();
    return cpu < 0 || cpu >= NH_MAX_CPUS ? -1 : topo_get()->cpu_node[cpu];
}

static int cpu_now(void) {
    int cpu = route_cpu_fast();
    return cpu >= 0 ? cpu : sched_getcpu();
}

/* The node of heap_nodes (and of set, when given) nearest to from. */
static int nearest(int from, const nh_nodemask_t *set) {
    const topo_t *t = topo_get();
    int best = -1, best_d = 1 << 30;
    for (int n = mask_next(&heap_nodes, 0); n >= 0; n = mask_next(&heap_nodes, n + 1)) {
        if (set && !nh_nodemask_isset(set, n)) continue;
        int d = n == from ? 0
                : from >= 0 && from < NH_TOPO_DIST_NODES && n < NH_TOPO_DIST_NODES &&
                        t->distance[from][n]
                    ? t->distance[from][n]
                    : 1000 + n;
        if (d < best_d) best = n, best_d = d;
    }
    return best;
}

/* The one node the thread's CPU affinity covers, or -1. */
static int affinity_node(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) return -1;
    const topo_t *t = topo_get();
    int node = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu <= t->max_cpu; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        int n = t->cpu_node[cpu];
        if (node >= 0 && n != node) return -1;
        node = n;
    }
    return node;
}

/* Where a thread running on cpu_node should allocate under the configured policy. */
static int target_node(int cpu_node) {
    switch (route_policy.mode) {
    case NH_MPOL_INTERLEAVE:
    case NH_MPOL_WEIGHTED_INTERLEAVE: {
        /* threads are spread over the nodes; a thread stays where it was put */
        int k = mask_count(&route_policy.nodes);
        unsigned i =
            __atomic_fetch_add(&interleave_rr, 1, __ATOMIC_RELAXED) % (unsigned)(k ? k : 1);
        int n = mask_next(&route_policy.nodes, 0);
        while (i-- && n >= 0)
            n = mask_next(&route_policy.nodes, n + 1);
        return heap_slot_of_node(n) >= 0 ? n : nearest(cpu_node, NULL);
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

void route_slow(thread_state_t *ts) {
    size_t b =
        heap_large_threshold - 1 < ROUTE_CHECK_BYTES ? heap_large_threshold - 1 : ROUTE_CHECK_BYTES;
    ts->budget = heap_check_every_call ? 0 : (ptrdiff_t)b;
    if (!heap_ready()) return;
    int cpu = cpu_now();
    if (ts->bound >= 0) {
        if (ts->home != ts->bound) attach(ts, ts->bound);
        ts->last_cpu = cpu;
        return;
    }
    if (ts->home < 0) {
        int n = affinity_node();
        attach(ts, target_node(n >= 0 ? n : route_cpu_node()));
        return;
    }
    if (route_policy.mode == NH_MPOL_INTERLEAVE ||
        route_policy.mode == NH_MPOL_WEIGHTED_INTERLEAVE) {
        ts->last_cpu = cpu;
        return;
    }
    int want = cpu < 0 || cpu >= NH_MAX_CPUS ? -1 : cpu_target[cpu];
    if (want < 0 || want == ts->home) {
        ts->strikes = 0;
        ts->last_cpu = cpu; /* until the thread runs elsewhere, nothing to check */
    } else if (++ts->strikes >= reroute_checks || affinity_node() == want) {
        /* hysteresis is for the scheduler's moves; a thread pinned elsewhere stays there */
        attach(ts, want);
    }
}

int route_bind(int node) {
    if (!heap_ready() || heap_slot_of_node(node) < 0) return EINVAL;
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
    if (ts->home < 0) route_slow(ts);
    return ts->home;
}
