/* N pairs of malloc(64) + free: the fast path, for instruction counting under callgrind.
 * usage: fastpath N. The driver runs it with two N and takes the difference, so start-up
 * costs cancel out. */
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    for (long i = 0; i < n; i++) {
        char *volatile p = malloc(64);
        p[0] = 1;
        free(p);
    }
    return 0;
}
