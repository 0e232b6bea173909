/* The per-page audit and repair of another process's heap: its resident pages from
 * /proc/PID/pagemap, where each is from move_pages(pid) with no node list, and those away from
 * their region's home node moved there with move_pages(pid, ..., MPOL_MF_MOVE). The one walk
 * behind numaheap stat --exact and numaheap repair. */
#include "heap.h"
#include "policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGEMAP_CHUNK 4096 /* entries read at a time: 32 KiB */
#define BATCH         512  /* pages per move_pages call */
#define PRESENT       (1ull << 63)

typedef struct walk {
    const heap_t *h;
    int move;
    heap_audit_t *out;
    void *pages[BATCH];
    int status[BATCH];
    unsigned long n;
    int home;       /* the batch's pages all belong to one mapping, so to one home */
    uint64_t found; /* pages of the current mapping the kernel reported on a node */
} walk_t;

/* Moves the batch's misplaced pages (status on another node) home. */
static int move_home(walk_t *w) {
    heap_node_audit_t *a = &w->out->home[w->home];
    void *pages[BATCH];
    int nodes[BATCH], status[BATCH];
    unsigned long k = 0;
    for (unsigned long i = 0; i < w->n; i++)
        if (w->status[i] >= 0 && w->status[i] != w->home)
            pages[k] = w->pages[i], nodes[k] = w->home, status[k++] = -EAGAIN; /* until told */
    if (!k) return 0;
    int e = kernel_move_pages_pid(w->h->pid, k, pages, nodes, status, MPOL_MF_MOVE);
    if (e == EPERM || e == ESRCH) return -e;
    if (e && e != ENOENT && e != ENOMEM && e != EBUSY) {
        /* refused as a whole: home offline or without memory (ENODEV), not allowed to the
         * process by its cpuset (EACCES) */
        a->failed += k;
        if (!a->error) a->error = e;
        return 0;
    }
    /* a page busy at that moment (one of a transparent huge page being split, say) usually
     * moves on another try */
    for (int retry = 0; retry < 3; retry++)
        for (unsigned long i = 0; i < k; i++) {
            if (status[i] != -EBUSY && status[i] != -EAGAIN) continue;
            int one = -EAGAIN;
            if (!kernel_move_pages_pid(w->h->pid, 1, &pages[i], &nodes[i], &one, MPOL_MF_MOVE) ||
                one >= 0)
                status[i] = one;
        }
    for (unsigned long i = 0; i < k; i++) {
        if (status[i] == w->home) {
            a->moved++;
            continue;
        }
        a->failed++;
        if (!a->error) a->error = status[i] < 0 ? -status[i] : EAGAIN;
    }
    return 0;
}

static int flush(walk_t *w) {
    if (!w->n) return 0;
    int e = kernel_move_pages_pid(w->h->pid, w->n, w->pages, NULL, w->status, 0);
    if (e) return -e;
    heap_node_audit_t *a = &w->out->home[w->home];
    for (unsigned long i = 0; i < w->n; i++) {
        int node = w->status[i];
        if (node < 0) continue; /* not resident after all (-ENOENT), or the zero page (-EFAULT) */
        w->found++;
        a->audited++;
        if (node == w->home || node >= NH_MAX_NODES) continue;
        a->misplaced++;
        w->out->misplaced_on[node]++;
    }
    int rc = w->move ? move_home(w) : 0;
    w->n = 0;
    return rc;
}

/* The resident pages of v, from its start until the kernel has reported numa_maps' count. */
static int walk_vma(walk_t *w, int fd, const heap_vma_t *v, unsigned long page) {
    static uint64_t entries[PAGEMAP_CHUNK];
    w->home = v->home;
    w->found = 0;
    for (unsigned long addr = v->start; addr < v->end && w->found < v->pages;) {
        unsigned long want = (v->end - addr) / page;
        if (want > PAGEMAP_CHUNK) want = PAGEMAP_CHUNK;
        ssize_t got = pread(fd, entries, want * sizeof *entries, (off_t)(addr / page * 8));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -errno;
        if (got < (ssize_t)sizeof *entries) break; /* the mapping has gone meanwhile */
        for (size_t i = 0; i < (size_t)got / sizeof *entries; i++, addr += page) {
            if (!(entries[i] & PRESENT)) continue;
            w->pages[w->n++] = (void *)addr;
            if (w->n == BATCH) {
                int rc = flush(w);
                if (rc) return rc;
            }
        }
        int rc = flush(w);
        if (rc) return rc;
    }
    return 0;
}

int heap_audit(const heap_t *h, int move, heap_audit_t *out) {
    memset(out, 0, sizeof *out);
    char path[4200];
    snprintf(path, sizeof path, "%s/%d/pagemap", heap_proc_root(), h->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    walk_t *w = calloc(1, sizeof *w);
    if (!w) return close(fd), -ENOMEM;
    *w = (walk_t){.h = h, .move = move, .out = out};
    unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    int rc = 0;
    for (size_t i = 0; !rc && i < h->nvmas; i++)
        if (h->vmas[i].home >= 0 && h->vmas[i].pages) rc = walk_vma(w, fd, &h->vmas[i], page);
    free(w);
    close(fd);
    return rc;
}
