// C++ operator new and delete, every form (plain, nothrow, array, sized, aligned), on top of
// the malloc family. new loops on the new-handler and throws std::bad_alloc, as the standard
// requires; sized deletes let the engine check the size, other forms ignore what numaheap can
// find itself.
#include <cerrno>
#include <cstdlib>
#include <new>

#define NH_EXPORT __attribute__((visibility("default")))

/* override.c: free with the size the program says the object has (the engine may check it). */
extern "C" __attribute__((visibility("hidden"))) void override_free_sized(void *p, std::size_t n);

namespace {
void *alloc_or_throw(std::size_t n, std::size_t align) {
    for (;;) {
        void *p = align ? aligned_alloc(align, n ? n : 1) : malloc(n ? n : 1);
        if (p) return p;
        std::new_handler h = std::get_new_handler();
        if (!h) throw std::bad_alloc();
        h();
    }
}
void *alloc_nothrow(std::size_t n, std::size_t align) noexcept {
    try {
        return alloc_or_throw(n, align);
    } catch (...) {
        return nullptr;
    }
}
} // namespace

NH_EXPORT void *operator new(std::size_t n) {
    return alloc_or_throw(n, 0);
}
NH_EXPORT void *operator new[](std::size_t n) {
    return alloc_or_throw(n, 0);
}
NH_EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, 0);
}
NH_EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, 0);
}
NH_EXPORT void *operator new(std::size_t n, std::align_val_t a) {
    return alloc_or_throw(n, static_cast<std::size_t>(a));
}
NH_EXPORT void *operator new[](std::size_t n, std::align_val_t a) {
    return alloc_or_throw(n, static_cast<std::size_t>(a));
}
NH_EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, static_cast<std::size_t>(a));
}
NH_EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return alloc_nothrow(n, static_cast<std::size_t>(a));
}

NH_EXPORT void operator delete(void *p) noexcept {
    free(p);
}
NH_EXPORT void operator delete[](void *p) noexcept {
    free(p);
}
NH_EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept {
    free(p);
}
NH_EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept {
    free(p);
}
NH_EXPORT void operator delete(void *p, std::size_t n) noexcept {
    override_free_sized(p, n);
}
NH_EXPORT void operator delete[](void *p, std::size_t n) noexcept {
    override_free_sized(p, n);
}
NH_EXPORT void operator delete(void *p, std::align_val_t) noexcept {
    free(p);
}
NH_EXPORT void operator delete[](void *p, std::align_val_t) noexcept {
    free(p);
}
NH_EXPORT void operator delete(void *p, std::size_t, std::align_val_t) noexcept {
    free(p);
}
NH_EXPORT void operator delete[](void *p, std::size_t, std::align_val_t) noexcept {
    free(p);
}
NH_EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    free(p);
}
NH_EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    free(p);
}
