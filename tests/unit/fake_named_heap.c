/* A process with mappings marked as numaheap marks its regions, for numaheap stat's and
 * repair's tests: 64 touched pages of a region of node 0, 16 of node 1023 (a node no page can
 * be on, so all 16 are misplaced and cannot be moved home) and 8 of the large region. The
 * kernel's names for them ([anon:numaheap node 0], ...) where it can name mappings, else the
 * library's region table (alloc/region_table.h) in a memfd. Its comm is nh_fakeheap, or the
 * first argument (so that tests running at once find only their own by name). Prints
 * "ready" once set up, then waits to be killed; "unsupported" and exit 77 (skip) when it can
 * mark the regions neither way. */
#define _GNU_SOURCE
#include "region_table.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA           0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static const struct {
    size_t pages;
    const char *name;
    int node;
} layout[] = {{64, "numaheap node 0", 0},
              {16, "numaheap node 1023", 1023},
              {8, "numaheap large", NH_REGION_TABLE_SPREAD}};
#define NREGIONS (sizeof layout / sizeof layout[0])

/* The table as the library writes it: one page of a shared read-only memfd mapping. */
static int publish(char *const *base) {
    static union {
        nh_region_table_t t;
        char bytes[NH_REGION_TABLE_SIZE];
    } u;
    u.t = (nh_region_table_t){NH_REGION_TABLE_MAGIC, NH_REGION_TABLE_VERSION, NREGIONS,
                              sizeof(nh_region_entry_t), 0};
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < NREGIONS; i++)
        u.t.entries[i] = (nh_region_entry_t){
            (uintptr_t)base[i], (uintptr_t)base[i] + layout[i].pages * page, layout[i].node, 0};
    int fd = memfd_create(NH_REGION_TABLE_NAME, MFD_CLOEXEC);
    if (fd < 0 || write(fd, &u, sizeof u) != (ssize_t)sizeof u) return -1;
    void *p = mmap(NULL, sizeof u, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? -1 : 0;
}

int main(int argc, char **argv) {
    prctl(PR_SET_NAME, (unsigned long)(argc > 1 ? argv[1] : "nh_fakeheap"), 0, 0, 0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *base[NREGIONS];
    int named = 1;
    /* one reservation, with an inaccessible page after each region so that the kernel merges
     * no region with its neighbours, named or not */
    char *span = mmap(NULL, 128 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (span == MAP_FAILED) return printf("unsupported\n"), 77;
    for (size_t i = 0, off = page; i < NREGIONS; off += (layout[i++].pages + 1) * page) {
        size_t len = layout[i].pages * page;
        base[i] = span + off;
        if (mprotect(base[i], len, PROT_READ | PROT_WRITE)) return printf("unsupported\n"), 77;
        memset(base[i], 1, len);
        named &= !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)base[i], len,
                        (unsigned long)layout[i].name);
    }
    if (!named && publish(base)) return printf("unsupported\n"), 77;
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
