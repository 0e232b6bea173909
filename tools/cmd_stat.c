/* numaheap stat [--json] [--watch[=SECONDS]] PID|NAME...: in the manner of numastat -p, each
 * process's memory per node from /proc/PID/numa_maps, how much of it lies in numaheap's
 * regions (the mappings /proc/PID/maps names [anon:numaheap ...]) and how many pages of a
 * node's region are on another node (misplaced). */
#define _GNU_SOURCE /* getline */
#include "cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 256

typedef struct region {
    unsigned long start;
    int home; /* the node of a "numaheap node N" mapping; -1 for the others (large) */
} region_t;

typedef struct usage {
    int pid;
    char comm[64];
    int named;                        /* numaheap mappings found in /proc/PID/maps */
    uint64_t total[NH_MAX_NODES];     /* bytes resident per node */
    uint64_t heap[NH_MAX_NODES];      /* of which in numaheap's mappings */
    uint64_t misplaced[NH_MAX_NODES]; /* pages of node-N regions lying on this node, not N */
} usage_t;

/* Where the /proc files are read: NH_TEST_PROC replaces /proc in tests (a directory of
 * PID/comm, PID/maps and PID/numa_maps files), for kernels that cannot name mappings. */
static const char *proc_root(void) {
    const char *root = getenv("NH_TEST_PROC");
    return root && *root ? root : "/proc";
}

/* The process's command name, /proc/PID/comm, into buf; 0 or -errno. */
static int read_comm(int pid, char *buf, size_t len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/comm", proc_root(), pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (!ok) return -EIO;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* numaheap's mappings in /proc/PID/maps, sorted by address as the kernel lists them. */
static int read_regions(int pid, region_t **out, size_t *count) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/maps", proc_root(), pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char *line = NULL;
    size_t cap = 0, n = 0, size = 0;
    region_t *r = NULL;
    while (getline(&line, &cap, f) > 0) {
        unsigned long start, end;
        int name = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name) < 2 || !name) continue;
        if (strncmp(line + name, "[anon:numaheap", 14)) continue;
        if (n == size) {
            size = size ? size * 2 : 64;
            region_t *bigger = realloc(r, size * sizeof *r);
            if (!bigger) break;
            r = bigger;
        }
        int home = -1;
        if (sscanf(line + name, "[anon:numaheap node %d]", &home) != 1 || home < 0 ||
            home >= NH_MAX_NODES)
            home = -1;
        r[n++] = (region_t){start, home};
    }
    free(line);
    fclose(f);
    *out = r;
    *count = n;
    return 0;
}

