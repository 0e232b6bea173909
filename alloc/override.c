/* The malloc family: the only file that defines malloc and friends (plus glibc's __libc_*
 * aliases and its introspection: mallinfo, mallinfo2, malloc_stats, malloc_info, mallopt), on
 * top of the engine contract (engine.h). Semantics are glibc's: calloc/reallocarray overflow
 * and pvalloc overflow give ENOMEM, a bad alignment gives EINVAL, free(NULL) does nothing,
 * realloc(NULL, n) is malloc(n), realloc(p, 0) frees p and returns NULL, malloc_trim returns 1
 * if memory was given back. The introspection answers from numaheap's own figures, and
 * mallopt honours the options numaheap has a knob for. */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NH_EXPORT __attribute__((visibility("default")))

static bool bad_alignment(size_t a) {
    return a == 0 || (a & (a - 1)) != 0;
}

/* Under bind, an exhausted home node is not the end: bind_spill tries the other bound nodes
 * (inside engine_malloc and engine_calloc; here for the calls whose engine entry has none). */
NH_EXPORT void *malloc(size_t size) {
    return engine_malloc(size);
}

NH_EXPORT void free(void *p) {
    engine_free(p);
}

NH_EXPORT void *calloc(size_t n, size_t size) {
    return engine_calloc(n, size);
}

NH_EXPORT void *realloc(void *p, size_t size) {
    if (!p) return malloc(size);
    if (size == 0) {
        free(p);
        return NULL;
    }
    void *q = engine_realloc(p, size);
    if (NH_LIKELY(q != NULL)) return q;
    if (!(q = bind_spill(size, 0, false, region_node_of(p) < 0 ? -1 : region_node_of(p))))
        return NULL; /* p stays valid, as realloc requires */
    size_t old = engine_usable_size(p);
    memcpy(q, p, old < size ? old : size);
    free(p);
    return q;
}

NH_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return errno = ENOMEM, NULL;
    return realloc(p, total);
}

NH_EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (bad_alignment(align)) return errno = EINVAL, NULL;
    void *p = engine_aligned(align, size);
    return NH_LIKELY(p != NULL) ? p : bind_spill(size, align, false, bind_failed_node(size));
}

NH_EXPORT void *memalign(size_t align, size_t size) {
    return aligned_alloc(align, size);
}

NH_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    if (bad_alignment(align) || align % sizeof(void *)) return EINVAL;
    int saved = errno;
    void *p = aligned_alloc(align, size);
    int e = p ? 0 : errno;
    errno = saved; /* posix_memalign reports through its return value only */
    if (p) *out = p;
    return e;
}

NH_EXPORT void *valloc(size_t size) {
    return aligned_alloc(NH_PAGE, size);
}

NH_EXPORT void *pvalloc(size_t size) {
    size_t rounded;
    if (__builtin_add_overflow(size, NH_PAGE - 1, &rounded)) return errno = ENOMEM, NULL;
    return aligned_alloc(NH_PAGE, (rounded & ~(NH_PAGE - 1)) ? rounded & ~(NH_PAGE - 1) : NH_PAGE);
}

NH_EXPORT size_t malloc_usable_size(void *p) {
    return p ? engine_usable_size(p) : 0;
}

/* For the C++ sized deletes (override_cpp.cc). */
NH_HIDDEN void override_free_sized(void *p, size_t n);
void override_free_sized(void *p, size_t n) {
    engine_free_sized(p, n);
}

NH_EXPORT int malloc_trim(size_t pad) {
    return engine_trim() ? 1 : 0;
}

/* ---- glibc's introspection, from numaheap's figures ------------------------------------ */
/* mallinfo2: arena = bytes the node regions hold (resident), uordblks = bytes in live objects
 * there, fordblks = arena - uordblks, hblkhd = bytes the large (interleaved) region holds, so
 * uordblks + hblkhd is the whole heap in use, as with glibc. Counts numaheap does not keep
 * (ordblks, smblks, hblks, usmblks, fsmblks) and keepcost are 0. */
