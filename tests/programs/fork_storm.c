/* fork from a multi-threaded process while the other threads allocate: 1000 times, each child
 * allocates (malloc family and node API), frees and exits normally. A deadlock (a lock held
 * across fork) shows as a child that never exits: the alarm turns that into a failure. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numaheap.h"

#define FORKS 1000
static volatile int stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *v[256] = {0};
    while (!stop) {
        int k = rand_r(&seed) % 256;
        free(v[k]);
        size_t n = (size_t)(rand_r(&seed) % 8192) + 1;
        v[k] = (k & 1) ? malloc(n) : nh_malloc_onnode(n, 0);
        memset(v[k], k, n < 64 ? n : 64);
    }
    for (int k = 0; k < 256; k++)
        free(v[k]);
    return NULL;
}

static int child(void) {
    alarm(10);
    for (int i = 0; i < 1000; i++) {
        char *p = malloc((size_t)(i * 37 % 20000) + 1);
        p[0] = 1;
        p = realloc(p, (size_t)(i * 91 % 70000) + 1);
        free(p);
        void *q = nh_calloc_onnode(3, 100, 0);
        free(q);
    }
    void *big = malloc(80u << 20); /* the large path too */
    memset(big, 1, 1 << 20);
    free(big);
    return 0;
}

int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    int bad = 0;
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid < 0) return perror("fork"), 2;
        if (pid == 0) _exit(child());
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d: %s %d\n", i, WIFSIGNALED(st) ? "signal" : "exit",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            bad++;
        }
    }
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("fork storm: %d forks under 3 allocating threads, %d bad children\n", FORKS, bad);
    return bad != 0;
}
