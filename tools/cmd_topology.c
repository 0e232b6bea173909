/* numaheap topology: the nodes, CPUs, memory and distances numaheap sees, the policy the
 * process inherited, and the kernel's memory-policy capabilities. NH_TEST_SYSFS_NODE points
 * the nodes and the HMAT figures at a fake sysfs tree (tests; topo_view.c). */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

static void print_mask(const char *label, const nh_nodemask_t *m) {
    char buf[4096];
    nh_nodemask_format(m, buf, sizeof buf);
    printf("%-22s %s\n", label, buf[0] ? buf : "(none)");
}

static void print_nodes(const nh_nodemask_t *online, const nh_nodemask_t *cpus) {
    printf("\n%-6s %8s %12s %12s  %s\n", "node", "cpus", "total MiB", "free MiB", "distances");
    for (int n = 0; n <= cli_topo_max_node(); n++) {
        nh_node_info_t info;
        if (!nh_nodemask_isset(online, n) || cli_topo_node_info(n, &info)) continue;
        printf("%-6d %8d %12llu %12llu ", n, info.ncpus, (unsigned long long)(info.mem_total >> 20),
               (unsigned long long)(info.mem_free >> 20));
        for (int m = 0; m <= cli_topo_max_node(); m++)
            if (nh_nodemask_isset(online, m)) printf(" %d", cli_topo_distance(n, m));
        printf("%s\n", nh_nodemask_isset(cpus, n) ? "" : "   (memory only)");
    }
}

/* numactl -H's lines: available nodes, per node its CPUs, size and free memory in MB, the
 * distance matrix; CPU-less nodes are marked on their cpus line. */
static void print_hardware(const nh_nodemask_t *online, const nh_nodemask_t *cpus) {
    char buf[4096];
    int count = 0;
    for (int n = 0; n <= cli_topo_max_node(); n++)
        count += nh_nodemask_isset(online, n);
    nh_nodemask_format(online, buf, sizeof buf);
    printf("\nhardware (as numactl -H)\navailable: %d nodes (%s)\n", count, buf);
    uint64_t up[CLI_CPU_WORDS];
    int have_cpus = !cli_cpus_online(up);
    if (cli_topo_faked()) /* the tree lists its nodes' CPUs; this machine's are no guide */
        memset(up, 0xff, sizeof up), have_cpus = 1;
    for (int n = 0; n <= cli_topo_max_node(); n++) {
        nh_node_info_t info;
        if (!nh_nodemask_isset(online, n)) continue;
        printf("node %d cpus:", n);
        for (int c = 0; have_cpus && c < NH_MAX_CPUS; c++)
            if (CLI_BIT(up, c) && cli_topo_node_of_cpu(c) == n) printf(" %d", c);
        printf("%s\n", nh_nodemask_isset(cpus, n) ? "" : " (none: memory-only node)");
        if (cli_topo_node_info(n, &info)) continue;
        printf("node %d size: %llu MB\n", n, (unsigned long long)(info.mem_total >> 20));
        printf("node %d free: %llu MB\n", n, (unsigned long long)(info.mem_free >> 20));
    }
    printf("node distances:\nnode ");
    for (int m = 0; m <= cli_topo_max_node(); m++)
        if (nh_nodemask_isset(online, m)) printf("%3d ", m);
    printf("\n");
    for (int n = 0; n <= cli_topo_max_node(); n++) {
        if (!nh_nodemask_isset(online, n)) continue;
        printf("%3d: ", n);
        for (int m = 0; m <= cli_topo_max_node(); m++)
            if (nh_nodemask_isset(online, m)) printf("%3d ", cli_topo_distance(n, m));
        printf("\n");
    }
}

/* One number from dir/name into *out; 0 or -1. */
static int read_number(const char *dir, const char *name, unsigned long long *out) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fscanf(f, "%llu", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

/* The kernel's HMAT view, /sys/devices/system/node/nodeN/accessK/initiators: bandwidth (MB/s)
 * and latency (ns) of each memory node as seen from its nearest initiators (access0: any
 * initiator, access1: CPUs only). */
static void print_hmat(const nh_nodemask_t *online) {
    const char *root = cli_topo_root();
    int shown = 0;
    printf("\nmemory performance (HMAT, from the nearest initiators)\n");
    for (int n = 0; n <= cli_topo_max_node(); n++) {
        if (!nh_nodemask_isset(online, n)) continue;
        for (int k = 0; k < 2; k++) {
            char dir[4096], from[1024];
            snprintf(dir, sizeof dir, "%s/node%d/access%d/initiators", root, n, k);
            unsigned long long rb, wb, rl, wl;
            int have = !read_number(dir, "read_bandwidth", &rb) +
                       !read_number(dir, "write_bandwidth", &wb) * 2 +
                       !read_number(dir, "read_latency", &rl) * 4 +
                       !read_number(dir, "write_latency", &wl) * 8;
            if (!have) continue;
            nh_nodemask_t initiators = {{0}};
            DIR *d = opendir(dir);
            for (struct dirent *e; d && (e = readdir(d));) {
                int m;
                char rest;
                if (sscanf(e->d_name, "node%d%c", &m, &rest) == 1 && m >= 0 && m < NH_MAX_NODES)
                    nh_nodemask_set(&initiators, m); /* in node order, whatever readdir's */
            }
            if (d) closedir(d);
            nh_nodemask_format(&initiators, from, sizeof from);
            printf("node %d access%d (initiators %s):", n, k, from[0] ? from : "unknown");
            if (have & 1) printf(" read %llu MB/s", rb);
            if (have & 2) printf(" write %llu MB/s", wb);
            if (have & 4) printf(" read latency %llu ns", rl);
            if (have & 8) printf(" write latency %llu ns", wl);
            printf("\n");
            shown = 1;
        }
    }
    if (!shown) printf("  not reported by this kernel and firmware\n");
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
    cli_topo_nodes(&online, &mem, &cpus, &allowed);
    printf("numaheap %d.%d.%d\n", nh_version() / 10000, nh_version() / 100 % 100,
           nh_version() % 100);
    printf("%-22s %d\n", "max possible node", cli_topo_max_node());
    print_mask("nodes online", &online);
    print_mask("nodes with memory", &mem);
    print_mask("nodes with CPUs", &cpus);
    print_mask("nodes allowed", &allowed);
    print_nodes(&online, &cpus);
    print_hardware(&online, &cpus);
    print_hmat(&online);

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
    .help =
        "Nodes online, with memory, with CPUs and allowed by the cpuset; per node its CPUs,\n"
        "total and free memory and SLIT distances; the same in numactl -H's lines\n"
        "(available, node N cpus/size/free, node distances; CPU-less nodes marked); the\n"
        "kernel's HMAT bandwidths and latencies where it reports them\n"
        "(/sys/devices/system/node/nodeN/accessK/initiators); the policy this process inherited\n"
        "(numactl, a container); which memory-policy modes and flags the kernel supports.\n"
        "This is also what numaheap prints when run without a command.\n",
    .max_args = 0,
    .run = run,
};
