/* A program built against an installed numaheap: its malloc and the node API are numaheap's. */
#include <numaheap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *p = malloc(100);
    char *q = nh_malloc_onnode(4096, 0);
    if (!p || !q) {
        fprintf(stderr, "consumer: allocation failed\n");
        return 1;
    }
    memset(p, 1, 100);
    memset(q, 2, 4096);
    int np = nh_node_of(p), nq = nh_node_of(q);
    if (np < 0 || nq != 0) {
        fprintf(stderr, "consumer: nh_node_of gave %d for malloc, %d for node 0\n", np, nq);
        return 1;
    }
    nh_free(q);
    free(p);
    printf("consumer ok: numaheap %d, malloc on node %d, nh_malloc_onnode(0) on node %d\n",
           nh_version(), np, nq);
    return 0;
}
