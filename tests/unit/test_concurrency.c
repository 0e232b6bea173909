/* Threads allocating on nodes through the API, handing objects to each other to free, binding
 * and unbinding, asking their node and the statistics, all at once. Run by the ThreadSanitizer
 * build (scripts/test.sh), where any data race in routing, binding, region growth or the
 * per-thread caches is an error; in the other builds it checks the results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "numaheap.h"

#define THREADS 4
#define ITER    20000
#define RING    256

static void *ring[RING];
static int ring_n;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static int stop_stats;
static long bad;

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < ITER; i++) {
        size_t n = (size_t)(rand_r(&seed) % 3000) + 1;
        unsigned char *p = (i % 3) ? nh_malloc_onnode(n, 0) : nh_calloc_onnode(1, n, 0);
        if (!p || nh_node_of(p) != 0) __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        memset(p, (int)n, n < 32 ? n : 32);
        p[0] = (unsigned char)n; /* checked by whoever frees it */
        void *victim = NULL;
        pthread_mutex_lock(&ring_lock);
        if (ring_n == RING) victim = ring[rand_r(&seed) % RING], ring[0] = ring[0];
        if (victim) {
            for (int k = 0; k < RING; k++)
                if (ring[k] == victim) ring[k] = p;
        } else {
            ring[ring_n++] = p;
        }
        pthread_mutex_unlock(&ring_lock);
        if (victim) nh_free(victim); /* usually another thread's object */
        if (i % 1000 == 0) {
            if (nh_thread_bind(0)) __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
            if (nh_current_node() != 0) __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
            nh_thread_unbind();
        }
    }
    return NULL;
}

static void *stats_reader(void *arg) {
    while (!__atomic_load_n(&stop_stats, __ATOMIC_ACQUIRE)) {
        nh_stats_t s;
        if (nh_stats(0, &s) || s.arenas == 0) __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        nh_repair_report_t r; /* audit and repair while the region grows under it */
        if (nh_repair(0, 1, &r) || r.pages_misplaced) __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void node_api_under_concurrency(void **s) {
    pthread_t t[THREADS], st;
    pthread_create(&st, NULL, stats_reader, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    __atomic_store_n(&stop_stats, 1, __ATOMIC_RELEASE);
    pthread_join(st, NULL);
    for (int k = 0; k < ring_n; k++)
        nh_free(ring[k]);
    assert_int_equal(bad, 0);
}

static void *short_lived(void *arg) {
    void *p = nh_malloc_onnode(100, 0);
    nh_free(p);
    return arg;
}

static void thread_start_and_exit_race(void **s) {
    for (int round = 0; round < 50; round++) {
        pthread_t t[8];
        for (int i = 0; i < 8; i++)
            pthread_create(&t[i], NULL, short_lived, NULL);
        for (int i = 0; i < 8; i++)
            pthread_join(t[i], NULL);
    }
}

/* Arenas of one node growing at once: their extent hooks take spans from the node's region
 * concurrently, under different arena locks, so only the region's own atomics order them. */
static void *grow(void *arg) {
    void *v[48];
    for (int i = 0; i < 48; i++) {
        v[i] = nh_malloc_onnode((size_t)(256 + i * 37) << 10, 0);
        if (!v[i] || nh_node_of(v[i]) != 0)
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        else
            ((char *)v[i])[0] = 1;
    }
    for (int i = 0; i < 48; i++)
        nh_free(v[i]);
    return arg;
}

static void region_growth_race(void **s) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, grow, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(node_api_under_concurrency),
        cmocka_unit_test(thread_start_and_exit_race),
        cmocka_unit_test(region_growth_race),
    };
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
