/* Allocator workloads, identical for every allocator (the driver swaps malloc by LD_PRELOAD):
 * fixed sizes, mixed random small sizes with a live working set, realloc growth, producer/
 * consumer cross-thread free, and large blocks. Each iteration is a batch of BATCH operations. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nhbench.h"

#define BATCH 1024
#define SLOTS 4096 /* live objects per thread in the mixed workload */

static inline uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

static void fixed_size(nhb_state *s) {
    size_t size = (size_t)nhb_arg(s, 0);
    void *keep[BATCH];
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++) {
            keep[i] = malloc(size);
            *(volatile char *)keep[i] = 1;
        }
        for (int i = 0; i < BATCH; i++)
            free(keep[i]);
        ops += BATCH;
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(f16, "fixed", fixed_size, 1, 1, 16, 0)
NHB_REGISTER(f64, "fixed", fixed_size, 1, 1, 64, 0)
NHB_REGISTER(f256, "fixed", fixed_size, 1, 1, 256, 0)
NHB_REGISTER(f1k, "fixed", fixed_size, 1, 1, 1024, 0)
NHB_REGISTER(f4k, "fixed", fixed_size, 1, 1, 4096, 0)
NHB_REGISTER(f32k, "fixed", fixed_size, 1, 1, 32768, 0)

/* Random sizes 8..max with a live set of SLOTS objects: each op frees a random slot and puts
 * a new object there, touching its first bytes. */
static void mixed(nhb_state *s) {
    size_t max = (size_t)nhb_arg(s, 0);
    void **slots = calloc(SLOTS, sizeof *slots);
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(nhb_thread_index(s) + 1);
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++) {
            uint64_t r = xorshift(&rng);
            size_t k = r % SLOTS, size = 8 + (r >> 20) % max;
            free(slots[k]);
            slots[k] = malloc(size);
            memset(slots[k], (int)k, size < 64 ? size : 64);
        }
        ops += BATCH;
    }
    for (int k = 0; k < SLOTS; k++)
        free(slots[k]);
    free(slots);
    nhb_set_items(s, ops);
}
NHB_REGISTER(mixed1, "mixed", mixed, 1, 1, 1024, 0)
NHB_REGISTER(mixed2, "mixed", mixed, 2, 1, 1024, 0)
NHB_REGISTER(mixedm1, "mixed", mixed, 1, 1, 32768, 0)
NHB_REGISTER(mixedm2, "mixed", mixed, 2, 1, 32768, 0)

static void realloc_growth(nhb_state *s) {
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int j = 0; j < 16; j++) {
            char *p = NULL;
            for (size_t n = 16; n <= (1 << 20); n += n / 2 + 16) {
                p = realloc(p, n);
                p[n - 1] = 1;
                ops++;
            }
            free(p);
        }
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(realloc1, "realloc/growth", realloc_growth, 1, 0, 0, 0)

/* Producer/consumer: thread 0 allocates, thread 1 frees, through a lock-free ring. */
#define RING 4096
static void *ring[RING];
static _Atomic uint64_t head, tail;

static void cross_thread(nhb_state *s) {
    int me = nhb_thread_index(s);
    int64_t ops = 0;
    uint64_t rng = 42;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++) {
            if (me == 0) {
                while (head - tail >= RING)
                    __builtin_ia32_pause();
                void *p = malloc(16 + xorshift(&rng) % 512);
                *(volatile char *)p = 1;
                ring[head % RING] = p;
                __atomic_fetch_add(&head, 1, __ATOMIC_RELEASE);
            } else {
                while (__atomic_load_n(&head, __ATOMIC_ACQUIRE) == tail)
                    __builtin_ia32_pause();
                free(ring[tail % RING]);
                __atomic_fetch_add(&tail, 1, __ATOMIC_RELEASE);
            }
        }
        ops += BATCH;
    }
    if (me == 1) /* drain what the producer left */
        while (__atomic_load_n(&head, __ATOMIC_ACQUIRE) != tail)
            free(ring[tail++ % RING]);
    nhb_set_items(s, ops);
}
NHB_REGISTER(xthread, "cross-thread/free", cross_thread, 2, 0, 0, 0)

static void large(nhb_state *s) {
    int64_t ops = 0;
    uint64_t rng = 7;
    while (nhb_keep_running(s)) {
        size_t size = (1u << 20) + xorshift(&rng) % (63u << 20);
        char *p = malloc(size);
        for (size_t i = 0; i < size; i += 65536)
            p[i] = 1; /* touch one page in 16 */
        free(p);
        ops++;
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(large1, "large/1-64MiB", large, 1, 0, 0, 0)

/* Larson-like server pattern: each thread owns a set of slots of random-size objects and
 * replaces a random one per operation; after every batch it trades its set for the oldest one
 * in a shared queue, so objects are freed by threads other than their allocators, as in a
 * server handing requests on. Sets are taken and returned through the queue, so ownership
 * stays exclusive across google-benchmark's repeated runs. */
#define LARSON_SLOTS 1000
#define LARSON_SETS  9
static void *larson_sets[LARSON_SETS][LARSON_SLOTS];
static void **larson_queue[LARSON_SETS];
static int larson_head, larson_count = -1;
static pthread_mutex_t larson_lock = PTHREAD_MUTEX_INITIALIZER;

static void **larson_trade(void **mine) {
    pthread_mutex_lock(&larson_lock);
    if (larson_count < 0) { /* first use: every set is in the queue */
        for (int i = 0; i < LARSON_SETS; i++)
            larson_queue[i] = larson_sets[i];
        larson_count = LARSON_SETS;
    }
    if (mine) larson_queue[(larson_head + larson_count++) % LARSON_SETS] = mine;
    void **next = larson_queue[larson_head];
    larson_head = (larson_head + 1) % LARSON_SETS;
    larson_count--;
    pthread_mutex_unlock(&larson_lock);
    return next;
}

static void larson_return(void **mine) {
    pthread_mutex_lock(&larson_lock);
    larson_queue[(larson_head + larson_count++) % LARSON_SETS] = mine;
    pthread_mutex_unlock(&larson_lock);
}

static void larson(nhb_state *s) {
    int me = nhb_thread_index(s);
    void **slots = larson_trade(NULL);
    uint64_t rng = 0x1234567ull * (uint64_t)(me + 1);
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        for (int i = 0; i < BATCH; i++) {
            uint64_t r = xorshift(&rng);
            int k = (int)(r % LARSON_SLOTS);
            free(slots[k]);
            slots[k] = malloc(16 + (r >> 32) % 1024);
            *(volatile char *)slots[k] = 1;
        }
        slots = larson_trade(slots);
        ops += BATCH;
    }
    larson_return(slots);
    nhb_set_items(s, ops);
}
NHB_REGISTER(larson2, "larson", larson, 2, 0, 0, 0)

/* Many short-lived threads: each creates a thread that allocates and frees a small working
 * set and exits; measures thread start/exit cost in the allocator (caches, arena attach). */
static void *churn_body(void *arg) {
    void *v[64];
    for (int i = 0; i < 64; i++)
        v[i] = malloc(32 + (size_t)i * 16);
    for (int i = 0; i < 64; i++)
        free(v[i]);
    return arg;
}

static void thread_churn(nhb_state *s) {
    int64_t ops = 0;
    while (nhb_keep_running(s)) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, churn_body, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        ops += 4;
    }
    nhb_set_items(s, ops);
}
NHB_REGISTER(churn, "thread-churn", thread_churn, 2, 0, 0, 0)
