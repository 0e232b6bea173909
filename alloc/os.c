/* The operating-system layer of alloc/: every mmap, mprotect and madvise the allocator makes,
 * behind os_hooks so tests can count and fail them. Binding, move_pages and the cpuset's
 * memory nodes go through policy/'s raw system calls.
 * Contract: addresses and sizes are page-aligned; functions return 0 or an errno value. */
#include "alloc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void *sys_reserve(size_t size, bool writable) {
    /* MAP_NORESERVE: no commit charge for the reservation (ignored under overcommit 2, where
     * the caller reserves PROT_NONE and commits pieces instead). */
    void *p = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int sys_release(void *addr, size_t size) {
    return munmap(addr, size) ? errno : 0;
}

static int sys_protect(void *addr, size_t size, bool writable) {
    return mprotect(addr, size, writable ? PROT_READ | PROT_WRITE : PROT_NONE) ? errno : 0;
}

static int sys_advise(void *addr, size_t size, int advice) {
    return madvise(addr, size, advice) ? errno : 0;
}

static int sys_bind(void *addr, size_t size, int mode, const nh_nodemask_t *nodes) {
    return kernel_mbind(addr, size, mode, nodes, 0);
}

static int sys_where(unsigned long count, void **pages, int *status) {
    return kernel_move_pages(count, pages, NULL, status, 0);
}

static int sys_move(unsigned long count, void **pages, const int *nodes, int *status) {
    return kernel_move_pages(count, pages, nodes, status, MPOL_MF_MOVE);
}

static int sys_mems(nh_nodemask_t *out) {
    return kernel_get_mempolicy(NULL, out, NULL, MPOL_F_MEMS_ALLOWED);
}

os_hooks_t os_hooks = {.reserve = sys_reserve,
                       .release = sys_release,
                       .protect = sys_protect,
                       .advise = sys_advise,
                       .bind = sys_bind,
                       .where = sys_where,
                       .move = sys_move,
                       .mems = sys_mems};

/* Names a range in /proc/PID/maps ([anon:NAME]) so tools can find numaheap's regions from
 * outside (Linux 5.17+ with CONFIG_ANON_VMA_NAME); elsewhere it is a no-op. */
int os_name(void *addr, size_t size, const char *name) {
#ifndef PR_SET_VMA
#define PR_SET_VMA           0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
    return prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)addr, size, (unsigned long)name)
               ? errno
               : 0;
}

/* The marks tools find regions by where names are missing (region.c's table); not behind
 * os_hooks, as nothing in the allocator depends on it. */
int os_publish(const char *name, const void *data, size_t size) {
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1u
#endif
    /* the raw call: glibc's wrapper is 2.27+, and this must not fail to link on older ones */
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
    if (fd < 0) return errno;
    int e = ftruncate(fd, (off_t)size) ? errno : 0;
    for (size_t done = 0; !e && done < size;) {
        ssize_t n = pwrite(fd, (const char *)data + done, size - done, (off_t)done);
        if (n > 0)
            done += (size_t)n;
        else if (n == 0 || errno != EINTR)
            e = n ? errno : EIO;
    }
    /* read-only: what the process cannot change by a stray write, tools can trust */
    void *p = e ? MAP_FAILED : mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (!e && p == MAP_FAILED) e = errno;
    close(fd); /* the mapping keeps the file alive; no descriptor is left for the program */
    return e;
}

int os_populate(void *addr, size_t size) {
    return os_hooks.advise(addr, size, MADV_POPULATE_WRITE);
}

int os_overcommit_mode(void) {
    char buf[16];
    if (sysfs_read("/proc/sys/vm/overcommit_memory", buf, sizeof buf) <= 0) return 0;
    return buf[0] - '0';
}
