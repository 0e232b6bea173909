/* The fake machine of fake_numa.h: the parent's re-execution, the child's preinit hook and the
 * fake kernel behind os_hooks. */
#include "fake_numa.h"
#include "fake_topo.h"

#include <errno.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

fake_numa_t fake_numa;
static const char *scenario;

nh_nodemask_t fake_numa_mask(const char *list) {
    nh_nodemask_t m;
    mask_zero(&m);
    int bad;
    if (list_parse(list, strlen(list), m.bits, NH_MAX_NODES, NH_MAX_NODES - 1, &bad)) abort();
    return m;
}

/* ---- the fake kernel ------------------------------------------------------------------------ */
static int first_allowed(void) {
    int n = mask_next(&fake_numa.mems, 0);
    return n < 0 ? 0 : n;
}

static int fake_bind(void *addr, size_t size, int mode, const nh_nodemask_t *nodes) {
    if (mode == MPOL_INTERLEAVE || mode == NH_MPOL_WEIGHTED_INTERLEAVE) {
        fake_numa.interleave_binds++;
        fake_numa.last_interleave = *nodes;
    }
    for (int n = mask_next(nodes, 0); mode == MPOL_PREFERRED && n >= 0 && n < 8;
         n = mask_next(nodes, n + 1))
        fake_numa.binds[n]++;
    return 0;
}

static bool away(uintptr_t p) {
    return !fake_numa.away_back && p - fake_numa.away_start < fake_numa.away_len;
}

/* Where the large region's interleave puts a page: on one of its nodes (those of a bind). */
static int large_node(void) {
    nh_nodemask_t m;
    mask_and(&m, &heap_policy_nodes, &fake_numa.mems);
    int n = heap_bind ? mask_next(&m, 0) : -1;
    return n < 0 ? first_allowed() : n;
}

static int fake_where(unsigned long count, void **pages, int *status) {
    for (unsigned long i = 0; i < count; i++) {
        int node = region_node_of(pages[i]);
        if (node == NH_NODE_INTERLEAVED) node = large_node();
        if (node < 0) node = first_allowed();
        if (!nh_nodemask_isset(&fake_numa.mems, node) || away((uintptr_t)pages[i]))
            node = first_allowed(); /* where the kernel put (or moved) it instead */
        status[i] = node;
    }
    return 0;
}

static int fake_move(unsigned long count, void **pages, const int *nodes, int *status) {
    for (unsigned long i = 0; i < count; i++) {
        if (!nh_nodemask_isset(&fake_numa.mems, nodes[i])) { /* the kernel's answer */
            status[i] = -EACCES;
            fake_numa.moves_refused++;
            continue;
        }
        if (away((uintptr_t)pages[i])) fake_numa.away_back = true; /* (the whole object goes) */
        status[i] = nodes[i];
        fake_numa.moves++;
    }
    return 0;
}

static int fake_mems(nh_nodemask_t *out) {
    fake_numa.mems_calls++;
    *out = fake_numa.mems;
    return 0;
}

/* Runs before any library's constructor and before anything calls malloc: the heap starts on
 * the fake machine. Nothing here may allocate. */
static void fake_numa_preinit(int argc, char **argv, char **envp) {
    (void)argc, (void)argv;
    const char *dir = NULL, *mems = NULL;
    for (char **e = envp; e && *e; e++) {
        if (!strncmp(*e, "NH_FAKE_TOPO=", 13)) dir = *e + 13;
        if (!strncmp(*e, "NH_FAKE_MEMS=", 13)) mems = *e + 13;
        if (!strncmp(*e, "NH_FAKE_SCENARIO=", 17)) scenario = *e + 17;
    }
    if (!dir || !mems || !scenario) return;
    if (heap_state != HEAP_UNINIT) abort(); /* too late: the host's topology is in use */
    topo_t *t = (topo_t *)topo_get();
    if (topo_read(t, dir, false)) abort();
    fake_numa.mems = fake_numa_mask(mems);
    t->allowed = fake_numa.mems;
    os_hooks.bind = fake_bind;
    os_hooks.where = fake_where;
    os_hooks.move = fake_move;
    os_hooks.mems = fake_mems;
    fake_numa.active = true;
}
__attribute__((section(".preinit_array"),
               used)) static void (*fake_numa_preinit_p)(int, char **, char **) = fake_numa_preinit;

const char *fake_numa_scenario(void) {
    return scenario;
}

/* ---- the parent's side ---------------------------------------------------------------------- */
int fake_numa_exec(const char *name, const char *mems, const char *const *env) {
    char dir[256], topo_env[300], mems_env[64], scen_env[128];
    topo_t t;
    fake_topo_make(&t, dir, sizeof dir);
    snprintf(topo_env, sizeof topo_env, "NH_FAKE_TOPO=%s", dir);
    snprintf(mems_env, sizeof mems_env, "NH_FAKE_MEMS=%s", mems);
    snprintf(scen_env, sizeof scen_env, "NH_FAKE_SCENARIO=%s", name);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("NUMAHEAP_POLICY"); /* only what the scenario asks for */
        putenv(topo_env);
        putenv(mems_env);
        putenv(scen_env);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execl("/proc/self/exe", "/proc/self/exe", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    fake_topo_remove(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
