/* NUMA topology from sysfs and the kernel, into fixed tables: nodes possible, online, with
 * memory and with CPUs, the CPU-to-node map, distances, node sizes, the process's allowed nodes
 * and inherited policy. No malloc: the allocator calls this while initialising itself. */
#include "policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#define SYSFS_NODE_ROOT "/sys/devices/system/node"

ssize_t sysfs_read(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static int read_list(const char *root, const char *name, uint64_t *bits, int nbits) {
    char path[512], buf[8192];
    fmt_buf(path, sizeof path, "%s/%s", root, name);
    ssize_t n = sysfs_read(path, buf, sizeof buf);
    if (n < 0) return (int)-n;
    int bad;
    return list_parse(buf, (size_t)n, bits, nbits, nbits - 1, &bad) ? EINVAL : 0;
}

/* "Node 0 MemFree:   4735724 kB" -> bytes */
static uint64_t meminfo_field(const char *text, const char *field) {
    const char *p = strstr(text, field);
    if (!p) return 0;
    p += strlen(field);
    while (*p == ' ' || *p == ':')
        p++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v * 1024;
}

static int read_meminfo(const char *root, int node, uint64_t *total, uint64_t *free_bytes) {
    char path[512], buf[4096];
    fmt_buf(path, sizeof path, "%s/node%d/meminfo", root, node);
    ssize_t n = sysfs_read(path, buf, sizeof buf);
    if (n < 0) return (int)-n;
    if (total) *total = meminfo_field(buf, "MemTotal");
    if (free_bytes) *free_bytes = meminfo_field(buf, "MemFree");
    return 0;
}

int topo_node_free(const char *root, int node, uint64_t *bytes) {
    return read_meminfo(root ? root : SYSFS_NODE_ROOT, node, NULL, bytes);
}

static void read_distances(topo_t *t, const char *root, int node) {
    char path[512], buf[8192];
    fmt_buf(path, sizeof path, "%s/node%d/distance", root, node);
    if (node >= NH_TOPO_DIST_NODES || sysfs_read(path, buf, sizeof buf) < 0) return;
    /* One number per online node, in node order. */
    const char *p = buf;
    for (int other = mask_next(&t->online, 0); other >= 0 && *p;
         other = mask_next(&t->online, other + 1)) {
        while (*p == ' ')
            p++;
        unsigned v = 0;
        while (*p >= '0' && *p <= '9')
            v = v * 10 + (unsigned)(*p++ - '0');
        if (other < NH_TOPO_DIST_NODES) t->distance[node][other] = (uint8_t)(v > 255 ? 255 : v);
    }
}

static void read_cpus(topo_t *t, const char *root, int node) {
    static uint64_t bits[NH_MAX_CPUS / 64]; /* too big for the stack of a small thread */
    char name[64];
    fmt_buf(name, sizeof name, "node%d/cpulist", node);
    if (read_list(root, name, bits, NH_MAX_CPUS)) return;
    for (int w = 0; w < NH_MAX_CPUS / 64; w++) {
        for (uint64_t v = bits[w]; v; v &= v - 1) {
            int cpu = w * 64 + __builtin_ctzll(v);
            t->cpu_node1[cpu] = (int16_t)(node + 1);
            t->node_ncpus[node]++;
            if (cpu > t->max_cpu) t->max_cpu = cpu;
        }
    }
}

static void read_kernel_state(topo_t *t) {
    int mode = 0;
    int e = kernel_get_mempolicy(NULL, &t->allowed, NULL, MPOL_F_MEMS_ALLOWED);
    if (!e) e = kernel_get_mempolicy(&mode, &t->inherited_nodes, NULL, 0);
    if (e) {
        /* seccomp or no NUMA support: every online node with memory, default policy */
        t->kernel_errno = e;
        mask_and(&t->allowed, &t->online, &t->memory);
        mask_zero(&t->inherited_nodes);
        mode = MPOL_DEFAULT;
    }
    t->inherited_mode = mode & ~(int)NH_MPOL_F_ALL;
    t->inherited_flags = (unsigned)mode & NH_MPOL_F_ALL;
}

/* Zeroes t writing only the words that are not zero yet: the process-wide snapshot starts in
 * zero pages, which a plain memset would make resident (40 KiB of tables sized for 8192 CPUs
 * and 1024 nodes, of which a small machine uses a few lines). */
static void topo_clear(topo_t *t) {
    _Static_assert(sizeof *t % sizeof(uint64_t) == 0, "cleared a word at a time");
    typedef uint64_t __attribute__((may_alias)) word_t; /* t's fields read as words */
    word_t *w = (word_t *)(void *)t;
    for (size_t i = 0; i < sizeof *t / sizeof *w; i++)
        if (w[i]) w[i] = 0;
}

int topo_read(topo_t *t, const char *root, bool query_kernel) {
    topo_clear(t);
    t->max_cpu = -1;
    if (!root) root = SYSFS_NODE_ROOT;
    if (read_list(root, "possible", t->possible.bits, NH_MAX_NODES) ||
        read_list(root, "online", t->online.bits, NH_MAX_NODES)) {
        /* No NUMA in this kernel: one node 0 holding everything. */
        mask_zero(&t->possible);
        nh_nodemask_set(&t->possible, 0);
        t->online = t->memory = t->cpus = t->possible;
    } else {
        if (read_list(root, "has_memory", t->memory.bits, NH_MAX_NODES)) t->memory = t->online;
        read_list(root, "has_cpu", t->cpus.bits, NH_MAX_NODES);
    }
    for (int n = mask_next(&t->possible, 0); n >= 0; n = mask_next(&t->possible, n + 1))
        t->max_node = n;
    for (int n = mask_next(&t->online, 0); n >= 0; n = mask_next(&t->online, n + 1)) {
        read_cpus(t, root, n);
        if (t->node_ncpus[n]) nh_nodemask_set(&t->cpus, n);
        read_meminfo(root, n, &t->mem_total[n], &t->mem_free[n]);
        read_distances(t, root, n);
    }
    if (query_kernel) {
        read_kernel_state(t);
    } else {
        mask_and(&t->allowed, &t->online, &t->memory);
        t->inherited_mode = MPOL_DEFAULT;
    }
    return 0;
}

void topo_usable(const topo_t *t, nh_nodemask_t *out) {
    mask_and(out, &t->allowed, &t->memory);
    mask_and(out, out, &t->online);
}

const topo_t *topo_get(void) {
    static topo_t topo;
    static int state; /* 0 unread, 1 reading, 2 ready */
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s == 2) return &topo;
    int expect = 0;
    if (__atomic_compare_exchange_n(&state, &expect, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        topo_read(&topo, NULL, true);
        __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2)
            sched_yield();
    }
    return &topo;
}