NH_EXPORT struct mallinfo2 mallinfo2(void) {
    struct mallinfo2 mi = {0};
    if (!heap_ready()) return mi;
    stats_summary_t s;
    stats_summary(&s);
    mi.arena = s.arena;
    mi.uordblks = s.allocated;
    mi.fordblks = s.arena - s.allocated;
    mi.hblkhd = s.large;
    return mi;
}

static int clamp_int(size_t v) {
    return v > INT_MAX ? INT_MAX : (int)v;
}

/* The same in int fields, each capped at INT_MAX (glibc's wrap around). */
NH_EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 m = mallinfo2();
    struct mallinfo mi = {0};
    mi.arena = clamp_int(m.arena);
    mi.uordblks = clamp_int(m.uordblks);
    mi.fordblks = clamp_int(m.fordblks);
    mi.hblkhd = clamp_int(m.hblkhd);
    return mi;
}

/* glibc's layout on stderr, an "Arena N:" block per node N, then the large region and the
 * total. glibc's "max mmap regions/bytes" lines are left out: numaheap keeps no maxima. */
NH_EXPORT void malloc_stats(void) {
    if (!heap_ready()) return;
    uint64_t sys = 0, used = 0;
    nh_stats_t st;
    for (int n = mask_next(&heap_nodes, 0);; n = mask_next(&heap_nodes, n + 1)) {
        if (n < 0) n = NH_NODE_INTERLEAVED;
        if (!stats_node(n, &st)) {
            uint64_t h = st.resident > st.allocated ? st.resident : st.allocated;
            if (n == NH_NODE_INTERLEAVED)
                fmt_fd(2, "Large objects (interleaved over the nodes):\n");
            else
                fmt_fd(2, "Arena %d:\n", n);
            fmt_fd(2, "system bytes     = %10llu\n", (unsigned long long)h);
            fmt_fd(2, "in use bytes     = %10llu\n", (unsigned long long)st.allocated);
            sys += h;
            used += st.allocated;
        }
        if (n == NH_NODE_INTERLEAVED) break;
    }
    fmt_fd(2, "Total (incl. mmap):\n");
    fmt_fd(2, "system bytes     = %10llu\n", (unsigned long long)sys);
    fmt_fd(2, "in use bytes     = %10llu\n", (unsigned long long)used);
}

/* glibc's XML shape: <malloc version="1"> with one <heap nr="N"> per node N (sizes of free
 * chunks are not kept: <sizes/> is empty and "rest" carries the free bytes without a count),
 * the large region as the "mmap" total, and numaheap's own figures in <numaheap .../>. The
 * figures are all taken before anything is written: fp's stdio may call malloc. */
