// C++ operator new and delete, every form (plain, nothrow, array, sized, aligned), on top of
// the malloc family. new loops on the new-handler and throws std::bad_alloc, as the standard
// requires; sized deletes let the engine check the size, other forms ignore what numaheap can
// find itself.
//
// The library does not link the C++ runtime: loaded into a C program (LD_PRELOAD, -lnumaheap)
// it would add libstdc++, libm and libgcc_s, about 1 MiB resident, to every process. What new
// needs of the runtime (the new-handler, throwing std::bad_alloc) is reached through weak
// references, which resolve to the program's libstdc++ whenever the program is C++ (the only
// kind that calls operator new). Built with -fno-exceptions: nothing here catches, so a
// nothrow new whose new-handler throws lets that exception through instead of returning null,
// and a program with a static, unexported libstdc++ gets abort() where bad_alloc is due.
#include <cerrno>
#include <cstdlib>
#include <new>

#define NH_EXPORT __attribute__((visibility("default")))

/* override.c: free with the size the program says the object has (the engine may check it). */
extern "C" __attribute__((visibility("hidden"))) void override_free_sized(void *p, std::size_t n);

/* The C++ runtime's pieces, by their mangled names, weak: null where no libstdc++ is loaded. */
extern "C" {
std::new_handler nh_cxx_get_new_handler() __asm__("_ZSt15get_new_handlerv") __attribute__((weak));
void *__cxa_allocate_exception(std::size_t) throw() __attribute__((weak));
void __cxa_throw(void *, void *, void (*)(void *)) __attribute__((weak, noreturn));
extern char nh_cxx_bad_alloc_type[] __asm__("_ZTISt9bad_alloc") __attribute__((weak));
extern char nh_cxx_bad_alloc_vtable[] __asm__("_ZTVSt9bad_alloc") __attribute__((weak));
void nh_cxx_bad_alloc_dtor(void *) __asm__("_ZNSt9bad_allocD1Ev") __attribute__((weak));
}

namespace {
/* throw std::bad_alloc(), by the Itanium C++ ABI: an exception object whose first word is
 * bad_alloc's vtable pointer (two words into the vtable), thrown with bad_alloc's type. */
[[noreturn]] void throw_bad_alloc() {
    if (!__cxa_allocate_exception || !__cxa_throw || !nh_cxx_bad_alloc_type ||
        !nh_cxx_bad_alloc_vtable)
        abort(); /* operator new called with no C++ runtime loaded */
    void *e = __cxa_allocate_exception(sizeof(std::bad_alloc));
    *static_cast<void **>(e) = nh_cxx_bad_alloc_vtable + 2 * sizeof(void *);
    __cxa_throw(e, nh_cxx_bad_alloc_type, nh_cxx_bad_alloc_dtor);
}

std::new_handler new_handler() {
    return nh_cxx_get_new_handler ? nh_cxx_get_new_handler() : nullptr;
}

/* new's loop: allocate, else run the new-handler and try again; with no handler, throw
 * std::bad_alloc or (nothrow) return null. */
void *alloc_loop(std::size_t n, std::size_t align, bool nothrow) {
    for (;;) {
        void *p = align ? aligned_alloc(align, n ? n : 1) : malloc(n ? n : 1);
        if (p) return p;
        std::new_handler h = new_handler();
        if (!h) {
            if (nothrow) return nullptr;
            throw_bad_alloc();
        }
        h();
    }
}
void *alloc_or_throw(std::size_t n, std::size_t align) {
    return alloc_loop(n, align, false);
}
void *alloc_nothrow(std::size_t n, std::size_t align) noexcept {
    return alloc_loop(n, align, true);
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