static const region_t *find_region(const region_t *r, size_t n, unsigned long start) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid].start == start) return &r[mid];
        if (r[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Fills u for u->pid; 0 or -errno (the process is gone, or not ours to read). */
static int measure(usage_t *u) {
    int pid = u->pid;
    memset(u, 0, sizeof *u);
    u->pid = pid;
    int rc = read_comm(pid, u->comm, sizeof u->comm);
    region_t *regions = NULL;
    size_t nregions = 0;
    if (!rc) rc = read_regions(pid, &regions, &nregions);
    if (rc) return rc;
    u->named = nregions > 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/numa_maps", proc_root(), pid);
    FILE *f = fopen(path, "r");
    if (!f) return free(regions), -errno;
    char *line = NULL, *save;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        unsigned long start = strtoul(line, NULL, 16);
        const region_t *reg = nregions ? find_region(regions, nregions, start) : NULL;
        uint64_t page = 4096;
        char *k = strstr(line, " kernelpagesize_kB=");
        if (k) page = strtoull(k + 19, NULL, 10) << 10;
        for (char *t = strtok_r(line, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
            int node;
            unsigned long long pages;
            char rest;
            if (sscanf(t, "N%d=%llu%c", &node, &pages, &rest) != 2 || node < 0 ||
                node >= NH_MAX_NODES)
                continue;
            u->total[node] += pages * page;
            if (!reg) continue;
            u->heap[node] += pages * page;
            if (reg->home >= 0 && reg->home != node) u->misplaced[node] += pages;
        }
    }
    free(line);
    fclose(f);
    free(regions);
    return 0;
}

/* The nodes shown as columns: online ones, and any other a process has memory on. */
static void columns(const usage_t *u, int n, nh_nodemask_t *cols) {
    nh_nodes_online(cols);
    for (int i = 0; i < n; i++)
        for (int node = 0; node < NH_MAX_NODES; node++)
            if (u[i].total[node]) nh_nodemask_set(cols, node);
}

static void print_row(const char *label, const uint64_t *v, const nh_nodemask_t *cols, int mb) {
    uint64_t sum = 0;
    printf("%-18s", label);
    for (int node = 0; node < NH_MAX_NODES; node++) {
        if (!nh_nodemask_isset(cols, node)) continue;
        sum += v[node];
        if (mb)
            printf(" %15.2f", (double)v[node] / (1 << 20));
        else
            printf(" %15llu", (unsigned long long)v[node]);
    }
    if (mb)
        printf(" %15.2f\n", (double)sum / (1 << 20));
    else
        printf(" %15llu\n", (unsigned long long)sum);
}

static void print_text(const usage_t *u, int n) {
    nh_nodemask_t cols;
    columns(u, n, &cols);
    for (int i = 0; i < n; i++) {
        printf("%sPer-node process memory usage (in MBs) for PID %d (%s)\n", i ? "\n" : "",
               u[i].pid, u[i].comm);
        printf("%-18s", "");
        char head[32];
        for (int node = 0; node < NH_MAX_NODES; node++)
            if (nh_nodemask_isset(&cols, node))
                printf(" %15s", (snprintf(head, sizeof head, "Node %d", node), head));
        printf(" %15s\n%-18s", "Total", "");
        for (int node = 0; node <= NH_MAX_NODES; node++)
            if (node == NH_MAX_NODES || nh_nodemask_isset(&cols, node)) printf(" ---------------");
        printf("\n");
        print_row("Total", u[i].total, &cols, 1);
        if (!u[i].named) {
            printf("heap: unknown (regions not named)\n");
            continue;
        }
        print_row("Heap (numaheap)", u[i].heap, &cols, 1);
        print_row("Misplaced (pages)", u[i].misplaced, &cols, 0);
    }
}

static void print_json(const usage_t *u, int n) {
    struct json_object *root = json_object_new_object(), *procs = json_object_new_array();
    for (int i = 0; i < n; i++) {
        struct json_object *p = json_object_new_object(), *nodes = json_object_new_object();
        uint64_t total = 0, heap = 0, misplaced = 0;
        for (int node = 0; node < NH_MAX_NODES; node++) {
            if (!u[i].total[node]) continue;
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "total_bytes", json_object_new_uint64(u[i].total[node]));
            if (u[i].named) {
                json_object_object_add(o, "heap_bytes", json_object_new_uint64(u[i].heap[node]));
                json_object_object_add(o, "misplaced_pages",
                                       json_object_new_uint64(u[i].misplaced[node]));
            }
            char key[16];
            snprintf(key, sizeof key, "%d", node);
            json_object_object_add(nodes, key, o);
            total += u[i].total[node], heap += u[i].heap[node];
            misplaced += u[i].misplaced[node];
        }
        json_object_object_add(p, "pid", json_object_new_int(u[i].pid));
        json_object_object_add(p, "name", json_object_new_string(u[i].comm));
        json_object_object_add(p, "heap_known", json_object_new_boolean(u[i].named));
        json_object_object_add(p, "total_bytes", json_object_new_uint64(total));
        json_object_object_add(p, "heap_bytes", u[i].named ? json_object_new_uint64(heap) : NULL);
        json_object_object_add(p, "misplaced_pages",
                               u[i].named ? json_object_new_uint64(misplaced) : NULL);
        json_object_object_add(p, "nodes", nodes);
        json_object_array_add(procs, p);
    }
    json_object_object_add(root, "processes", procs);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
}

/* Adds pid to pids (once); -1 when full. */
static int add_pid(int *pids, int *n, int pid) {
    for (int i = 0; i < *n; i++)
        if (pids[i] == pid) return 0;
    if (*n >= MAX_PIDS) return -1;
    pids[(*n)++] = pid;
    return 0;
}

/* The processes named name (/proc/PID/comm exactly); their count, or -1 when too many. */
static int add_named(int *pids, int *n, const char *name) {
    DIR *d = opendir(proc_root());
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        char comm[64];
        int pid = atoi(e->d_name);
        if (read_comm(pid, comm, sizeof comm) || strcmp(comm, name)) continue;
        if (add_pid(pids, n, pid)) return closedir(d), -1;
        found++;
    }
    if (d) closedir(d);
    return found;
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int json = 0, watch = 0, pids[MAX_PIDS], npids = 0;
    double interval = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_help(self, stdout);
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--watch")) {
            watch = 1;
        } else if (!strncmp(a, "--watch=", 8)) {
            char *end;
            errno = 0;
            interval = strtod(a + 8, &end);
            if (!a[8] || *end || errno || !(interval > 0 && interval <= 86400))
                return cli_usage_error(self,
                                       "--watch: '%s' is not a number of seconds (0 < "
                                       "SECONDS <= 86400)",
                                       a + 8);
            watch = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(self, "unknown option '%s'", a);
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) continue;
        if (*a && strspn(a, "0123456789") == strlen(a)) {
            char comm[64];
            long pid = strlen(a) <= 9 ? atol(a) : -1;
            if (pid <= 0 || read_comm((int)pid, comm, sizeof comm))
                return cli_usage_error(self, "no process with PID %s", a);
            if (add_pid(pids, &npids, (int)pid))
                return cli_usage_error(self, "more than %d processes", MAX_PIDS);
        } else {
            int found = add_named(pids, &npids, a);
            if (found < 0) return cli_usage_error(self, "more than %d processes", MAX_PIDS);
            if (!found) return cli_usage_error(self, "no process named '%s'", a);
        }
    }
    if (!npids) return cli_usage_error(self, "missing PID or NAME");
    usage_t *u = calloc((size_t)npids, sizeof *u);
    if (!u) return fprintf(stderr, "numaheap stat: %s\n", strerror(ENOMEM)), CLI_FAIL;
    int status = CLI_OK;
    for (;;) {
        int n = 0;
        for (int i = 0; i < npids; i++) {
            u[n].pid = pids[i];
            int rc = measure(&u[n]);
            if (!rc) {
                pids[n++] = pids[i];
                continue;
            }
            fprintf(stderr, "numaheap stat: process %d: %s\n", pids[i],
                    rc == -ENOENT || rc == -ESRCH ? "has exited" : strerror(-rc));
            status = CLI_FAIL;
        }
        npids = n;
        if (!npids) break;
        if (watch && !json && isatty(STDOUT_FILENO)) printf("\033[H\033[2J");
        if (json)
            print_json(u, n);
        else
            print_text(u, n);
        fflush(stdout);
        if (!watch) break;
        struct timespec ts = {(time_t)interval,
                              (long)((interval - (double)(time_t)interval) * 1e9)};
        while (nanosleep(&ts, &ts) && errno == EINTR) {}
        if (!json && !isatty(STDOUT_FILENO)) printf("\n");
    }
    free(u);
    return status;
}

const cli_command_t cli_stat = {
    .name = "stat",
    .synopsis = "[--json] [--watch[=SECONDS]] PID|NAME...",
    .summary = "show processes' memory per node: total, numaheap's heap, misplaced pages",
    .help = "For each process (a PID, or every process whose /proc/PID/comm is NAME), as\n"
            "numastat -p does: per node, its resident memory (from /proc/PID/numa_maps), the part\n"
            "in numaheap's regions (mappings named [anon:numaheap ...] in /proc/PID/maps) and\n"
            "the misplaced pages: those of a '[anon:numaheap node N]' region lying on another\n"
            "node than N, counted in the column of the node they are on. Without named regions\n"
            "it says 'heap: unknown (regions not named)'.\n"
            "  --json              the same as one JSON object per refresh\n"
            "  --watch[=SECONDS]   refresh every SECONDS (default 2) until interrupted\n"
            "Exit status 1 if a process cannot be read or has exited; 2 for a bad command line\n"
            "(an unknown PID or NAME among them).\n",
    .max_args = -1,
    .run = run,
};
