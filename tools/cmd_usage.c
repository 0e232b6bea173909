/* numaheap usage PID: a process's resident memory per node, from /proc/PID/numa_maps. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int run(const cli_command_t *self, int argc, char **argv) {
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    const char *pid = argv[1];
    if (strspn(pid, "0123456789") != strlen(pid) || strlen(pid) > 10)
        return cli_usage_error(self, "not a process id: '%s'", pid);
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/numa_maps", pid);
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "numaheap usage: %s: %s\n", path, strerror(errno)), CLI_FAIL;
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
    return CLI_OK;
}

static const char *const required[] = {"PID", NULL};

const cli_command_t cli_usage = {
    .name = "usage",
    .synopsis = "PID",
    .summary = "show a process's resident memory per node",
    .help = "Sums the per-node page counts of /proc/PID/numa_maps: MiB and share per node.\n"
            "Exit status 1 if the process cannot be read.\n",
    .required = required,
    .max_args = 1,
    .run = run,
};
