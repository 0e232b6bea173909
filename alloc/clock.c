/* The coarse monotonic clock in milliseconds, the clock of the allocator's periodic work (decay,
 * sweeps, the cpuset check; the repairer's sleep has its own). It calls the vDSO's clock_gettime
 * itself, found once through the vDSO's dynamic symbol table, instead of libc's wrapper: that
 * wrapper sits on a text page no other call of ours touches, and the kernel maps a whole 64 KiB
 * of libc around each page a program first runs, which a small program pays for in resident
 * memory. Without a vDSO (or its symbol) it falls back to the system call. The lookup
 * allocates nothing, reads only what the vDSO's loaded segment covers, and runs at most once
 * per thread that races for it; the result is the same for all. */
#include "alloc_internal.h"

#include <elf.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);

#if defined(__LP64__)
static clock_fn vdso_clock;
static _Atomic int looked_up;

/* The vDSO image mapped at base: its loaded segment (link-time addresses [lo, hi), at base +
 * the bias) and what its dynamic section names. */
typedef struct vdso {
    uintptr_t bias, lo, hi;
    const Elf64_Sym *sym;
    const char *str;
    size_t nsym, strsz;
} vdso_t;

/* The address of link-time range [vaddr, vaddr + size) in the image, or NULL if the loaded
 * segment does not cover it. */
static const void *vdso_at(const vdso_t *v, uintptr_t vaddr, size_t size) {
    if (vaddr < v->lo || vaddr > v->hi || size > v->hi - vaddr) return NULL;
    return (const void *)(v->bias + vaddr);
}

/* The number of symbols a GNU hash table covers: one past the last chain's end. */
static size_t gnu_hash_count(const vdso_t *v, uintptr_t table) {
    const uint32_t *h = vdso_at(v, table, 16);
    if (!h) return 0;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom = h[2];
    uintptr_t buckets = table + 16 + (uintptr_t)bloom * 8, chains = buckets + nbuckets * 4u;
    const uint32_t *bk = vdso_at(v, buckets, (size_t)nbuckets * 4);
    if (!bk) return 0;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (bk[i] > last) last = bk[i];
    if (last < symoffset) return symoffset;
    for (;; last++) { /* a chain ends at an entry with the low bit set */
        const uint32_t *c = vdso_at(v, chains + (uintptr_t)(last - symoffset) * 4, 4);
        if (!c) return 0;
        if (*c & 1) return (size_t)last + 1;
    }
}

static bool vdso_open(uintptr_t base, vdso_t *v) {
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_phentsize != sizeof(Elf64_Phdr))
        return false;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff), *load = NULL, *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !load) load = &ph[i];
        if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
    }
    if (!load || !dyn) return false;
    memset(v, 0, sizeof *v);
    v->bias = base + load->p_offset - load->p_vaddr;
    v->lo = load->p_vaddr;
    v->hi = load->p_vaddr + load->p_memsz;
    const Elf64_Dyn *d = vdso_at(v, dyn->p_vaddr, dyn->p_memsz);
    if (!d) return false;
    uintptr_t symtab = 0, strtab = 0, hash = 0, gnu_hash = 0;
    for (size_t i = 0; i < dyn->p_memsz / sizeof *d && d[i].d_tag != DT_NULL; i++) {
        uintptr_t val = (uintptr_t)d[i].d_un.d_ptr;
        switch (d[i].d_tag) {
        case DT_SYMTAB:
            symtab = val;
            break;
        case DT_STRTAB:
            strtab = val;
            break;
        case DT_STRSZ:
            v->strsz = (size_t)val;
            break;
        case DT_HASH:
            hash = val;
            break;
        case DT_GNU_HASH:
            gnu_hash = val;
            break;
        }
    }
    if (hash) {
        const uint32_t *h = vdso_at(v, hash, 8);
        v->nsym = h ? h[1] : 0; /* nchain: one entry per symbol */
    } else if (gnu_hash) {
        v->nsym = gnu_hash_count(v, gnu_hash);
    }
    v->sym = vdso_at(v, symtab, v->nsym * sizeof(Elf64_Sym));
    v->str = vdso_at(v, strtab, v->strsz);
    return v->sym && v->str && v->nsym;
}

/* The address of function name in the vDSO at base, or NULL. */
static void *vdso_sym(uintptr_t base, const char *name) {
    vdso_t v;
    if (!vdso_open(base, &v)) return NULL;
    size_t len = strlen(name);
    for (size_t k = 0; k < v.nsym; k++) {
        const Elf64_Sym *s = &v.sym[k];
        if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
            s->st_name + len >= v.strsz || memcmp(v.str + s->st_name, name, len + 1))
            continue;
        return (void *)vdso_at(&v, (uintptr_t)s->st_value, 1);
    }
    return NULL;
}

static void look_up(void) {
    clock_fn f = NULL;
    uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (base) {
#if defined(__aarch64__)
        f = (clock_fn)vdso_sym(base, "__kernel_clock_gettime");
#else
        f = (clock_fn)vdso_sym(base, "__vdso_clock_gettime"); /* x86-64, riscv64 */
#endif
    }
    struct timespec ts;
    if (f && f(CLOCK_MONOTONIC_COARSE, &ts) != 0) f = NULL; /* not served there: the call */
    __atomic_store_n(&vdso_clock, f, __ATOMIC_RELAXED);
    __atomic_store_n(&looked_up, 1, __ATOMIC_RELEASE);
}
#endif

uint64_t nh_clock_ms(void) {
    struct timespec ts = {0, 0};
#if defined(__LP64__)
    if (NH_UNLIKELY(!__atomic_load_n(&looked_up, __ATOMIC_ACQUIRE))) look_up();
    clock_fn f = __atomic_load_n(&vdso_clock, __ATOMIC_RELAXED);
    if (!f || f(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* libc knows this ABI's timespec */
#endif
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
