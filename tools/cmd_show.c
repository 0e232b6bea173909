/* numaheap show: what numactl --show prints of the calling process (memory policy, preferred
 * node, CPU affinity and its nodes, the nodes memory may come from), in numactl's lines, then
 * numaheap's view: the policies it would place by and the engine built in. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "cli.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[NH_MPOL_MODE_COUNT_] = {
    [NH_MPOL_DEFAULT] = "default",
    [NH_MPOL_PREFERRED] = "preferred",
    [NH_MPOL_BIND] = "bind",
    [NH_MPOL_INTERLEAVE] = "interleave",
    [NH_MPOL_LOCAL] = "local",
    [NH_MPOL_PREFERRED_MANY] = "preferred-many",
    [NH_MPOL_WEIGHTED_INTERLEAVE] = "weighted-interleave",
};

/* "label: 0 1 2 \n", numactl's form: each member followed by a space. */
static void print_nodes(const char *label, const nh_nodemask_t *m) {
    printf("%s: ", label);
    for (int n = 0; n < NH_MAX_NODES; n++)
        if (nh_nodemask_isset(m, n)) printf("%d ", n);
    printf("\n");
}

static int first_node(const nh_nodemask_t *m) {
    for (int n = 0; n < NH_MAX_NODES; n++)
        if (nh_nodemask_isset(m, n)) return n;
    return -1;
}

/* The numactl --show part; CLI_FAIL when the kernel does not answer. */
static int show_process(void) {
    nh_policy_t p;
    if (nh_policy_get_thread(&p)) {
        fprintf(stderr, "numaheap show: cannot read the memory policy: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    int mode = p.mode >= 0 && p.mode < NH_MPOL_MODE_COUNT_ ? p.mode : NH_MPOL_DEFAULT;
    printf("policy: %s\n", mode_names[mode]);
    int pref = first_node(&p.nodes);
    if (mode == NH_MPOL_DEFAULT || mode == NH_MPOL_LOCAL || pref < 0)
        printf("preferred node: current\n");
    else
        printf("preferred node: %d\n", pref);
    if (mode == NH_MPOL_INTERLEAVE || mode == NH_MPOL_WEIGHTED_INTERLEAVE)
        print_nodes("interleavemask", &p.nodes);

    cpu_set_t *set = CPU_ALLOC(NH_MAX_CPUS);
    size_t size = CPU_ALLOC_SIZE(NH_MAX_CPUS);
    if (!set || sched_getaffinity(0, size, set)) {
        fprintf(stderr, "numaheap show: cannot read the CPU affinity: %s\n", strerror(errno));
        CPU_FREE(set);
        return CLI_FAIL;
    }
    nh_nodemask_t cpunodes = {0};
    printf("physcpubind: ");
    for (int c = 0; c < NH_MAX_CPUS; c++) {
        if (!CPU_ISSET_S(c, size, set)) continue;
        printf("%d ", c);
        int n = nh_node_of_cpu(c);
        if (n >= 0) nh_nodemask_set(&cpunodes, n);
    }
    printf("\n");
    CPU_FREE(set);
    print_nodes("cpubind", &cpunodes);
    print_nodes("nodebind", &cpunodes);

    nh_nodemask_t membind, mem;
    if (mode == NH_MPOL_BIND) {
        membind = p.nodes;
    } else {
        nh_nodes_allowed(&membind);
        nh_nodes_with_memory(&mem);
        for (size_t w = 0; w < sizeof membind.bits / sizeof membind.bits[0]; w++)
            membind.bits[w] &= mem.bits[w];
    }
    print_nodes("membind", &membind);
    nh_nodemask_t preferred = {0};
    if (mode == NH_MPOL_PREFERRED || mode == NH_MPOL_PREFERRED_MANY || mode == NH_MPOL_BIND)
        preferred = p.nodes;
    print_nodes("preferred", &preferred);
    return CLI_OK;
}

/* "numaheap LABEL: ..." for the setting var: its canonical form, or why it is not used. */
static void show_setting(const char *label, const char *var, const char *unset) {
    const char *v = getenv(var);
    if (!v || !*v) {
        printf("numaheap %s: not set (%s unset: %s)\n", label, var, unset);
        return;
    }
    nh_policy_t p;
    nh_error_t err;
    char buf[8192];
    if (nh_policy_parse(v, &p, &err))
        printf("numaheap %s: invalid %s='%s': %s (numaheap warns and uses the default)\n", label,
               var, v, err.msg);
    else
        printf("numaheap %s: %s (%s)\n", label, (nh_policy_format(&p, buf, sizeof buf), buf), var);
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    rc = show_process();
    if (rc) return rc;
    show_setting("policy", "NUMAHEAP_POLICY", "the inherited policy, else local");
    show_setting("large policy", "NUMAHEAP_LARGE_POLICY", "the library's default");
    char engine[64];
    size_t len = sizeof engine;
    free(malloc(1)); /* the heap answers nh_ctl once initialised */
    if (nh_ctl("engine", engine, &len, NULL, 0))
        printf("numaheap engine: unknown (%s)\n", strerror(errno));
    else
        printf("numaheap engine: %s\n", engine);
    return CLI_OK;
}

const cli_command_t cli_show = {
    .name = "show",
    .synopsis = "",
    .summary = "show this process's NUMA policy and CPU binding (numactl --show) and numaheap's",
    .help = "numactl --show's lines: policy, preferred node, interleavemask (interleaving\n"
            "policies), physcpubind, cpubind, nodebind, membind, preferred; then numaheap's view: "
            "the NUMAHEAP_POLICY and\n"
            "NUMAHEAP_LARGE_POLICY it would use (checked here) and its engine. Run it under\n"
            "numactl, taskset or a container to see what a program started there inherits.\n",
    .max_args = 0,
    .run = run,
};
