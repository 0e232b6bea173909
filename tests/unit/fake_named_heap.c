/* A process with mappings named as numaheap names its regions, for numaheap stat's tests:
 * 64 touched pages of "[anon:numaheap node 0]", 16 of "[anon:numaheap node 1023]" (a node no
 * page can be on, so all 16 are misplaced) and 8 of "[anon:numaheap large]". Its comm is
 * nh_fakeheap. Prints "ready" once set up, then waits to be killed; exits 77 (skip) where the
 * kernel cannot name anonymous mappings (before 5.17, or without CONFIG_ANON_VMA_NAME). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA           0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static int named(size_t pages, const char *name) {
    size_t len = pages * (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    memset(p, 1, len);
    return prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, len, (unsigned long)name);
}

int main(void) {
    prctl(PR_SET_NAME, (unsigned long)"nh_fakeheap", 0, 0, 0);
    /* Guard mappings between the regions keep the kernel from merging neighbours. */
    if (named(64, "numaheap node 0") || named(1, "guard a") || named(16, "numaheap node 1023") ||
        named(1, "guard b") || named(8, "numaheap large")) {
        printf("unsupported\n");
        return 77;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