NH_EXPORT int malloc_info(int options, FILE *fp) {
    if (options != 0 || !fp) return errno = EINVAL, -1;
    if (!heap_ready()) return errno = EAGAIN, -1;
    int nodes[NH_MAX_SLOTS + 1], count = 0;
    nh_stats_t st[NH_MAX_SLOTS + 1];
    for (int n = mask_next(&heap_nodes, 0); n >= 0 && count < NH_MAX_SLOTS;
         n = mask_next(&heap_nodes, n + 1))
        if (!stats_node(n, &st[count])) nodes[count++] = n;
    nh_stats_t large = {0};
    stats_node(NH_NODE_INTERLEAVED, &large);
    uint64_t free_total = 0, sys_total = 0, aspace_total = 0;
    int e = 0;
#define OUT(...) (e |= fprintf(fp, __VA_ARGS__) < 0)
    OUT("<malloc version=\"1\">\n");
    for (int i = 0; i < count; i++) {
        uint64_t h = st[i].resident > st[i].allocated ? st[i].resident : st[i].allocated;
        uint64_t f = h - st[i].allocated;
        free_total += f;
        sys_total += h;
        aspace_total += st[i].committed;
        OUT("<heap nr=\"%d\">\n<sizes>\n</sizes>\n", nodes[i]);
        OUT("<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
        OUT("<total type=\"rest\" size=\"%llu\"/>\n", (unsigned long long)f);
        OUT("<system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)h);
        OUT("<aspace type=\"total\" size=\"%llu\"/>\n", (unsigned long long)st[i].committed);
        OUT("<numaheap node=\"%d\"", nodes[i]);
#define X(f) OUT(" %s=\"%llu\"", #f, (unsigned long long)st[i].f);
        NH_STAT_FIELDS(X)
#undef X
        OUT("/>\n</heap>\n");
    }
    uint64_t large_held = large.resident > large.allocated ? large.resident : large.allocated;
    OUT("<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
    OUT("<total type=\"rest\" size=\"%llu\"/>\n", (unsigned long long)free_total);
    OUT("<total type=\"mmap\" size=\"%llu\"/>\n", (unsigned long long)large_held);
    OUT("<system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)sys_total);
    OUT("<aspace type=\"total\" size=\"%llu\"/>\n", (unsigned long long)aspace_total);
    OUT("<numaheap node=\"large\" engine=\"%s\"", engine_name());
#define X(f) OUT(" %s=\"%llu\"", #f, (unsigned long long)large.f);
    NH_STAT_FIELDS(X)
#undef X
    OUT("/>\n</malloc>\n");
#undef OUT
    return e ? (errno = EIO, -1) : 0;
}

/* glibc's options where numaheap has the same knob, with glibc's answers: 1 when the option
 * is honoured, 0 when it is refused. M_MMAP_THRESHOLD moves the large threshold (glibc's
 * "mmapped chunks" are numaheap's large objects: spread over nodes, each a span of its own),
 * within glibc's bound and tune.c's; M_MMAP_MAX 0 (or less: glibc then maps nothing either)
 * makes no object large, and any positive count makes the threshold apply again, numaheap
 * having no limit on the number of large objects to set. Everything else is refused, as a
 * no-op claiming success would lie: M_TRIM_THRESHOLD and M_TOP_PAD size the top of a brk
 * heap numaheap does not have (its freed memory goes back by age, NUMAHEAP_DECAY_MS), the
 * M_ARENA_* options count arenas that numaheap sizes per node at init, M_MXFAST sizes glibc's
 * fastbins, M_PERTURB would need the inline paths to fill memory, and M_CHECK_ACTION chooses
 * what glibc's heap checks do (numaheap's always stop the program). */
#define GLIBC_MMAP_THRESHOLD_MAX (4ul * 1024 * 1024 * sizeof(long)) /* HEAP_MAX_SIZE / 2 */

NH_EXPORT int mallopt(int param, int value) {
    switch (param) {
    case M_MMAP_THRESHOLD:
        return value >= 0 && (unsigned long)value <= GLIBC_MMAP_THRESHOLD_MAX &&
               tune_large_threshold((uint64_t)value) == 0;
    case M_MMAP_MAX:
        return tune_large_objects(value > 0) == 0;
    default:
        return 0;
    }
}

/* glibc's internal names, which some programs and libraries call directly. */
NH_EXPORT void *__libc_malloc(size_t size);
NH_EXPORT void __libc_free(void *p);
NH_EXPORT void *__libc_calloc(size_t n, size_t size);
NH_EXPORT void *__libc_realloc(void *p, size_t size);
NH_EXPORT void *__libc_memalign(size_t align, size_t size);
NH_EXPORT void *__libc_valloc(size_t size);
NH_EXPORT void *__libc_pvalloc(size_t size);
NH_EXPORT int __posix_memalign(void **out, size_t align, size_t size);

void *__libc_malloc(size_t size) {
    return malloc(size);
}
void __libc_free(void *p) {
    free(p);
}
void *__libc_calloc(size_t n, size_t size) {
    return calloc(n, size);
}
void *__libc_realloc(void *p, size_t size) {
    return realloc(p, size);
}
void *__libc_memalign(size_t align, size_t size) {
    return memalign(align, size);
}
void *__libc_valloc(size_t size) {
    return valloc(size);
}
void *__libc_pvalloc(size_t size) {
    return pvalloc(size);
}
int __posix_memalign(void **out, size_t align, size_t size) {
    return posix_memalign(out, align, size);
}
