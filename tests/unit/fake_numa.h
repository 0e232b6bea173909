/* A whole numaheap heap on a fake multi-node machine, on a one-node host. A test program
 * re-executes itself (fake_numa_exec) with the fake sysfs tree of fake_topo.h and the nodes
 * its cpuset allows at start; before anything can call malloc, the child's preinit hook
 * replaces the topology snapshot with that tree and puts a fake kernel behind os_hooks: mbind
 * succeeds and is counted, move_pages reports each page on its region's node (the large
 * region's on the first bound node, else the first allowed one; for a node the fake cpuset does
 * not allow, on the first one it does, where the kernel would have put it) and moves pages only
 * to allowed nodes, and get_mempolicy(MPOL_F_MEMS_ALLOWED) answers
 * fake_numa.mems, which the test changes as a cpuset would. */
#ifndef NH_FAKE_NUMA_H
#define NH_FAKE_NUMA_H

#include "alloc_internal.h"

typedef struct fake_numa {
    bool active;         /* this process runs on the fake machine */
    nh_nodemask_t mems;  /* what the fake cpuset allows now */
    unsigned mems_calls; /* get_mempolicy(MPOL_F_MEMS_ALLOWED) asked */
    unsigned binds[8];   /* mbind calls naming node N (MPOL_PREFERRED of a region) */
    unsigned interleave_binds;
    nh_nodemask_t last_interleave; /* the nodes of the last MPOL_INTERLEAVE mbind */
    unsigned moves, moves_refused;
    /* pages [moved_away_start, +len) are where the cgroup moved them (the first allowed node)
     * until move_pages brings them back */
    uintptr_t away_start;
    size_t away_len;
    bool away_back; /* set once they have been moved */
} fake_numa_t;

extern fake_numa_t fake_numa;

/* Runs this program again as a child on the fake 4-node machine (fake_topo.h) whose cpuset
 * allows mems (a node list) at start, with the environment additions env (NULL-terminated,
 * "NAME=value") and NH_FAKE_SCENARIO=scenario; returns its exit status (-1: killed). */
int fake_numa_exec(const char *scenario, const char *mems, const char *const *env);
/* In the child: the scenario named by the parent, or NULL in the parent. */
const char *fake_numa_scenario(void);
/* A node list ("0,2-3") as a mask. */
nh_nodemask_t fake_numa_mask(const char *list);

#endif
