/* Finds a process's numaheap heap from outside: the processes a PID or NAME argument means,
 * the heap's mappings (named [anon:numaheap ...] in /proc/PID/maps, else listed in the region
 * table the library publishes, region_table.h) and their resident pages per node from
 * /proc/PID/numa_maps. */
#define _GNU_SOURCE /* getline */
#include "heap.h"
#include "region_table.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOT_HEAP (-3) /* a mapping outside numaheap's named regions */

const char *heap_proc_root(void) {
    const char *root = getenv("NH_TEST_PROC");
    return root && *root ? root : "/proc";
}

int heap_comm(int pid, char *buf, size_t len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/comm", heap_proc_root(), pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (!ok) return -EIO;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

static int add_pid(int *pids, int *n, int pid) {
    for (int i = 0; i < *n; i++)
        if (pids[i] == pid) return 0;
    if (*n >= HEAP_MAX_PIDS) return -1;
    pids[(*n)++] = pid;
    return 0;
}

int heap_add_target(const cli_command_t *cmd, const char *arg, int *pids, int *npids) {
    char comm[64];
    if (*arg && strspn(arg, "0123456789") == strlen(arg)) {
        long pid = strlen(arg) <= 9 ? atol(arg) : -1;
        if (pid <= 0 || heap_comm((int)pid, comm, sizeof comm))
            return cli_usage_error(cmd, "no process with PID %s", arg);
        if (add_pid(pids, npids, (int)pid))
            return cli_usage_error(cmd, "more than %d processes", HEAP_MAX_PIDS);
        return -1;
    }
    DIR *d = opendir(heap_proc_root());
    int found = 0, full = 0;
    for (struct dirent *e; d && !full && (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        int pid = atoi(e->d_name);
        if (heap_comm(pid, comm, sizeof comm) || strcmp(comm, arg)) continue;
        full = add_pid(pids, npids, pid) != 0;
        found++;
    }
    if (d) closedir(d);
    if (full) return cli_usage_error(cmd, "more than %d processes", HEAP_MAX_PIDS);
    if (!found) return cli_usage_error(cmd, "no process named '%s'", arg);
    return -1;
}

typedef struct vec {
    heap_vma_t *v;
    size_t n, cap;
} vec_t;

static int push(vec_t *a, heap_vma_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        heap_vma_t *bigger = realloc(a->v, cap * sizeof *bigger);
        if (!bigger) return -ENOMEM;
        a->v = bigger, a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* The home node a mapping's name gives, NOT_HEAP for a name that is not numaheap's. */
static int named_home(const char *name) {
    int node;
    if (strncmp(name, "[anon:numaheap ", 15)) return NOT_HEAP;
    if (sscanf(name, "[anon:numaheap node %d]", &node) == 1 && node >= 0 && node < NH_MAX_NODES)
        return node;
    return -1; /* large, or a region of a later version: heap, but no home to audit against */
}

/* The region table published at addr, read through /proc/PID/mem; regions appended to tab.
 * Anything that is not a well-formed table (another program's memfd of that name, a newer
 * version) is ignored. */
static void read_table(int pid, unsigned long addr, vec_t *tab) {
    static union {
        nh_region_table_t t;
        char bytes[NH_REGION_TABLE_SIZE];
    } u;
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/mem", heap_proc_root(), pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = pread(fd, &u, sizeof u, (off_t)addr);
    close(fd);
    if (n != (ssize_t)sizeof u || u.t.magic != NH_REGION_TABLE_MAGIC ||
        u.t.version != NH_REGION_TABLE_VERSION || u.t.entry_size != sizeof(nh_region_entry_t) ||
        u.t.count > NH_REGION_TABLE_MAX)
        return;
    for (uint32_t i = 0; i < u.t.count; i++) {
        const nh_region_entry_t *e = &u.t.entries[i];
        if (e->start >= e->end) continue;
        int home = e->node >= 0 && e->node < NH_MAX_NODES ? e->node : -1;
        if (push(tab, (heap_vma_t){(unsigned long)e->start, (unsigned long)e->end, home, 0, 0}))
            return;
    }
}

/* Mappings of maps overlapping the table's regions, cut at the regions' bounds. */
static int pieces(const vec_t *maps, const vec_t *tab, vec_t *out) {
    for (size_t i = 0; i < maps->n; i++)
        for (size_t j = 0; j < tab->n; j++) {
            unsigned long lo =
                maps->v[i].start > tab->v[j].start ? maps->v[i].start : tab->v[j].start;
            unsigned long hi = maps->v[i].end < tab->v[j].end ? maps->v[i].end : tab->v[j].end;
            if (lo < hi &&
                push(out, (heap_vma_t){lo, hi, tab->v[j].home, 0, lo > maps->v[i].start}))
                return -ENOMEM;
        }
    return 0;
}

static int by_start(const void *a, const void *b) {
    unsigned long x = ((const heap_vma_t *)a)->start, y = ((const heap_vma_t *)b)->start;
    return x < y ? -1 : x > y;
}

/* The heap's mappings: named ones, else the pieces of mappings inside a published table. */
static int read_maps(heap_t *h) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/maps", heap_proc_root(), h->pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    vec_t named = {0}, all = {0}, tab = {0};
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        unsigned long start, end;
        int name = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name) < 2) continue;
        line[strcspn(line, "\n")] = 0;
        int home = name ? named_home(line + name) : NOT_HEAP;
        if (home != NOT_HEAP)
            rc = push(&named, (heap_vma_t){start, end, home, 0, 0});
        else if (name && !strcmp(line + name, "/memfd:" NH_REGION_TABLE_NAME " (deleted)"))
            read_table(h->pid, start, &tab);
        else
            rc = push(&all, (heap_vma_t){start, end, NOT_HEAP, 0, 0});
    }
    free(line);
    fclose(f);
    if (!rc && named.n) {
        h->source = HEAP_NAMED;
        h->vmas = named.v, h->nvmas = named.n;
        named.v = NULL;
    } else if (!rc && tab.n) {
        vec_t out = {0};
        rc = pieces(&all, &tab, &out);
        h->source = HEAP_TABLE;
        h->vmas = out.v, h->nvmas = out.n;
    }
    free(named.v), free(all.v), free(tab.v);
    if (h->nvmas) qsort(h->vmas, h->nvmas, sizeof *h->vmas, by_start);
    return rc;
}

