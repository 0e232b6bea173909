/* Interleave weights from the machine, for "weighted:auto": the kernel's own weights where it
 * computes them (/sys/kernel/mm/mempolicy/weighted_interleave/auto exists, Linux 6.16+), else
 * the firmware's HMAT bandwidth of each node from its nearest initiators
 * (/sys/devices/system/node/nodeN/access0/initiators/{read,write}_bandwidth), reduced to small
 * integers the way the kernel's auto mode does it, else equal weights. Reads sysfs with
 * open/read into fixed buffers: the allocator runs this while initialising. */
#include "policy_internal.h"

#include <string.h>

#define WEIGHTINESS 32 /* bandwidth shares are scaled to 1..32 before reduction, as the kernel */

static bool read_u64(const char *path, uint64_t *out) {
    char buf[32];
    ssize_t n = sysfs_read(path, buf, sizeof buf);
    if (n <= 0) return false;
    size_t len = 0;
    while (len < (size_t)n && buf[len] >= '0' && buf[len] <= '9')
        len++;
    return len && fmt_parse_u64(buf, len, UINT64_MAX / WEIGHTINESS, out);
}

static uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Bandwidth of node n as the kernel's auto mode takes it: the lower of read and write. */
static bool node_bandwidth(const char *node_root, int n, uint64_t *bw) {
    char path[512];
    uint64_t rd, wr;
    fmt_buf(path, sizeof path, "%s/node%d/access0/initiators/read_bandwidth", node_root, n);
    if (!read_u64(path, &rd)) return false;
    fmt_buf(path, sizeof path, "%s/node%d/access0/initiators/write_bandwidth", node_root, n);
    if (!read_u64(path, &wr)) return false;
    *bw = rd < wr ? rd : wr;
    return *bw > 0;
}

int weights_auto(const char *mempolicy_dir, const char *node_root, const nh_nodemask_t *nodes,
                 uint8_t *weights) {
    char path[512], buf[16];
    for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1))
        weights[n] = 0;
    fmt_buf(path, sizeof path, "%s/auto", mempolicy_dir);
    if (sysfs_read(path, buf, sizeof buf) > 0) return NH_WEIGHTS_KERNEL; /* zero: system-wide */
    uint64_t bw[NH_MAX_NODES], sum = 0;
    bool all = !mask_empty(nodes);
    for (int n = mask_next(nodes, 0); n >= 0 && all; n = mask_next(nodes, n + 1))
        if ((all = node_bandwidth(node_root, n, &bw[n]))) sum += bw[n];
    if (all) {
        uint64_t g = 0;
        for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1)) {
            uint64_t w = WEIGHTINESS * bw[n] / sum;
            bw[n] = w ? w : 1;
            g = gcd(g, bw[n]);
        }
        for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1))
            weights[n] = (uint8_t)(bw[n] / g);
        return NH_WEIGHTS_HMAT;
    }
    for (int n = mask_next(nodes, 0); n >= 0; n = mask_next(nodes, n + 1))
        weights[n] = 1;
    return NH_WEIGHTS_EQUAL;
}
