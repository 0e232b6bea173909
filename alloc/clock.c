/* The coarse monotonic clock in milliseconds, the one clock the allocator reads (decay, sweeps,
 * the cpuset check). It calls the vDSO's clock_gettime itself, found once in the vDSO's symbol
 * table, instead of libc's wrapper: that wrapper sits on a text page no other call of ours
 * touches, and the kernel maps a whole 64 KiB of libc around each page a program first runs,
 * which a small program pays for in resident memory. Without a vDSO (or its symbol) it falls
 * back to the system call. Lookup allocates nothing and runs at most once per thread that
 * races for it; the result is the same for all. */
#include "alloc_internal.h"

#include <elf.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);

static clock_fn vdso_clock;
static _Atomic int looked_up;

/* The address of symbol name in the vDSO image at base, or NULL. */
static void *vdso_sym(uintptr_t base, const char *name) {
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64) return NULL;
    /* the image is mapped whole, so file offsets are offsets from base; symbol values are
     * virtual addresses of the first segment's link-time layout */
    uintptr_t bias = 0;
    bool have_load = false;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) {
            bias = base + ph[i].p_offset - ph[i].p_vaddr;
            have_load = true;
            break;
        }
    if (!have_load || !eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr)) return NULL;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum) continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
        const char *str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
        size_t n = sh[i].sh_entsize ? sh[i].sh_size / sh[i].sh_entsize : 0;
        for (size_t k = 0; k < n; k++)
            if (sym[k].st_shndx != SHN_UNDEF && ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC &&
                !strcmp(str + sym[k].st_name, name))
                return (void *)(bias + sym[k].st_value);
    }
    return NULL;
}

static void look_up(void) {
    uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    clock_fn f = NULL;
    if (base) {
        f = (clock_fn)vdso_sym(base, "__vdso_clock_gettime");           /* x86-64 */
        if (!f) f = (clock_fn)vdso_sym(base, "__kernel_clock_gettime"); /* arm64, riscv */
    }
    struct timespec ts;
    if (f && f(CLOCK_MONOTONIC_COARSE, &ts) != 0) f = NULL; /* not served there: the call */
    __atomic_store_n(&vdso_clock, f, __ATOMIC_RELAXED);
    __atomic_store_n(&looked_up, 1, __ATOMIC_RELEASE);
}

uint64_t nh_clock_ms(void) {
    if (NH_UNLIKELY(!__atomic_load_n(&looked_up, __ATOMIC_ACQUIRE))) look_up();
    struct timespec ts = {0, 0};
    clock_fn f = __atomic_load_n(&vdso_clock, __ATOMIC_RELAXED);
    if (!f || f(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