/* ---- public queries ------------------------------------------------------------------- */

int nh_max_node(void) {
    return topo_get()->max_node;
}

#define COPY_MASK(out, field)                                                                      \
    do {                                                                                           \
        if (!(out)) return errno = EINVAL, -EINVAL;                                                \
        *(out) = topo_get()->field;                                                                \
        return 0;                                                                                  \
    } while (0)

int nh_nodes_online(nh_nodemask_t *out) {
    COPY_MASK(out, online);
}
int nh_nodes_with_memory(nh_nodemask_t *out) {
    COPY_MASK(out, memory);
}
int nh_nodes_with_cpus(nh_nodemask_t *out) {
    COPY_MASK(out, cpus);
}
int nh_nodes_allowed(nh_nodemask_t *out) {
    if (!out) return errno = EINVAL, -EINVAL;
    /* the cpuset may have changed since the snapshot was read: the kernel's answer now */
    if (kernel_get_mempolicy(NULL, out, NULL, MPOL_F_MEMS_ALLOWED)) *out = topo_get()->allowed;
    return 0;
}

int nh_node_of_cpu(int cpu) {
    return topo_cpu_node(topo_get(), cpu); /* -1 out of range too */
}

int nh_node_distance(int a, int b) {
    const topo_t *t = topo_get();
    if (!nh_nodemask_isset(&t->online, a) || !nh_nodemask_isset(&t->online, b)) return -1;
    if (a >= NH_TOPO_DIST_NODES || b >= NH_TOPO_DIST_NODES) return -1;
    return t->distance[a][b] ? t->distance[a][b] : (a == b ? 10 : -1);
}

int nh_node_info(int node, nh_node_info_t *out) {
    const topo_t *t = topo_get();
    if (!out || !nh_nodemask_isset(&t->online, node)) return errno = EINVAL, -EINVAL;
    out->mem_total = t->mem_total[node];
    out->ncpus = t->node_ncpus[node];
    if (topo_node_free(NULL, node, &out->mem_free)) out->mem_free = t->mem_free[node];
    return 0;
}
