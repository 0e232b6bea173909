/* Memory given back: allocates 200 000 objects of 1 KiB, frees 90% of them (nine of every ten,
 * so every page keeps some live objects), then reports resident memory after the frees, after
 * malloc_trim(0), and (with "decay") after waiting 3 s while allocating a little now and then
 * instead of trimming. Run under each allocator by LD_PRELOAD; bench/run.py --extras does. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 200000

static long rss_kib(void) {
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &res) != 2) res = -1;
    if (f) fclose(f);
    return res * 4;
}

int main(int argc, char **argv) {
    int decay = argc > 1 && !strcmp(argv[1], "decay");
    static void *v[N];
    for (int i = 0; i < N; i++) {
        v[i] = malloc(1024);
        memset(v[i], 1, 1024);
    }
    long full = rss_kib();
    for (int i = 0; i < N; i++)
        if (i % 10) {
            free(v[i]);
            v[i] = NULL;
        }
    long freed = rss_kib();
    if (decay) {
        for (int t = 0; t < 30; t++) { /* 3 s of a mostly idle program */
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            for (int k = 0; k < 100; k++) { /* volatile: the compiler removes free(malloc()) */
                void *volatile q = malloc(64);
                free(q);
            }
        }
    } else {
        malloc_trim(0);
    }
    printf("full %ld freed %ld %s %ld\n", full, freed, decay ? "decayed" : "trimmed", rss_kib());
    for (int i = 0; i < N; i++)
        free(v[i]);
    return 0;
}
