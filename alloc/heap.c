/* Global state and initialisation. Init runs from the library constructor or from the first
 * malloc, whichever comes first, in a fixed order: topology, capabilities, settings, the
 * policies over the allowed nodes (mems.c), regions, engine, routing. Until it is done (or if it
 * fails) allocations are served by the engine's default arena, so malloc works before and during
 * init; the initialising thread's own nested calls never wait on themselves. */
#include "engine.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

int heap_state;
config_t heap_config;
nh_nodemask_t heap_nodes;
nh_nodemask_t heap_allowed;
nh_nodemask_t heap_policy_nodes;
bool heap_bind;
bool heap_check_every_call;
size_t heap_large_threshold = SIZE_MAX;  /* nothing is large before init */
static int16_t node_slot1[NH_MAX_NODES]; /* slot + 1, 0 = no arena on the node */
static __thread bool initializing __attribute__((tls_model("initial-exec")));

int heap_slot_of_node(int node) {
    return node >= 0 && node < NH_MAX_NODES ? node_slot1[node] - 1 : -1;
}

static bool init_once(void) {
    log_init();
    const topo_t *t = topo_get();
    kernel_caps();
    config_load(&heap_config, NULL, t);
    /* A region for every node with memory, not only those the cpuset allows now: a cpuset may
     * allow more nodes later (mems.c), and a region cannot be added once addresses are out. */
    nh_nodemask_t present, usable;
    mask_and(&present, &t->online, &t->memory);
    topo_usable(t, &usable);
    if (mask_empty(&present)) nh_nodemask_set(&present, 0); /* no NUMA: node 0 */
    if (mask_empty(&usable)) usable = present;
    mask_zero(&heap_nodes);
    int slot = 0;
    for (int pass = 0; pass < 2; pass++) { /* the allowed nodes first, should slots run out */
        for (int n = mask_next(&present, 0); n >= 0 && slot < NH_MAX_SLOTS;
             n = mask_next(&present, n + 1)) {
            if (nh_nodemask_isset(&usable, n) != (pass == 0) || node_slot1[n]) continue;
            node_slot1[n] = (int16_t)++slot;
            nh_nodemask_set(&heap_nodes, n);
        }
    }
    mask_and(&heap_allowed, &usable, &heap_nodes);
    mems_init(&heap_config); /* the policies over the allowed nodes */
    int e = regions_init(&heap_config, &heap_nodes);
    if (!e) e = engine_init(&heap_config, &heap_nodes);
    if (!e) e = mems_fork_register();
    if (e) {
        log_warn("warning: initialisation failed (errno %d); using one plain heap\n", e);
        return false;
    }
    route_init(&heap_config);
    repair_init(&heap_config);
    __atomic_store_n(&heap_large_threshold, heap_config.large_threshold, __ATOMIC_RELAXED);
    for (int n = mask_next(&heap_nodes, 0); n >= 0 && heap_config.strict;
         n = mask_next(&heap_nodes, n + 1))
        if (region_of_node(n)->bind_errno) heap_check_every_call = true;
    if (heap_config.verbose) {
        char pol[256];
        policy_format(&heap_config.policy, pol, sizeof pol);
        log_verbose("numaheap: %d node(s), policy %s%s, %s commit\n", mask_count(&heap_nodes), pol,
                    heap_config.strict ? " (strict)" : "",
                    heap_config.explicit_commit ? "explicit" : "implicit");
    }
    return true;
}

bool heap_init(void) {
    int s = __atomic_load_n(&heap_state, __ATOMIC_ACQUIRE);
    if (s == HEAP_READY) return true;
    if (s == HEAP_FAILED || initializing) return false;
    int expect = HEAP_UNINIT;
    if (!__atomic_compare_exchange_n(&heap_state, &expect, HEAP_INITIALIZING, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        while ((s = __atomic_load_n(&heap_state, __ATOMIC_ACQUIRE)) == HEAP_INITIALIZING)
            sched_yield();
        return s == HEAP_READY;
    }
    initializing = true;
    bool ok = init_once();
    initializing = false;
    __atomic_store_n(&heap_state, ok ? HEAP_READY : HEAP_FAILED, __ATOMIC_RELEASE);
    nh_tls.budget = 0; /* route this thread on its next allocation */
    return ok;
}

__attribute__((constructor)) static void heap_constructor(void) {
    heap_init();
}

__attribute__((destructor)) static void heap_destructor(void) {
    if (__atomic_load_n(&heap_state, __ATOMIC_ACQUIRE) == HEAP_READY && heap_config.stats_at_exit)
        stats_at_exit();
}
