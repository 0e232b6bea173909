/* Prints numaheap's effective configuration as observed from outside: the small and large
 * policies, arenas per node, whether 64 MiB and 32 MiB objects are large (interleaved), and
 * whether stats print at exit. Used to check that bad settings leave the defaults in place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numaheap.h"

int main(void) {
    nh_policy_t small, large;
    char s[256], l[256];
    if (nh_heap_policy(&small, &large)) return 1;
    nh_policy_format(&small, s, sizeof s);
    nh_policy_format(&large, l, sizeof l);
    nh_stats_t st;
    nh_stats(0, &st);
    char *a = malloc(64u << 20), *b = malloc(32u << 20);
    memset(a, 1, 4096);
    memset(b, 1, 4096);
    printf("policy=%s large_policy=%s arenas=%llu large64M=%d large32M=%d\n", s, l,
           (unsigned long long)st.arenas, nh_node_of(a) == NH_NODE_INTERLEAVED,
           nh_node_of(b) == NH_NODE_INTERLEAVED);
    free(a);
    free(b);
    return 0;
}