/* The first heap mapping starting at start, or NULL. */
static heap_vma_t *vma_at(const heap_t *h, unsigned long start) {
    size_t lo = 0, hi = h->nvmas;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->vmas[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->nvmas && h->vmas[lo].start == start ? &h->vmas[lo] : NULL;
}

int heap_read(int pid, heap_t *h) {
    memset(h, 0, sizeof *h);
    h->pid = pid;
    int rc = heap_comm(pid, h->comm, sizeof h->comm);
    if (!rc) rc = read_maps(h);
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/numa_maps", heap_proc_root(), pid);
    FILE *f = rc ? NULL : fopen(path, "r");
    if (!rc && !f) rc = -errno;
    if (rc) return heap_free(h), rc;
    char *line = NULL, *save;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        heap_vma_t *v = h->nvmas ? vma_at(h, strtoul(line, NULL, 16)) : NULL;
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
            h->total[node] += pages * page;
            if (!v) continue;
            v->pages += pages * (page / 4096);
            h->heap[node] += pages * page;
            if (v->home >= 0 && v->home != node) h->misplaced[node] += pages;
        }
    }
    free(line);
    fclose(f);
    /* the further pieces of a mapping cut by region bounds: numa_maps counts the whole mapping */
    for (size_t i = 1; i < h->nvmas; i++)
        if (h->vmas[i].cut) h->vmas[i].pages = h->vmas[i - 1].pages;
    return 0;
}

void heap_free(heap_t *h) {
    free(h->vmas);
    h->vmas = NULL, h->nvmas = 0;
}

const char *heap_source_name(heap_source_t s) {
    return s == HEAP_NAMED ? "names" : s == HEAP_TABLE ? "region table" : "none";
}

const char *heap_error(int rc) {
    switch (-rc) {
    case ENOENT:
    case ESRCH:
        return "has exited";
    case ENODATA:
        return "no numaheap heap (no named regions, no region table)";
    case EPERM:
    case EACCES:
        return rc == -EPERM
                   ? "not permitted (EPERM): moving another process's pages needs ptrace read "
                     "access to it (the same user, or CAP_SYS_PTRACE) and CAP_SYS_NICE for "
                     "another user's process"
                   : "not permitted (EACCES): reading another process's maps and pages needs "
                     "ptrace read access to it (the same user, or CAP_SYS_PTRACE), and moving "
                     "them CAP_SYS_NICE for another user's process";
    default:
        return strerror(-rc);
    }
}
