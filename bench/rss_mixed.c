/* Peak resident memory of the mixed workload: 2 threads keep 50 000 live objects of 16 B to
 * 4 KiB each and replace them at random for 2 000 000 operations, with one object in 16 freed
 * by the other thread. Prints "peak_rss_kb N". Run once per allocator by LD_PRELOAD. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define LIVE 50000
#define OPS  2000000

static void *live[2][LIVE];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *run(void *arg) {
    int me = (int)(intptr_t)arg;
    uint64_t x = 88172645463325252ull + (uint64_t)me;
    for (int op = 0; op < OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % LIVE);
        size_t size = 16 + (x >> 24) % 4080;
        void *p = malloc(size);
        memset(p, 1, size < 256 ? size : 256);
        if ((x >> 50) % 16 == 0) { /* swap with the other thread's slot: a remote free */
            pthread_mutex_lock(&lock);
            void *old = live[1 - me][k];
            live[1 - me][k] = p;
            pthread_mutex_unlock(&lock);
            free(old);
        } else {
            pthread_mutex_lock(&lock);
            void *old = live[me][k];
            live[me][k] = p;
            pthread_mutex_unlock(&lock);
            free(old);
        }
    }
    return NULL;
}

int main(void) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, run, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_kb %ld\n", ru.ru_maxrss);
    return 0;
}
