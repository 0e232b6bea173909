/* The lab's helper process. Commands (each prints one line):
 *   setpolicy MODE NODES CMD...   set_mempolicy(MODE, NODES) then exec this probe with CMD
 *                                 (MODE bind|interleave, NODES a number or "all")
 *   where                         numaheap's policy and where 4 MiB of malloc'd pages are
 *   exhaust NODE MB               nh_malloc_onnode 1 MiB at a time up to MB, touching each
 *   exhaust-strict-flag NODE MB   the same with nh_alloc_onnode(..., NH_ALLOC_STRICT)
 *   large                         pages of a touched 64 MiB malloc per node */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numaheap.h"

#define PAGE 4096ul

static int cmd_setpolicy(int argc, char **argv) {
    if (argc < 5) return 2;
    unsigned long mask[NH_MAX_NODES / 64] = {0};
    if (!strcmp(argv[3], "all")) {
        nh_nodemask_t m;
        nh_nodes_with_memory(&m);
        memcpy(mask, m.bits, sizeof mask);
    } else {
        int n = atoi(argv[3]);
        mask[n / 64] |= 1ul << (n % 64);
    }
    int mode = !strcmp(argv[2], "bind") ? MPOL_BIND : MPOL_INTERLEAVE;
    if (set_mempolicy(mode, mask, NH_MAX_NODES + 1)) return perror("set_mempolicy"), 3;
    argv[3] = argv[0];
    execv(argv[0], argv + 3); /* the policy survives exec: numaheap starts under it */
    return perror("execv"), 4;
}

static int cmd_where(void) {
    nh_policy_t small;
    char text[256];
    nh_heap_policy(&small, NULL);
    nh_policy_format(&small, text, sizeof text);
    size_t len = 4u << 20, npages = len / PAGE;
    char *p = malloc(len);
    memset(p, 1, len);
    static int where[1024];
    nh_pages_where(p, len, where, npages);
    int first = where[0], same = 1;
    for (size_t i = 1; i < npages; i++)
        same &= where[i] == first;
    if (same)
        printf("policy=%s pages=all-on-%d\n", text, first);
    else
        printf("policy=%s pages=mixed\n", text);
    return 0;
}

static int cmd_exhaust(int node, int mb, unsigned flags) {
    size_t chunk = 1u << 20, elsewhere = 0;
    int got = 0, err = 0;
    static int where[256];
    for (; got < mb; got++) {
        errno = 0;
        char *p = flags ? nh_alloc_onnode(chunk, 0, node, flags) : nh_malloc_onnode(chunk, node);
        if (!p) {
            err = errno;
            break;
        }
        memset(p, 1, chunk);
        nh_pages_where(p, chunk, where, chunk / PAGE);
        for (size_t i = 0; i < chunk / PAGE; i++)
            elsewhere += where[i] != node;
        /* kept: the node fills up */
    }
    printf("exhaust got=%d errno=%d elsewhere=%zu \n", got, err, elsewhere);
    return 0;
}

static int cmd_large(void) {
    size_t len = 64u << 20, npages = len / PAGE;
    char *p = malloc(len);
    memset(p, 1, len);
    static int where[16384], count[NH_MAX_NODES];
    nh_pages_where(p, len, where, npages);
    for (size_t i = 0; i < npages; i++)
        if (where[i] >= 0) count[where[i]]++;
    printf("large node_of=%d", nh_node_of(p));
    for (int n = 0; n <= nh_max_node(); n++)
        if (count[n]) printf(" node%d=%d", n, count[n]);
    printf("\n");
    return 0;
}

/* what getcpu says on each CPU: routing depends on it (rseq, or the vDSO under emulation) */
static int cmd_getcpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    printf("getcpu");
    for (int c = 0; c < n; c++) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c, &set);
        sched_setaffinity(0, sizeof set, &set);
        sched_yield();
        printf(" cpu%d->%d(node %d)", c, sched_getcpu(), nh_node_of_cpu(sched_getcpu()));
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "getcpu")) return cmd_getcpu();
    if (argc >= 2 && !strcmp(argv[1], "setpolicy")) return cmd_setpolicy(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "where")) return cmd_where();
    if (argc >= 4 && !strcmp(argv[1], "exhaust"))
        return cmd_exhaust(atoi(argv[2]), atoi(argv[3]), 0);
    if (argc >= 4 && !strcmp(argv[1], "exhaust-strict-flag"))
        return cmd_exhaust(atoi(argv[2]), atoi(argv[3]), NH_ALLOC_STRICT);
    if (argc >= 2 && !strcmp(argv[1], "large")) return cmd_large();
    fprintf(stderr, "usage: lab_probe setpolicy|where|exhaust|large ...\n");
    return 2;
}
