/* The topology numaheap topology shows: the library's (the public queries), or, when
 * NH_TEST_SYSFS_NODE names a directory, a fake /sys/devices/system/node tree read there by
 * policy/'s own sysfs reader, so tests can show a machine this one is not (a CPU-less node).
 * The kernel's part (allowed nodes) then follows the tree, as policy/'s fake trees do: the
 * real kernel knows nothing of its nodes. */
#include "cli.h"
#include "policy_internal.h"

#include <stdlib.h>

static topo_t fake;
static const char *fake_root; /* NULL: the library's topology */

const char *cli_topo_root(void) {
    static int read;
    if (!read) {
        read = 1;
        const char *root = getenv("NH_TEST_SYSFS_NODE");
        if (root && *root && topo_read(&fake, root, false) == 0) fake_root = root;
    }
    return fake_root ? fake_root : "/sys/devices/system/node";
}

static const topo_t *faked(void) {
    cli_topo_root();
    return fake_root ? &fake : NULL;
}

int cli_topo_faked(void) {
    return faked() != NULL;
}

int cli_topo_max_node(void) {
    const topo_t *t = faked();
    return t ? t->max_node : nh_max_node();
}

void cli_topo_nodes(nh_nodemask_t *online, nh_nodemask_t *memory, nh_nodemask_t *cpus,
                    nh_nodemask_t *allowed) {
    const topo_t *t = faked();
    if (!t) {
        nh_nodes_online(online);
        nh_nodes_with_memory(memory);
        nh_nodes_with_cpus(cpus);
        nh_nodes_allowed(allowed);
        return;
    }
    *online = t->online;
    *memory = t->memory;
    *cpus = t->cpus;
    *allowed = t->allowed;
}

int cli_topo_node_of_cpu(int cpu) {
    const topo_t *t = faked();
    if (!t) return nh_node_of_cpu(cpu);
    return topo_cpu_node(t, cpu);
}

/* As nh_node_distance: -1 for a node offline or beyond the distance table. */
int cli_topo_distance(int a, int b) {
    const topo_t *t = faked();
    if (!t) return nh_node_distance(a, b);
    if (!nh_nodemask_isset(&t->online, a) || !nh_nodemask_isset(&t->online, b)) return -1;
    if (a >= NH_TOPO_DIST_NODES || b >= NH_TOPO_DIST_NODES) return -1;
    return t->distance[a][b] ? t->distance[a][b] : (a == b ? 10 : -1);
}

int cli_topo_node_info(int node, nh_node_info_t *out) {
    const topo_t *t = faked();
    if (!t) return nh_node_info(node, out);
    if (!nh_nodemask_isset(&t->online, node)) return -1;
    out->mem_total = t->mem_total[node];
    out->mem_free = t->mem_free[node];
    out->ncpus = t->node_ncpus[node];
    return 0;
}
