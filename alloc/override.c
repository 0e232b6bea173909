/* The malloc family: the only file that defines malloc and friends (plus glibc's __libc_*
 * aliases), on top of the engine contract (engine.h). Semantics are glibc's: calloc/
 * reallocarray overflow and pvalloc overflow give ENOMEM, a bad alignment gives EINVAL,
 * free(NULL) does nothing, realloc(NULL, n) is malloc(n), realloc(p, 0) frees p and returns
 * NULL, malloc_trim returns 1 if memory was given back. */
#include "engine.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#define NH_EXPORT __attribute__((visibility("default")))

static bool bad_alignment(size_t a) {
    return a == 0 || (a & (a - 1)) != 0;
}

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
    return engine_realloc(p, size);
}

NH_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return errno = ENOMEM, NULL;
    return realloc(p, total);
}

NH_EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (bad_alignment(align)) return errno = EINVAL, NULL;
    return engine_aligned(align, size);
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

NH_EXPORT int malloc_trim(size_t pad) {
    return engine_trim() ? 1 : 0;
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
