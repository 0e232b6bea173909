/* Page locality of an allocator, run inside a lab guest once per allocator (by LD_PRELOAD):
 * one thread pinned to each node with CPUs keeps a working set of live objects it allocated,
 * churns it, and hands some objects to the next thread, which frees them (cross-node frees).
 * At the end every thread asks the kernel (move_pages) where the pages of its live objects are.
 * Locality = pages on the allocating thread's own node / all pages. Uses only malloc and free,
 * so any allocator can be measured the same way.
 * usage: locality NAME WORKLOAD   (WORKLOAD working-set | producer-consumer)
 * prints: LOCALITY NAME WORKLOAD overall% min% */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXT    16
#define LIVE    4096
#define OPS     200000
#define MAILBOX 8192

typedef struct thread {
    int node, cpu;
    pthread_t tid;
    void *live[LIVE];
    size_t size[LIVE];
    /* objects other threads handed to this one, to free */
    pthread_mutex_t lock;
    void *mail[MAILBOX];
    int nmail;
    long own_pages, all_pages;
} thread_t;

static thread_t threads[MAXT];
static int nthreads, handoff_every;
static pthread_barrier_t barrier;

static uint64_t rng(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

static void drain(thread_t *t) {
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->nmail; i++)
        free(t->mail[i]);
    t->nmail = 0;
    pthread_mutex_unlock(&t->lock);
}

static void give(thread_t *to, void *p) {
    pthread_mutex_lock(&to->lock);
    if (to->nmail < MAILBOX) {
        to->mail[to->nmail++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&to->lock);
    free(p); /* mailbox full: free it here */
}

static void *run(void *arg) {
    thread_t *t = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(t->cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    sched_yield();
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t - threads + 1);
    thread_t *next = &threads[(t - threads + 1) % nthreads];
    pthread_barrier_wait(&barrier);
    for (int op = 0; op < OPS; op++) {
        uint64_t r = rng(&seed);
        int k = (int)(r % LIVE);
        if (t->live[k]) {
            if (handoff_every && (r >> 32) % (uint64_t)handoff_every == 0)
                give(next, t->live[k]);
            else
                free(t->live[k]);
        }
        t->size[k] = 16 + (r >> 40) % 2048;
        t->live[k] = malloc(t->size[k]);
        memset(t->live[k], 1, t->size[k]);
        if ((op & 255) == 0) drain(t);
    }
    pthread_barrier_wait(&barrier);
    drain(t);
    /* where are the pages of what this thread allocated and still holds? */
    static __thread void *pages[LIVE * 2];
    static __thread int status[LIVE * 2];
    long n = 0;
    for (int k = 0; k < LIVE; k++) {
        if (!t->live[k]) continue;
        uintptr_t first = (uintptr_t)t->live[k] & ~4095ul;
        uintptr_t last = ((uintptr_t)t->live[k] + t->size[k] - 1) & ~4095ul;
        pages[n++] = (void *)first;
        if (last != first) pages[n++] = (void *)last;
    }
    syscall(SYS_move_pages, 0, (unsigned long)n, pages, NULL, status, 0);
    for (long i = 0; i < n; i++) {
        t->all_pages++;
        t->own_pages += status[i] == t->node;
    }
    pthread_barrier_wait(&barrier);
    for (int k = 0; k < LIVE; k++)
        free(t->live[k]);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: locality NAME WORKLOAD\n"), 2;
    handoff_every = !strcmp(argv[2], "producer-consumer") ? 2 : 8;
    /* one thread per node with CPUs, on the node's first CPU */
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    int seen[1024] = {0};
    for (int cpu = 0; cpu < ncpu && nthreads < MAXT; cpu++) {
        char path[96];
        for (int node = 0; node < 1024; node++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/node%d", cpu, node);
            if (access(path, F_OK) == 0 && !seen[node]) {
                seen[node] = 1;
                threads[nthreads].node = node;
                threads[nthreads].cpu = cpu;
                pthread_mutex_init(&threads[nthreads].lock, NULL);
                nthreads++;
                break;
            }
        }
    }
    if (nthreads < 2) return fprintf(stderr, "locality: needs 2 nodes with CPUs\n"), 1;
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&threads[i].tid, NULL, run, &threads[i]);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i].tid, NULL);
    long own = 0, all = 0;
    double worst = 100.0;
    for (int i = 0; i < nthreads; i++) {
        own += threads[i].own_pages;
        all += threads[i].all_pages;
        double pct = 100.0 * (double)threads[i].own_pages / (double)threads[i].all_pages;
        if (pct < worst) worst = pct;
    }
    printf("LOCALITY %s %s %.2f %.2f\n", argv[1], argv[2], 100.0 * (double)own / (double)all,
           worst);
    return 0;
}
