/* The numaheap command line: show the topology and kernel capabilities numaheap detects,
 * check policies, and run programs under numaheap. Uses the public header only. */
#define _GNU_SOURCE /* dladdr */
#include "numaheap.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The path of the libnumaheap.so this program runs with: the one to preload. */
static const char *library_path(void) {
    Dl_info info;
    return dladdr((void *)nh_version, &info) && info.dli_fname ? info.dli_fname : NULL;
}

static int cmd_run(int argc, char **argv) {
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *var = NULL;
        if (!strcmp(argv[i], "--strict"))
            setenv("NUMAHEAP_STRICT", "1", 1);
        else if (!strcmp(argv[i], "--stats"))
            setenv("NUMAHEAP_STATS", "1", 1);
        else if (!strcmp(argv[i], "--verbose"))
            setenv("NUMAHEAP_VERBOSE", "1", 1);
        else if (!strcmp(argv[i], "--policy"))
            var = "NUMAHEAP_POLICY";
        else if (!strcmp(argv[i], "--large-policy"))
            var = "NUMAHEAP_LARGE_POLICY";
        else
            return usage(stderr), 2;
        if (var) { /* refuse a bad policy here, with its position, rather than in the child */
            nh_policy_t p;
            nh_error_t err;
            if (i + 1 >= argc) return usage(stderr), 2;
            int rc = nh_policy_parse(argv[++i], &p, &err);
            if (rc) return report(argv[i], rc, &err), 2;
            setenv(var, argv[i], 1);
        }
    }
    if (i + 1 >= argc) return usage(stderr), 2;
    const char *lib = library_path();
    if (!lib) return fprintf(stderr, "numaheap: cannot find libnumaheap.so\n"), 2;
    const char *old = getenv("LD_PRELOAD");
    char preload[4096];
    snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    setenv("LD_PRELOAD", preload, 1);
    execvp(argv[i + 1], argv + i + 1);
    fprintf(stderr, "numaheap: %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
}

static int cmd_usage(const char *pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/numa_maps", pid);
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "numaheap: %s: %s\n", path, strerror(errno)), 1;
    static unsigned long long bytes[NH_MAX_NODES];
    unsigned long long total = 0;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb = 4;
        char *k = strstr(line, "kernelpagesize_kB=");
        if (k) kb = strtoull(k + 18, NULL, 10);
        for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n")) {
            int node;
            unsigned long long pages;
            if (sscanf(t, "N%d=%llu", &node, &pages) == 2 && node >= 0 && node < NH_MAX_NODES) {
                bytes[node] += pages * kb * 1024;
                total += pages * kb * 1024;
            }
        }
    }
    fclose(f);
    printf("process %s: %.1f MiB resident in mappings with a NUMA policy or pages\n", pid,
           (double)total / (1 << 20));
    printf("%-6s %12s %8s\n", "node", "MiB", "share");
    for (int n = 0; n < NH_MAX_NODES; n++)
        if (bytes[n])
            printf("%-6d %12.1f %7.1f%%\n", n, (double)bytes[n] / (1 << 20),
                   100.0 * (double)bytes[n] / (double)total);
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
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "usage") && argc == 3) return cmd_usage(argv[2]);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
