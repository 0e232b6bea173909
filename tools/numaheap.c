/* The numaheap command line: show the topology and kernel capabilities numaheap detects,
 * check policies, and run programs under numaheap. Uses the public header only. */
#include "numaheap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: numaheap topology           show nodes, CPUs, memory, distances, capabilities\n"
        "       numaheap check POLICY       validate a policy (bind:0-1, weighted:0=3,1=1, ...)\n"
        "       numaheap oci MODE NODES [FLAG...]   validate an OCI memoryPolicy\n");
}

static void print_mask(const char *label, const nh_nodemask_t *m) {
    char buf[4096];
    nh_nodemask_format(m, buf, sizeof buf);
    printf("%-22s %s\n", label, buf[0] ? buf : "(none)");
}

static int cmd_topology(void) {
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

    printf("\n%-6s %8s %12s %12s  %s\n", "node", "cpus", "total MiB", "free MiB", "distances");
    for (int n = 0; n <= nh_max_node(); n++) {
        nh_node_info_t info;
        if (!nh_nodemask_isset(&online, n) || nh_node_info(n, &info)) continue;
        printf("%-6d %8d %12llu %12llu ", n, info.ncpus, (unsigned long long)(info.mem_total >> 20),
               (unsigned long long)(info.mem_free >> 20));
        for (int m = 0; m <= nh_max_node(); m++)
            if (nh_nodemask_isset(&online, m)) printf(" %d", nh_node_distance(n, m));
        printf("%s\n", nh_nodemask_isset(&cpus, n) ? "" : "   (memory only)");
    }

    nh_policy_t p;
    char buf[8192];
    if (nh_policy_get_thread(&p) == 0) {
        nh_policy_format(&p, buf, sizeof buf);
        printf("\n%-22s %s\n", "inherited policy", buf);
    } else {
        printf("\n%-22s unavailable (%s)\n", "inherited policy", strerror(errno));
    }

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
    return 0;
}

static int report(const char *text, int rc, const nh_error_t *err) {
    fprintf(stderr, "numaheap: invalid policy: %s (%s)\n", err->msg, nh_strerror(rc));
    if (text && err->pos >= 0) fprintf(stderr, "  %s\n  %*s^\n", text, err->pos, "");
    return 1;
}

static int print_policy(const nh_policy_t *p) {
    char buf[8192];
    nh_policy_format(p, buf, sizeof buf);
    printf("%s\n", buf);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "topology";
    nh_policy_t p;
    nh_error_t err;
    if (!strcmp(cmd, "topology")) return cmd_topology();
    if (!strcmp(cmd, "check") && argc == 3) {
        int rc = nh_policy_parse(argv[2], &p, &err);
        return rc ? report(argv[2], rc, &err) : print_policy(&p);
    }
    if (!strcmp(cmd, "oci") && argc >= 4) {
        int rc = nh_policy_from_oci(argv[2], argv[3], (const char *const *)argv + 4,
                                    (size_t)(argc - 4), &p, &err);
        return rc ? report(NULL, rc, &err) : print_policy(&p);
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
