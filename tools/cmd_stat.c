/* numaheap stat [--exact] [--json] [--watch[=SECONDS]] PID|NAME...: in the manner of
 * numastat -p, each process's memory per node from /proc/PID/numa_maps, how much of it lies in
 * numaheap's regions (heap_map.c finds them) and how many pages of a node's region are on
 * another node (misplaced): from numa_maps' per-mapping counts, or with --exact from the
 * kernel's answer for every page (heap_pages.c, as numaheap repair audits). */
#include "heap.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Fills h for pid, with exact misplaced counts when asked; 0 or -errno. */
static int measure(int pid, int exact, heap_t *h) {
    int rc = heap_read(pid, h);
    if (rc || !exact || h->source == HEAP_NONE) return rc;
    static heap_audit_t audit;
    if ((rc = heap_audit(h, 0, &audit))) return rc;
    memcpy(h->misplaced, audit.misplaced_on, sizeof h->misplaced);
    return 0;
}

/* The nodes shown as columns: online ones, and any other a process has memory on. */
static void columns(const heap_t *u, int n, nh_nodemask_t *cols) {
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

static void print_text(const heap_t *u, int n) {
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
        if (u[i].source == HEAP_NONE) {
            printf("heap: unknown (no named regions, no region table)\n");
            continue;
        }
        print_row("Heap (numaheap)", u[i].heap, &cols, 1);
        print_row("Misplaced (pages)", u[i].misplaced, &cols, 0);
    }
}

static void print_json(const heap_t *u, int exact, int n) {
    struct json_object *root = json_object_new_object(), *procs = json_object_new_array();
    for (int i = 0; i < n; i++) {
        struct json_object *p = json_object_new_object(), *nodes = json_object_new_object();
        uint64_t total = 0, heap = 0, misplaced = 0;
        for (int node = 0; node < NH_MAX_NODES; node++) {
            if (!u[i].total[node]) continue;
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "total_bytes", json_object_new_uint64(u[i].total[node]));
            if ((u[i].source != HEAP_NONE)) {
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
        json_object_object_add(p, "heap_known",
                               json_object_new_boolean((u[i].source != HEAP_NONE)));
        json_object_object_add(p, "total_bytes", json_object_new_uint64(total));
        json_object_object_add(p, "heap_bytes",
                               (u[i].source != HEAP_NONE) ? json_object_new_uint64(heap) : NULL);
        json_object_object_add(p, "misplaced_pages",
                               (u[i].source != HEAP_NONE) ? json_object_new_uint64(misplaced)
                                                          : NULL);
        json_object_object_add(p, "nodes", nodes);
        json_object_object_add(p, "regions_from",
                               (u[i].source != HEAP_NONE)
                                   ? json_object_new_string(heap_source_name(u[i].source))
                                   : NULL);
        json_object_object_add(p, "misplaced_exact",
                               json_object_new_boolean(exact && (u[i].source != HEAP_NONE)));
        json_object_array_add(procs, p);
    }
    json_object_object_add(root, "processes", procs);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int json = 0, watch = 0, exact = 0, pids[HEAP_MAX_PIDS], npids = 0;
    double interval = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_help(self, stdout);
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--exact")) {
            exact = 1;
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
        int rc = heap_add_target(self, a, pids, &npids);
        if (rc >= 0) return rc;
    }
    if (!npids) return cli_usage_error(self, "missing PID or NAME");
    heap_t *u = calloc((size_t)npids, sizeof *u);
    if (!u) return fprintf(stderr, "numaheap stat: %s\n", strerror(ENOMEM)), CLI_FAIL;
    int status = CLI_OK;
    for (;;) {
        int n = 0;
        for (int i = 0; i < npids; i++)
            heap_free(&u[i]);
        for (int i = 0; i < npids; i++) {
            int rc = measure(pids[i], exact, &u[n]);
            if (!rc) {
                pids[n++] = pids[i];
                continue;
            }
            fprintf(stderr, "numaheap stat: process %d: %s\n", pids[i], heap_error(rc));
            status = CLI_FAIL;
        }
        npids = n;
        if (!npids) break;
        if (watch && !json && isatty(STDOUT_FILENO)) printf("\033[H\033[2J");
        if (json)
            print_json(u, exact, n);
        else
            print_text(u, n);
        fflush(stdout);
        if (!watch) break;
        struct timespec ts = {(time_t)interval,
                              (long)((interval - (double)(time_t)interval) * 1e9)};
        while (nanosleep(&ts, &ts) && errno == EINTR) {}
        if (!json && !isatty(STDOUT_FILENO)) printf("\n");
    }
    for (int i = 0; i < npids; i++)
        heap_free(&u[i]);
    free(u);
    return status;
}

const cli_command_t cli_stat = {
    .name = "stat",
    .synopsis = "[--exact] [--json] [--watch[=SECONDS]] PID|NAME...",
    .summary = "show processes' memory per node: total, numaheap's heap, misplaced pages",
    .help = "For each process (a PID, or every process whose /proc/PID/comm is NAME), as\n"
            "numastat -p does: per node, its resident memory (from /proc/PID/numa_maps), the part\n"
            "in numaheap's regions and the misplaced pages: those of node N's region lying on\n"
            "another node than N, counted in the column of the node they are on. The regions\n"
            "are the mappings named [anon:numaheap ...] in /proc/PID/maps or, where the kernel\n"
            "cannot name mappings, those listed in the table numaheap publishes in the mapping\n"
            "/memfd:numaheap-regions. Without either it says 'heap: unknown (no named regions,\n"
            "no region table)'. Misplaced pages come from numa_maps' counts per mapping, which\n"
            "needs no more than reading the process's /proc files.\n"
            "  --exact             count misplaced pages one by one, asking the kernel where each\n"
            "                      resident page of the heap is (move_pages), as repair does;\n"
            "                      needs ptrace read access to the process\n"
            "  --json              the same as one JSON object per refresh\n"
            "  --watch[=SECONDS]   refresh every SECONDS (default 2) until interrupted\n"
            "Exit status 1 if a process cannot be read or has exited; 2 for a bad command line\n"
            "(an unknown PID or NAME among them).\n",
    .max_args = -1,
    .run = run,
};
