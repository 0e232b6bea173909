/* 20 000 threads created and joined, each allocating and freeing with malloc and on its node
 * through the node API (which creates a per-thread cache): resident memory must stay flat, so
 * nothing per thread (thread caches, arena attachments) leaks. usage: thread_churn [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numaheap.h"

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *body(void *arg) {
    void *v[32];
    for (int i = 0; i < 32; i++) {
        v[i] =
            (i & 1) ? malloc((size_t)(16 << (i % 10))) : nh_malloc_onnode((size_t)(24 * i + 8), 0);
        memset(v[i], i, 8);
    }
    for (int i = 0; i < 32; i++)
        free(v[i]);
    return arg;
}

static int run(int n) {
    for (int i = 0; i < n; i += 4) {
        pthread_t t[4];
        for (int k = 0; k < 4; k++)
            if (pthread_create(&t[k], NULL, body, NULL)) return -1;
        for (int k = 0; k < 4; k++)
            pthread_join(t[k], NULL);
    }
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (run(n / 10)) return 2; /* warm up: caches, arenas, stacks reach their steady state */
    long before = rss_kb();
    if (run(n)) return 2;
    long after = rss_kb();
    printf("thread churn: %d threads, resident %ld KiB -> %ld KiB\n", n, before, after);
    return after - before > 4096; /* flat: under 4 MiB of growth */
}
