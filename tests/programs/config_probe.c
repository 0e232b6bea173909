/* Prints numaheap's effective configuration as observed from outside: the small and large
 * policies, arenas per node, whether 64 MiB and 32 MiB objects are large (interleaved), and the
 * repairer's settings. Used to check that bad settings leave the defaults in place. */
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
    uint64_t repair_ms = 99, repair_pages = 99, follow = 99;
    size_t len = sizeof repair_ms;
    nh_ctl("config.repair_ms", &repair_ms, &len, NULL, 0);
    nh_ctl("config.repair_pages", &repair_pages, &len, NULL, 0);
    nh_ctl("config.migrate_on_move", &follow, &len, NULL, 0);
    printf("policy=%s large_policy=%s arenas=%llu large64M=%d large32M=%d repair_ms=%llu "
           "repair_pages=%llu migrate_on_move=%llu\n",
           s, l, (unsigned long long)st.arenas, nh_node_of(a) == NH_NODE_INTERLEAVED,
           nh_node_of(b) == NH_NODE_INTERLEAVED, (unsigned long long)repair_ms,
           (unsigned long long)repair_pages, (unsigned long long)follow);
    free(a);
    free(b);
    return 0;
}
