/* The explicit node API against its peers for 64-byte objects on node 0: numaheap's
 * nh_malloc_onnode, libnuma's numa_alloc_onnode (an mmap + mbind per call), and memkind's
 * MEMKIND_REGULAR kind (jemalloc arenas on the local node). Each iteration allocates and frees
 * a batch of BATCH objects. Linked with numaheap, so run without LD_PRELOAD. */
#include <memkind.h>
#include <numa.h>
#include <stdlib.h>

#include "nhbench.h"
#include "numaheap.h"

#define BATCH 256

static void nh_onnode(nhb_state *s) {
    void *v[BATCH];
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++)
            *(volatile char *)(v[i] = nh_malloc_onnode(64, 0)) = 1;
        for (int i = 0; i < BATCH; i++)
            nh_free(v[i]);
        ops += BATCH;
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(nh, "node-api/nh_malloc_onnode", nh_onnode, 1, 0, 0, 0)

static void libnuma_onnode(nhb_state *s) {
    void *v[BATCH];
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++)
            *(volatile char *)(v[i] = numa_alloc_onnode(64, 0)) = 1;
        for (int i = 0; i < BATCH; i++)
            numa_free(v[i], 64);
        ops += BATCH;
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(numa, "node-api/numa_alloc_onnode", libnuma_onnode, 1, 0, 0, 0)

static void memkind_regular(nhb_state *s) {
    void *v[BATCH];
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++)
            *(volatile char *)(v[i] = memkind_malloc(MEMKIND_REGULAR, 64)) = 1;
        for (int i = 0; i < BATCH; i++)
            memkind_free(MEMKIND_REGULAR, v[i]);
        ops += BATCH;
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(mk, "node-api/memkind_regular", memkind_regular, 1, 0, 0, 0)
