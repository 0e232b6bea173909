/* The malloc family: the only file that defines malloc and friends (plus glibc's __libc_*
 * aliases). Semantics are glibc's: calloc/reallocarray overflow and pvalloc overflow give
 * ENOMEM, a bad alignment gives EINVAL, free(NULL) does nothing, realloc(NULL, n) is malloc(n),
 * realloc(p, 0) frees p and returns NULL. */
#include "alloc_internal.h"
#include "engine_fast.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#define NH_EXPORT __attribute__((visibility("default")))
/* realloc and the aligned calls count towards the routing check as one small allocation: their
 * sizes say nothing about how often the thread should look (realloc growth would check on
 * every step), and they test for large objects explicitly. */
#define ROUTE_NOMINAL_CHARGE 64

static bool bad_alignment(size_t a) {
    return a == 0 || (a & (a - 1)) != 0;
}

/* The slow path: routing checks, and in strict mode with an unbound node (every call comes
 * here then) the kernel's reason for a failure rather than jemalloc's ENOMEM. */
static void *fix_errno(void *p) {
    thread_state_t *ts = &nh_tls;
    if (!p) errno = ts->last_errno ? ts->last_errno : ENOMEM; /* jemalloc's realloc sets none */
    ts->last_errno = 0;
    return p;
}

__attribute__((noinline)) static void *malloc_slow(size_t size) {
    route_slow(&nh_tls);
    if (size >= heap_large_threshold) return engine_malloc_large(size, 0, false);
    return fix_errno(engine_malloc_fast(size));
}

__attribute__((noinline)) static void *calloc_slow(size_t n, size_t size) {
    route_slow(&nh_tls);
    size_t total;
    if (!__builtin_mul_overflow(n, size, &total) && total >= heap_large_threshold)
        return engine_malloc_large(total, 0, true);
    return fix_errno(engine_calloc_fast(n, size));
}

NH_EXPORT void *malloc(size_t size) {
    if (route_charge(size)) return malloc_slow(size);
    return engine_malloc_fast(size); /* a tail call: jemalloc sets errno itself */
}

NH_EXPORT void free(void *p) {
    engine_free_any(p);
}

NH_EXPORT void *calloc(size_t n, size_t size) {
    size_t total;
    if (route_charge(__builtin_mul_overflow(n, size, &total) ? SIZE_MAX : total))
        return calloc_slow(n, size); /* overflow ends there too: jemalloc's ENOMEM */
    return engine_calloc_fast(n, size);
}

NH_EXPORT void *realloc(void *p, size_t size) {
    if (!p) return malloc(size);
    if (size == 0) {
        free(p);
        return NULL;
    }
    if (route_charge(ROUTE_NOMINAL_CHARGE)) route_slow(&nh_tls);
    int node = region_node_of(p);
    void *q = node == NH_NODE_INTERLEAVED || size >= heap_large_threshold
                  ? engine_realloc_large(p, size)
              : node < 0 || node == nh_tls.home ? engine_realloc(p, size)
                                                : engine_realloc_node(p, size, node);
    return fix_errno(q);
}

NH_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return errno = ENOMEM, NULL;
    return realloc(p, total);
}

NH_EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (bad_alignment(align)) return errno = EINVAL, NULL;
    if (route_charge(ROUTE_NOMINAL_CHARGE)) route_slow(&nh_tls);
    void *p = size >= heap_large_threshold ? engine_malloc_large(size, align, false)
                                           : engine_aligned(align, size ? size : 1);
    return fix_errno(p);
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
