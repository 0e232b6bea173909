/* The engine's cheap checks, one misuse per run: hardening.sh runs each mode in its own process
 * and expects it stopped (SIGABRT with one line naming the fault, or SIGSEGV for malloc(0)'s
 * guard) before the bad operation takes effect. Mode "ok" must exit 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *free_it(void *p) {
    free(p);
    return NULL;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "ok";
    char *volatile p = malloc(64);
    char *volatile q = malloc(64);
    memset(p, 1, 64);
    if (!strcmp(m, "double-free")) {
        free(p);
        free(p);
    } else if (!strcmp(m, "double-free-remote")) {
        free(p);
        pthread_t t;
        pthread_create(&t, NULL, free_it, p);
        pthread_join(t, NULL);
    } else if (!strcmp(m, "double-free-bitmap")) { /* a class above 8 KiB: a bitmap page */
        char *volatile b = malloc(20000);
        free(b);
        free(b);
    } else if (!strcmp(m, "double-free-bitmap-remote")) {
        char *volatile b = malloc(20000);
        free(b);
        pthread_t t;
        pthread_create(&t, NULL, free_it, b);
        pthread_join(t, NULL);
    } else if (!strcmp(m, "double-free-bitmap-remote-owner")) { /* other thread's free first */
        char *volatile b = malloc(20000);
        pthread_t t;
        pthread_create(&t, NULL, free_it, b);
        pthread_join(t, NULL);
        free(b);
    } else if (!strcmp(m, "write-after-free-large")) { /* caught when the block comes back */
        char *volatile b = malloc(200000);
        free(b);
        memset(b, 'A', 64);
        for (int i = 0; i < 1000; i++) {
            char *volatile x = malloc(200000); /* volatile: the pair is not elided */
            free(x);
        }
    } else if (!strcmp(m, "double-free-huge")) {
        char *volatile h = malloc(8u << 20);
        free(h);
        free(h);
    } else if (!strcmp(m, "interior")) {
        free(p + 16);
    } else if (!strcmp(m, "unaligned")) {
        free(p + 1);
    } else if (!strcmp(m, "stack")) {
        char local[64];
        char *volatile l = local;
        free(l);
    } else if (!strcmp(m, "never-allocated")) {
        free(q + 64 * 8); /* a block of the same page that was carved but never handed out */
    } else if (!strcmp(m, "overflow-link")) {
        free(q);
        memset(p, 'A', 64 + 16);        /* past p's end over q's free-list link */
        for (int i = 0; i < 256; i++) { /* until q, with its overwritten link, comes up */
            char *volatile r = malloc(64);
            (void)r;
        }
    } else if (!strcmp(m, "double-free-bitmap-flushed")) { /* free in its page, not cached */
        enum { N = 200 };                                  /* more than the class's cache holds */
        char *volatile v[N];
        for (int i = 0; i < N; i++)
            v[i] = malloc(20000);
        for (int i = 0; i < N; i++)
            free(v[i]);
        free(v[N - 1]);
    } else if (!strcmp(m, "zero-size-write")) {
        char *volatile z = malloc(0);
        z[0] = 'A';
    } else if (!strcmp(m, "realloc-invalid")) {
        p = realloc(p + 8, 128);
    } else if (strcmp(m, "ok")) {
        fprintf(stderr, "unknown mode %s\n", m);
        return 2;
    }
    puts("NOT STOPPED");
    return 0;
}
