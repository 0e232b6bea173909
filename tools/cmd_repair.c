/* numaheap repair [--dry-run] [--json] PID|NAME...: moves the misplaced pages of processes'
 * numaheap heaps home from outside (move_pages on the process, heap_pages.c), as nh_repair
 * does from inside, and reports per home node the pages audited, misplaced, moved and not
 * moved. */
#include "heap.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* some misplaced pages could not be moved home (the kernel said why, per node) */
#define CLI_INCOMPLETE 3

typedef struct result {
    heap_t heap;
    heap_audit_t audit;
    int rc; /* 0, or -errno: the process could not be read or repaired */
} result_t;

static heap_node_audit_t sum(const heap_audit_t *a) {
    heap_node_audit_t t = {0};
    for (int n = 0; n < NH_MAX_NODES; n++) {
        t.audited += a->home[n].audited, t.misplaced += a->home[n].misplaced;
        t.moved += a->home[n].moved, t.failed += a->home[n].failed;
    }
    return t;
}

static void print_text(const result_t *r, int dry_run) {
    const heap_t *h = &r->heap;
    heap_node_audit_t t = sum(&r->audit);
    printf("PID %d (%s): regions from %s: %llu pages audited, %llu misplaced, ", h->pid, h->comm,
           heap_source_name(h->source), (unsigned long long)t.audited,
           (unsigned long long)t.misplaced);
    if (dry_run)
        printf("none moved (dry run)\n");
    else
        printf("%llu moved, %llu not moved\n", (unsigned long long)t.moved,
               (unsigned long long)t.failed);
    printf("  %-6s %12s %12s %12s %12s\n", "node", "audited", "misplaced", "moved", "failed");
    for (int n = 0; n < NH_MAX_NODES; n++) {
        const heap_node_audit_t *a = &r->audit.home[n];
        if (!a->audited) continue;
        printf("  %-6d %12llu %12llu %12llu %12llu", n, (unsigned long long)a->audited,
               (unsigned long long)a->misplaced, (unsigned long long)a->moved,
               (unsigned long long)a->failed);
        if (a->error) printf("   %s", strerror(a->error));
        printf("\n");
    }
}

static struct json_object *counts(const heap_node_audit_t *a) {
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "audited", json_object_new_uint64(a->audited));
    json_object_object_add(o, "misplaced", json_object_new_uint64(a->misplaced));
    json_object_object_add(o, "moved", json_object_new_uint64(a->moved));
    json_object_object_add(o, "failed", json_object_new_uint64(a->failed));
    return o;
}

static struct json_object *to_json(const result_t *r) {
    const heap_t *h = &r->heap;
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "pid", json_object_new_int(h->pid));
    json_object_object_add(p, "name", json_object_new_string(h->comm));
    if (r->rc) {
        json_object_object_add(p, "error", json_object_new_string(heap_error(r->rc)));
        return p;
    }
    json_object_object_add(p, "regions_from", json_object_new_string(heap_source_name(h->source)));
    heap_node_audit_t t = sum(&r->audit);
    json_object_object_add(p, "total", counts(&t));
    struct json_object *nodes = json_object_new_object();
    for (int n = 0; n < NH_MAX_NODES; n++) {
        const heap_node_audit_t *a = &r->audit.home[n];
        if (!a->audited) continue;
        struct json_object *o = counts(a);
        json_object_object_add(o, "error",
                               a->error ? json_object_new_string(strerror(a->error)) : NULL);
        char key[16];
        snprintf(key, sizeof key, "%d", n);
        json_object_object_add(nodes, key, o);
    }
    json_object_object_add(p, "nodes", nodes);
    return p;
}

/* Audits (and unless dry_run, repairs) r->heap.pid; r->rc says how it went. */
static void repair(int pid, int dry_run, result_t *r) {
    r->rc = heap_read(pid, &r->heap);
    if (!r->rc && r->heap.source == HEAP_NONE) r->rc = -ENODATA;
    if (!r->rc) r->rc = heap_audit(&r->heap, !dry_run, &r->audit);
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int json = 0, dry_run = 0, pids[HEAP_MAX_PIDS], npids = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) return cli_help(self, stdout);
        if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--dry-run"))
            dry_run = 1;
        else if (a[0] == '-' && a[1])
            return cli_usage_error(self, "unknown option '%s'", a);
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) continue;
        int rc = heap_add_target(self, argv[i], pids, &npids);
        if (rc >= 0) return rc;
    }
    if (!npids) return cli_usage_error(self, "missing PID or NAME");
    result_t *r = calloc(1, sizeof *r);
    if (!r) return fprintf(stderr, "numaheap repair: %s\n", strerror(ENOMEM)), CLI_FAIL;
    struct json_object *root = json_object_new_object(), *procs = json_object_new_array();
    int status = CLI_OK;
    for (int i = 0; i < npids; i++) {
        memset(r, 0, sizeof *r);
        repair(pids[i], dry_run, r);
        if (r->rc) {
            if (!r->heap.comm[0]) heap_comm(pids[i], r->heap.comm, sizeof r->heap.comm);
            r->heap.pid = pids[i];
            fprintf(stderr, "numaheap repair: process %d: %s\n", pids[i], heap_error(r->rc));
            status = CLI_FAIL;
        } else if (sum(&r->audit).failed && status == CLI_OK) {
            status = CLI_INCOMPLETE;
        }
        if (json)
            json_object_array_add(procs, to_json(r));
        else if (!r->rc)
            print_text(r, dry_run);
        heap_free(&r->heap);
    }
    json_object_object_add(root, "dry_run", json_object_new_boolean(dry_run));
    json_object_object_add(root, "processes", procs);
    if (json) printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    free(r);
    return status;
}

const cli_command_t cli_repair = {
    .name = "repair",
    .synopsis = "[--dry-run] [--json] PID|NAME...",
    .summary = "move the misplaced pages of processes' numaheap heaps back to their home nodes",
    .help = "For each process (a PID, or every process whose /proc/PID/comm is NAME): finds\n"
            "numaheap's regions as 'numaheap stat' does, asks the kernel where each resident\n"
            "page of node N's region is (move_pages), and moves those on another node to N.\n"
            "Prints per home node the pages audited, misplaced, moved and not moved, with the\n"
            "kernel's reason for the first that was not (a home node without memory, busy\n"
            "pages, a home node full).\n"
            "  --dry-run   audit only: count the misplaced pages, move none\n"
            "  --json      one JSON object instead of the table\n"
            "Another process's pages need ptrace read access to it (the same user, or\n"
            "CAP_SYS_PTRACE) and, for another user's process, CAP_SYS_NICE.\n"
            "Exit status 0 when every misplaced page is home (or, with --dry-run, was counted);\n"
            "1 if a process cannot be read or repaired (not permitted, exited, no numaheap heap);\n"
            "2 for a bad command line (an unknown PID or NAME among them); 3 if some misplaced\n"
            "pages could not be moved.\n",
    .max_args = -1,
    .run = run,
};
