/* Per-node statistics printed at exit (NUMAHEAP_STATS=1), through the allocation-free
 * formatter: the fields are one X-macro list, so the printer follows the struct. */
#include "alloc_internal.h"

#define NH_STAT_FIELDS(X)                                                                          \
    X(allocated)                                                                                   \
    X(active)                                                                                      \
    X(committed)                                                                                   \
    X(resident)                                                                                    \
    X(arenas)                                                                                      \
    X(bind_errno)                                                                                  \
    X(commit_failures)

void stats_print(int fd) {
    fmt_fd(fd, "numaheap: per-node statistics (bytes)\n");
#define X(f) fmt_fd(fd, "%16s", #f);
    fmt_fd(fd, "%6s", "node");
    NH_STAT_FIELDS(X)
#undef X
    fmt_fd(fd, "\n");
    for (int n = mask_next(&heap_nodes, 0); n >= 0; n = mask_next(&heap_nodes, n + 1)) {
        nh_stats_t s;
        if (nh_stats(n, &s)) continue;
        fmt_fd(fd, "%6d", n);
#define X(f) fmt_fd(fd, "%16llu", (unsigned long long)s.f);
        NH_STAT_FIELDS(X)
#undef X
        fmt_fd(fd, "\n");
    }
}
