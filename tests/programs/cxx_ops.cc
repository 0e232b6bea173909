// C++ operators through numaheap: every new/delete form, alignment, nothrow failure, and
// std::bad_alloc from the throwing forms. Exits 0 when all hold.
#include <cstdint>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "numaheap.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            std::fprintf(stderr, "check failed: %s\n", #c);                                        \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

struct alignas(256) Wide {
    char b[300];
};

int main() {
    int *i = new int(7);
    CHECK(nh_node_of(i) == 0);
    delete i;
    int *a = new int[1000]();
    CHECK(a[999] == 0 && nh_node_of(a) == 0);
    delete[] a;
    Wide *w = new Wide;
    CHECK(reinterpret_cast<std::uintptr_t>(w) % 256 == 0);
    delete w;
    Wide *wa = new Wide[3];
    CHECK(reinterpret_cast<std::uintptr_t>(wa) % 256 == 0);
    delete[] wa;
    void *n = ::operator new(SIZE_MAX / 2, std::nothrow);
    CHECK(n == nullptr);
    n = ::operator new[](SIZE_MAX / 2, std::align_val_t(64), std::nothrow);
    CHECK(n == nullptr);
    bool threw = false;
    try {
        volatile std::size_t huge = SIZE_MAX / 2;
        n = ::operator new(huge);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    std::vector<std::string> v;
    for (int k = 0; k < 100000; k++)
        v.push_back(std::to_string(k) + "-numaheap-string");
    CHECK(v[99999] == "99999-numaheap-string");
    std::puts("cxx ok");
    return 0;
}
