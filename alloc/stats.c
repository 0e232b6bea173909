/* Per-node statistics: one node's figures from its region and the engine, the summary glibc's
 * mallinfo family reports, and the report printed at exit (NUMAHEAP_STATS), through the
 * allocation-free formatter: the fields are one X-macro list, so the printer follows the struct. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int stats_node(int node, nh_stats_t *out) {
    if (!heap_ready()) return EINVAL;
    bool large = node == NH_NODE_INTERLEAVED;
    if (!large && heap_slot_of_node(node) < 0) return EINVAL;
    region_t *r = large ? region_large() : region_of_node(node);
    if (!r) return EINVAL;
    memset(out, 0, sizeof *out);
    out->committed = __atomic_load_n(&r->committed, __ATOMIC_RELAXED);
    out->bind_errno = (uint64_t)r->bind_errno;
    out->commit_failures = __atomic_load_n(&r->commit_failures, __ATOMIC_RELAXED);
    out->pages_audited = __atomic_load_n(&r->repair_audited, __ATOMIC_RELAXED);
    out->pages_moved = __atomic_load_n(&r->repair_moved, __ATOMIC_RELAXED);
    out->pages_misplaced = __atomic_load_n(&r->repair_misplaced, __ATOMIC_RELAXED);
    return engine_node_stats(node, out);
}

/* What the engine holds for a region: its resident bytes, never less than what is allocated
 * (an engine may count residency in pages it has touched, objects in bytes asked for). */
static uint64_t held(const nh_stats_t *s) {
    return s->resident > s->allocated ? s->resident : s->allocated;
}

void stats_summary(stats_summary_t *out) {
    memset(out, 0, sizeof *out);
    nh_stats_t s;
    for (int n = mask_next(&heap_nodes, 0); n >= 0; n = mask_next(&heap_nodes, n + 1)) {
        if (stats_node(n, &s)) continue;
        out->arena += held(&s);
        out->allocated += s.allocated;
    }
    if (!stats_node(NH_NODE_INTERLEAVED, &s)) out->large = held(&s);
}

/* One row of the table: a line per write, so reports of processes sharing a file stay whole. */
#define ROW_MAX 256 /* 6 + 16 per field */
_Static_assert(6 + 16 * sizeof(nh_stats_t) / sizeof(uint64_t) < ROW_MAX, "row fits");

void stats_print(int fd) {
    fmt_fd(fd, "numaheap[%s:%d]: per-node statistics (bytes)\n", log_prog_name(), (int)getpid());
    char row[ROW_MAX];
    size_t o = (size_t)fmt_buf(row, sizeof row, "%6s", "node");
#define X(f) o += (size_t)fmt_buf(row + o, sizeof row - o, "%16s", #f);
    NH_STAT_FIELDS(X)
#undef X
    fmt_fd(fd, "%s\n", row);
    for (int n = mask_next(&heap_nodes, 0);; n = mask_next(&heap_nodes, n + 1)) {
        if (n < 0) n = NH_NODE_INTERLEAVED; /* the large region last */
        nh_stats_t s;
        if (!stats_node(n, &s)) {
            if (n == NH_NODE_INTERLEAVED)
                o = (size_t)fmt_buf(row, sizeof row, "%6s", "large");
            else
                o = (size_t)fmt_buf(row, sizeof row, "%6d", n);
#define X(f) o += (size_t)fmt_buf(row + o, sizeof row - o, "%16llu", (unsigned long long)s.f);
            NH_STAT_FIELDS(X)
#undef X
            fmt_fd(fd, "%s\n", row);
        }
        if (n == NH_NODE_INTERLEAVED) break;
    }
}

/* path with "%p" replaced by the PID and "%%" by "%"; false if it does not fit. */
static bool expand_path(const char *path, char *out, size_t len) {
    size_t o = 0;
    for (const char *c = path; *c; c++) {
        char num[24];
        const char *piece = num;
        if (c[0] == '%' && c[1] == 'p') {
            fmt_buf(num, sizeof num, "%d", (int)getpid());
            c++;
        } else if (c[0] == '%' && c[1] == '%') {
            fmt_buf(num, sizeof num, "%%");
            c++;
        } else {
            num[0] = *c;
            num[1] = '\0';
        }
        for (; *piece; piece++) {
            if (o + 1 >= len) return false;
            out[o++] = *piece;
        }
    }
    out[o] = '\0';
    return true;
}

void stats_at_exit(void) {
    if (!heap_config.stats_path[0]) {
        stats_print(log_fd_get());
        return;
    }
    int saved = errno;
    char path[sizeof heap_config.stats_path + 64];
    int fd = -1;
    if (expand_path(heap_config.stats_path, path, sizeof path))
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    else
        errno = ENAMETOOLONG;
    if (fd < 0) {
        log_warn("warning: NUMAHEAP_STATS='%s': cannot write the report there (errno %d)\n",
                 heap_config.stats_path, errno);
    } else {
        stats_print(fd);
        close(fd);
    }
    errno = saved;
}
