/* Soak with verification: threads doing random malloc, calloc, realloc, aligned and node-API
 * allocations and frees, with blocks handed between threads; every block is filled with a
 * pattern derived from its address and size and checked before every realloc and free.
 * usage: soak [OPS_TOTAL] (default 4 000 000; the full soak is 100 000 000). Exits 1 on any
 * corruption. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numaheap.h"

#define THREADS 4
#define SLOTS   2048

typedef struct block {
    unsigned char *p;
    size_t n;
} block_t;

static block_t shared[SLOTS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static long ops_per_thread;
static long corruptions;

static unsigned char pat(const void *p, size_t i) {
    return (unsigned char)(((uintptr_t)p >> 4) ^ (i * 131) ^ (i >> 8));
}

static void fill(block_t b) {
    for (size_t i = 0; i < b.n; i++)
        b.p[i] = pat(b.p, i);
}

static int intact(block_t b) {
    for (size_t i = 0; i < b.n; i++)
        if (b.p[i] != pat(b.p, i)) return 0;
    return 1;
}

static void release(block_t b) {
    if (!b.p) return;
    if (!intact(b)) __atomic_fetch_add(&corruptions, 1, __ATOMIC_RELAXED);
    free(b.p);
}

static uint64_t next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

static void *run(void *arg) {
    uint64_t rng = 0x2545F4914F6CDD1Dull * (uint64_t)((uintptr_t)arg + 1);
    block_t mine[SLOTS] = {{0}};
    for (long op = 0; op < ops_per_thread; op++) {
        uint64_t r = next(&rng);
        int k = (int)(r % SLOTS);
        size_t n = (r >> 16) % 8 == 0 ? (r >> 24) % 300000 + 1 : (r >> 24) % 2048 + 1;
        switch ((r >> 40) % 8) {
        case 0: /* realloc, checked before and after */
            if (mine[k].p) {
                if (!intact(mine[k])) __atomic_fetch_add(&corruptions, 1, __ATOMIC_RELAXED);
                size_t keep = mine[k].n < n ? mine[k].n : n;
                unsigned char *q = realloc(mine[k].p, n);
                for (size_t i = 0; i < keep; i++)
                    if (q[i] != pat(mine[k].p, i)) {
                        __atomic_fetch_add(&corruptions, 1, __ATOMIC_RELAXED);
                        break;
                    }
                mine[k] = (block_t){q, n};
                fill(mine[k]);
                break;
            }
            /* fall through */
        case 1:
        case 2:
            release(mine[k]);
            mine[k] = (block_t){malloc(n), n};
            fill(mine[k]);
            break;
        case 3:
            release(mine[k]);
            mine[k] = (block_t){nh_malloc_onnode(n, 0), n};
            fill(mine[k]);
            break;
        case 4: {
            release(mine[k]);
            unsigned char *c = calloc(1, n);
            for (size_t i = 0; i < n; i += 97)
                if (c[i]) __atomic_fetch_add(&corruptions, 1, __ATOMIC_RELAXED);
            mine[k] = (block_t){c, n};
            fill(mine[k]);
            break;
        }
        case 5:
            release(mine[k]);
            mine[k] = (block_t){aligned_alloc((size_t)64 << (r % 7), n), n};
            fill(mine[k]);
            break;
        default: /* hand the block to another thread's slot; free what was there */
            pthread_mutex_lock(&shared_lock);
            block_t old = shared[k];
            shared[k] = mine[k];
            pthread_mutex_unlock(&shared_lock);
            mine[k] = (block_t){0};
            release(old);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        release(mine[k]);
    return NULL;
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 4000000;
    ops_per_thread = total / THREADS;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < SLOTS; k++)
        release(shared[k]);
    printf("soak: %ld operations on %d threads, %ld corruptions\n", total, THREADS, corruptions);
    return corruptions != 0;
}
