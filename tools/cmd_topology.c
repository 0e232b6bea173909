/* numaheap topology: the nodes, CPUs, memory and distances numaheap sees, the policy the
 * process inherited, and the kernel's memory-policy capabilities. */
#include "cli.h"

#include <errno.h>
#include <string.h>

static void print_mask(const char *label, const nh_nodemask_t *m) {
    char buf[4096];
    nh_nodemask_format(m, buf, sizeof buf);
    printf("%-22s %s\n", label, buf[0] ? buf : "(none)");
}

static void print_nodes(const nh_nodemask_t *online, const nh_nodemask_t *cpus) {
    printf("\n%-6s %8s %12s %12s  %s\n", "node", "cpus", "total MiB", "free MiB", "distances");
    for (int n = 0; n <= nh_max_node(); n++) {
        nh_node_info_t info;
        if (!nh_nodemask_isset(online, n) || nh_node_info(n, &info)) continue;
        printf("%-6d %8d %12llu %12llu ", n, info.ncpus, (unsigned long long)(info.mem_total >> 20),
               (unsigned long long)(info.mem_free >> 20));
        for (int m = 0; m <= nh_max_node(); m++)
            if (nh_nodemask_isset(online, m)) printf(" %d", nh_node_distance(n, m));
        printf("%s\n", nh_nodemask_isset(cpus, n) ? "" : "   (memory only)");
    }
}

static void print_caps(void) {
    nh_caps_t c;
    nh_kernel_caps(&c);
    printf("\nkernel capabilities\n");
    printf("  %-30s %s\n", "memory policy syscalls", c.numa_syscalls ? "yes" : "no");
    if (!c.numa_syscalls) printf("  %-30s %s\n", "  refused with", strerror(c.syscall_errno));
    printf("  %-30s %s\n", "MPOL_LOCAL", c.local ? "yes" : "no");
    printf("  %-30s %s\n", "MPOL_PREFERRED_MANY", c.preferred_many ? "yes" : "no");
    printf("  %-30s %s\n", "MPOL_WEIGHTED_INTERLEAVE", c.weighted_interleave ? "yes" : "no");
    printf("  %-30s %s\n", "MPOL_F_NUMA_BALANCING", c.numa_balancing ? "yes" : "no");
    printf("  %-30s %s\n", "MADV_POPULATE_WRITE", c.populate_write ? "yes" : "no");
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    nh_nodemask_t online, mem, cpus, allowed;
    nh_nodes_online(&online);
    nh_nodes_with_memory(&mem);
    nh_nodes_with_cpus(&cpus);
    nh_nodes_allowed(&allowed);
    printf("numaheap %d.%d.%d\n", nh_version() / 10000, nh_version() / 100 % 100,
           nh_version() % 100);
    printf("%-22s %d\n", "max possible node", nh_max_node());
    print_mask("nodes online", &online);
    print_mask("nodes with memory", &mem);
    print_mask("nodes with CPUs", &cpus);
    print_mask("nodes allowed", &allowed);
    print_nodes(&online, &cpus);

    nh_policy_t p;
    char buf[8192];
    if (nh_policy_get_thread(&p) == 0) {
        nh_policy_format(&p, buf, sizeof buf);
        printf("\n%-22s %s\n", "inherited policy", buf);
    } else {
        printf("\n%-22s unavailable (%s)\n", "inherited policy", strerror(errno));
    }
    print_caps();
    return CLI_OK;
}

const cli_command_t cli_topology = {
    .name = "topology",
    .synopsis = "",
    .summary = "show nodes, CPUs, memory, distances, the inherited policy and kernel capabilities",
    .help = "Nodes online, with memory, with CPUs and allowed by the cpuset; per node its CPUs,\n"
            "total and free memory and SLIT distances; the policy this process inherited\n"
            "(numactl, a container); which memory-policy modes and flags the kernel supports.\n"
            "This is also what numaheap prints when run without a command.\n",
    .max_args = 0,
    .run = run,
};
