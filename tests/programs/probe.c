/* A helper the fallback tests exec under a seccomp filter (or not): reports, with write(2)
 * only, what numaheap did. Prints "bind_errno=N malloc=ok|fail errno=N node=N". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numaheap.h"

int main(void) {
    nh_stats_t s = {0};
    int rc = nh_stats(0, &s);
    errno = 0;
    void *p = malloc(1 << 20);
    int e = errno;
    char buf[160];
    int n =
        snprintf(buf, sizeof buf, "stats=%d bind_errno=%llu malloc=%s errno=%d node=%d\n", rc,
                 (unsigned long long)s.bind_errno, p ? "ok" : "fail", e, p ? nh_node_of(p) : -1);
    if (write(1, buf, (size_t)n) != n) return 2;
    free(p);
    return 0;
}
