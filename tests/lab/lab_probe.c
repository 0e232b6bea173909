/* The lab's helper process. Commands (each prints one line):
 *   setpolicy MODE NODES CMD...   set_mempolicy(MODE, NODES) then exec this probe with CMD
 *                                 (MODE bind|interleave, NODES a number or "all")
 *   where                         numaheap's policy and where 4 MiB of malloc'd pages are
 *   exhaust NODE MB               nh_malloc_onnode 1 MiB at a time up to MB, touching each
 *   exhaust-strict-flag NODE MB   the same with nh_alloc_onnode(..., NH_ALLOC_STRICT)
 *   large                         pages of a touched 64 MiB malloc per node
 *   exhaust-malloc MB             malloc 1 MiB at a time up to MB, touching each, counting pages
 *                                 outside numaheap's policy nodes (run under a bind policy)
 *   exhaust-policy POLICY MB      the same with nh_malloc_policy(POLICY)
 *   kpolicy                       the process's kernel policy (get_mempolicy), compact form
 *   policy-of                     nh_policy_of a touched 1 MiB malloc, and where its pages are
 *   spread N                      N threads, one after another, each allocating once: how many
 *                                 numaheap put on each node (routing of interleave/weighted)
 *   mmap                          where 4 MiB of the probe's own touched mmap are (the kernel
 *                                 policy's doing: numaheap does not manage it)
 *   repair NODE MB WAIT_MS        fills NODE with a hog mapping (MPOL_PREFERRED there) until its
 *                                 pages fall back elsewhere, then nh_malloc_onnode(MB MiB, NODE)
 *                                 and touches it (its pages fall back too), frees the hog and
 *                                 watches for WAIT_MS how many of the object's pages come home
 *   follow                        allocates 16 small objects pinned to the first node with a CPU,
 *                                 then is pinned to the last and allocates until re-routed: where
 *                                 the objects' pages are then
 *   home NODE                     pinned to NODE's CPUs, allocates 1 MiB in small objects: the
 *                                 node numaheap routed it to and where those pages are
 *   cpuset                        pinned to the first node with a CPU, allocates; moves itself
 *                                 into a cgroup v2 cpuset whose mems are the first one or two
 *                                 nodes (never the last), allocates; moves back to the root
 *                                 cgroup (every node), allocates: where each phase's new
 *                                 objects are, and what the node API says of the last node
 *                                 meanwhile ("cpuset unavailable: WHY" where it cannot) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "numaheap.h"

#define PAGE 4096ul

static int cmd_setpolicy(int argc, char **argv) {
    if (argc < 5) return 2;
    unsigned long mask[NH_MAX_NODES / 64] = {0};
    if (!strcmp(argv[3], "all")) {
        nh_nodemask_t m;
        nh_nodes_with_memory(&m);
        memcpy(mask, m.bits, sizeof mask);
    } else {
        int n = atoi(argv[3]);
        mask[n / 64] |= 1ul << (n % 64);
    }
    int mode = !strcmp(argv[2], "bind") ? MPOL_BIND : MPOL_INTERLEAVE;
    if (set_mempolicy(mode, mask, NH_MAX_NODES + 1)) return perror("set_mempolicy"), 3;
    argv[3] = argv[0];
    execv(argv[0], argv + 3); /* the policy survives exec: numaheap starts under it */
    return perror("execv"), 4;
}

static int cmd_where(void) {
    nh_policy_t small;
    char text[256];
    nh_heap_policy(&small, NULL);
    nh_policy_format(&small, text, sizeof text);
    size_t len = 4u << 20, npages = len / PAGE;
    char *p = malloc(len);
    memset(p, 1, len);
    static int where[1024];
    nh_pages_where(p, len, where, npages);
    int first = where[0], same = 1;
    for (size_t i = 1; i < npages; i++)
        same &= where[i] == first;
    if (same)
        printf("policy=%s pages=all-on-%d\n", text, first);
    else
        printf("policy=%s pages=mixed\n", text);
    return 0;
}

static int cmd_exhaust(int node, int mb, unsigned flags) {
    size_t chunk = 1u << 20, elsewhere = 0;
    int got = 0, err = 0;
    static int where[256];
    for (; got < mb; got++) {
        errno = 0;
        char *p = flags ? nh_alloc_onnode(chunk, 0, node, flags) : nh_malloc_onnode(chunk, node);
        if (!p) {
            err = errno;
            break;
        }
        memset(p, 1, chunk);
        nh_pages_where(p, chunk, where, chunk / PAGE);
        for (size_t i = 0; i < chunk / PAGE; i++)
            elsewhere += where[i] != node;
        /* kept: the node fills up */
    }
    printf("exhaust got=%d errno=%d elsewhere=%zu \n", got, err, elsewhere);
    return 0;
}

/* Pages of [p, p+len) the kernel reports outside set. */
static size_t outside(const char *p, size_t len, const nh_nodemask_t *set) {
    static int where[256];
    size_t n = 0;
    nh_pages_where(p, len, where, len / PAGE);
    for (size_t i = 0; i < len / PAGE; i++)
        n += !nh_nodemask_isset(set, where[i]);
    return n;
}

static int cmd_exhaust_bind(const char *policy, int mb) {
    nh_policy_t pol;
    nh_error_t err;
    if (policy ? nh_policy_parse(policy, &pol, &err) : nh_heap_policy(&pol, NULL))
        return fprintf(stderr, "lab_probe: policy: %s\n", policy ? err.msg : "none"), 2;
    size_t chunk = 1u << 20, elsewhere = 0;
    int got = 0, err_no = 0, per_node[64] = {0};
    for (; got < mb; got++) {
        errno = 0;
        char *p = policy ? nh_malloc_policy(chunk, &pol) : malloc(chunk);
        if (!p) {
            err_no = errno;
            break;
        }
        memset(p, 1, chunk);
        elsewhere += outside(p, chunk, &pol.nodes);
        int w;
        if (nh_pages_where(p, PAGE, &w, 1) == 1 && w >= 0 && w < 64) per_node[w]++;
    }
    printf("exhaust-bind got=%d errno=%d elsewhere=%zu", got, err_no, elsewhere);
    for (int n = 0; n < 64; n++)
        if (per_node[n]) printf(" node%d=%d", n, per_node[n]);
    printf(" \n");
    return 0;
}

static int cmd_mmap(void) {
    size_t len = 4u << 20, npages = len / PAGE;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return perror("mmap"), 3;
    memset(p, 1, len);
    static int where[1024];
    nh_pages_where(p, len, where, npages);
    int same = 1;
    for (size_t i = 1; i < npages; i++)
        same &= where[i] == where[0];
    if (same)
        printf("mmap pages=all-on-%d\n", where[0]);
    else
        printf("mmap pages=mixed\n");
    return 0;
}

static void *spread_thread(void *arg) {
    char *volatile p = malloc(64); /* the first allocation routes the thread */
    p[0] = 1;
    *(int *)arg = nh_current_node();
    free(p);
    return NULL;
}

static int cmd_spread(int n) {
    int count[64] = {0};
    for (int i = 0; i < n; i++) {
        int node = -1;
        pthread_t t;
        pthread_create(&t, NULL, spread_thread, &node);
        pthread_join(t, NULL);
        if (node >= 0 && node < 64) count[node]++;
    }
    nh_policy_t small;
    char text[512];
    nh_heap_policy(&small, NULL);
    nh_policy_format(&small, text, sizeof text);
    printf("spread");
    for (int i = 0; i < 64; i++)
        if (count[i]) printf(" node%d=%d", i, count[i]);
    printf(" policy=%s\n", text);
    return 0;
}

static int cmd_policy_of(void) {
    size_t len = 1u << 20;
    char *p = malloc(len), text[512];
    memset(p, 1, len);
    nh_policy_t pol;
    if (nh_policy_of(p, &pol)) return perror("nh_policy_of"), 3;
    nh_policy_format(&pol, text, sizeof text);
    static int where[256];
    nh_pages_where(p, len, where, len / PAGE);
    int count[64] = {0};
    for (size_t i = 0; i < len / PAGE; i++)
        if (where[i] >= 0 && where[i] < 64) count[where[i]]++;
    printf("policy-of=%s", text);
    for (int n = 0; n < 64; n++)
        if (count[n]) printf(" node%d=%d", n, count[n]);
    printf(" \n");
    return 0;
}

static int cmd_kpolicy(void) {
    nh_policy_t p;
    char text[512];
    if (nh_policy_get_thread(&p)) return perror("get_mempolicy"), 3;
    nh_policy_format(&p, text, sizeof text);
    printf("kpolicy=%s\n", text);
    return 0;
}

static int cmd_large(void) {
    size_t len = 64u << 20, npages = len / PAGE;
    char *p = malloc(len);
    memset(p, 1, len);
    static int where[16384], count[NH_MAX_NODES];
    nh_pages_where(p, len, where, npages);
    for (size_t i = 0; i < npages; i++)
        if (where[i] >= 0) count[where[i]]++;
    nh_policy_t large;
    char text[512];
    nh_heap_policy(NULL, &large);
    nh_policy_format(&large, text, sizeof text);
    printf("large node_of=%d", nh_node_of(p));
    for (int n = 0; n <= nh_max_node(); n++)
        if (count[n]) printf(" node%d=%d", n, count[n]);
    printf(" policy=%s\n", text);
    return 0;
}

/* Pages of [p, p+len) the kernel reports on node, and resident elsewhere (*away). */
static size_t count_on(const char *p, size_t len, int node, size_t *away) {
    static int where[65536];
    size_t n = len / PAGE, on = 0;
    if (n > sizeof where / sizeof *where) n = sizeof where / sizeof *where;
    nh_pages_where(p, n * PAGE, where, n);
    *away = 0;
    for (size_t i = 0; i < n; i++) {
        on += where[i] == node;
        *away += where[i] >= 0 && where[i] != node;
    }
    return on;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_repair(int node, int mb, int wait_ms) {
    nh_node_info_t info;
    if (nh_node_info(node, &info)) return fprintf(stderr, "lab_probe: node %d\n", node), 2;
    size_t chunk = 1u << 20, cap = (size_t)info.mem_total + (256u << 20), hogged = 0, away;
    char *hog = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (hog == MAP_FAILED) return perror("mmap"), 3;
    unsigned long mask[NH_MAX_NODES / 64] = {0};
    mask[node / 64] |= 1ul << (node % 64);
    if (mbind(hog, cap, MPOL_PREFERRED, mask, NH_MAX_NODES + 1, 0)) return perror("mbind"), 3;
    /* the node is full when a chunk's pages mostly land elsewhere */
    for (; hogged + chunk <= cap; hogged += chunk) {
        memset(hog + hogged, 1, chunk);
        if (count_on(hog + hogged, chunk, node, &away) < chunk / PAGE / 2) break;
    }
    size_t len = (size_t)mb << 20;
    char *p = nh_malloc_onnode(len, node);
    if (!p) return perror("nh_malloc_onnode"), 3;
    memset(p, 2, len);
    size_t first_on = count_on(p, len, node, &away), misplaced = away;
    munmap(hog, cap); /* the node has room again */
    long start = now_ms(), home_ms = -1;
    size_t on = first_on;
    while (now_ms() - start < wait_ms) {
        /* every page on the node, not merely none elsewhere: a page mid-migration is reported
         * as absent (-ENOENT) and would count as neither */
        on = count_on(p, len, node, &away);
        if (home_ms < 0 && on == len / PAGE) home_ms = now_ms() - start;
        if (home_ms >= 0) break;
        usleep(20000);
    }
    if (home_ms < 0) on = count_on(p, len, node, &away);
    int intact = 1;
    for (size_t i = 0; i < len; i += PAGE)
        intact &= p[i] == 2;
    nh_stats_t st;
    nh_stats(node, &st);
    printf("repair hogged=%zu misplaced=%zu home_ms=%ld on=%zu away=%zu intact=%d audited=%llu "
           "moved=%llu stats_misplaced=%llu \n",
           hogged >> 20, misplaced, home_ms, on, away, intact, (unsigned long long)st.pages_audited,
           (unsigned long long)st.pages_moved, (unsigned long long)st.pages_misplaced);
    return 0;
}

static cpu_set_t cpus_of(int node) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < CPU_SETSIZE && c < sysconf(_SC_NPROCESSORS_CONF); c++)
        if (nh_node_of_cpu(c) == node) CPU_SET(c, &set);
    return set;
}

/* In a thread of its own, so that its first allocation routes it to the node it is pinned to. */
static void *follow_thread(void *arg) {
    nh_nodemask_t cpus;
    nh_nodes_with_cpus(&cpus);
    int first = -1, last = -1;
    for (int n = 0; n <= nh_max_node(); n++)
        if (nh_nodemask_isset(&cpus, n)) last = n, first = first < 0 ? n : first;
    if (first == last) return fprintf(stderr, "lab_probe: one node with CPUs\n"), NULL;
    cpu_set_t a = cpus_of(first), b = cpus_of(last);
    sched_setaffinity(0, sizeof a, &a);
    sched_yield();
    enum { N = 16 };
    char *obj[N];
    for (int i = 0; i < N; i++) {
        obj[i] = malloc(64);
        memset(obj[i], 3, 64);
    }
    int before = nh_current_node();
    sched_setaffinity(0, sizeof b, &b);
    sched_yield();
    for (int i = 0; i < 4096 && nh_current_node() != last; i++) {
        char *volatile q = malloc(512);
        q[0] = 1;
        free(q);
    }
    int on_first = 0, on_last = 0;
    for (int i = 0; i < N; i++) {
        int w = -1;
        nh_pages_where(obj[i], 1, &w, 1);
        on_first += w == first;
        on_last += w == last;
    }
    printf("follow from=%d to=%d before=%d after=%d on_from=%d on_to=%d node_of=%d \n", first, last,
           before, nh_current_node(), on_first, on_last, nh_node_of(obj[0]));
    *(int *)arg = 0;
    return NULL;
}

static int cmd_follow(void) {
    int rc = 2;
    pthread_t t;
    pthread_create(&t, NULL, follow_thread, &rc);
    pthread_join(t, NULL);
    return rc;
}

/* In a thread started after the pinning, so that its first allocation routes it from there
 * (the main thread was routed wherever it ran when the library started). */
static void *home_thread(void *arg) {
    enum { N = 256, SIZE = 4096 };
    static char *obj[N];
    int where = -1, same = 1;
    for (int i = 0; i < N; i++) {
        obj[i] = malloc(SIZE);
        memset(obj[i], 5, SIZE);
        int w[2];
        long n = nh_pages_where(obj[i], SIZE, w, 2);
        for (long j = 0; j < n; j++) {
            if (where < 0) where = w[j];
            same &= w[j] == where;
        }
    }
    printf("home node=%d pages=%s%d \n", nh_current_node(), same ? "all-on-" : "mixed-", where);
    *(int *)arg = 0;
    return NULL;
}

static int cmd_home(int node) {
    cpu_set_t set = cpus_of(node);
    if (!CPU_COUNT(&set)) return fprintf(stderr, "lab_probe: node %d has no CPU\n", node), 2;
    sched_setaffinity(0, sizeof set, &set);
    sched_yield();
    int rc = 2;
    pthread_t t;
    pthread_create(&t, NULL, home_thread, &rc);
    pthread_join(t, NULL);
    return rc;
}

/* ---- cpuset ------------------------------------------------------------------------------ */
#define CGROOT "/sys/fs/cgroup"

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

/* Allocation work in a new place: 4096 objects of 8 KiB, touched and kept (so each phase takes
 * fresh pages, and the engine leaves its inline path often enough to check routing); the node
 * every page of the last 64 is on, -2 if they are spread, -1 if an allocation failed. */
static int phase(void) {
    enum { N = 4096, LAST = 64, SIZE = 8192 };
    static char *obj[N];
    for (int i = 0; i < N; i++) {
        if (!(obj[i] = malloc(SIZE))) return -1;
        memset(obj[i], 7, SIZE);
    }
    int node = -1;
    for (int i = N - LAST; i < N; i++) {
        int where[3];
        long n = nh_pages_where(obj[i], SIZE, where, 3);
        for (long j = 0; j < n; j++) {
            if (node == -1) node = where[j];
            if (where[j] != node) return -2;
        }
    }
    return node;
}

static void policy_text(char *buf, size_t len) {
    nh_policy_t p;
    nh_heap_policy(&p, NULL);
    nh_policy_format(&p, buf, len);
}

/* The kernel's own policy of a range, compact form. */
static void range_policy(const void *p, char *buf, size_t len) {
    nh_policy_t pol;
    if (nh_policy_of(p, &pol))
        snprintf(buf, len, "?");
    else
        nh_policy_format(&pol, buf, len);
}

static int cmd_cpuset(void) {
    alarm(120); /* a few seconds under TCG: a hang ends the probe, not the guest's time */
    char buf[512];
    int fd = open(CGROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = '\0';
    if (!strstr(buf, "cpuset"))
        return printf("cpuset unavailable: no cgroup v2 cpuset controller (%s)\n",
                      n < 0 ? strerror(errno) : buf),
               0;
    nh_nodemask_t mem, cpus;
    nh_nodes_with_memory(&mem);
    nh_nodes_with_cpus(&cpus);
    int nodes[64], k = 0, first_cpu_node = -1;
    for (int i = 0; i <= nh_max_node() && k < 64; i++) {
        if (nh_nodemask_isset(&mem, i)) nodes[k++] = i;
        if (first_cpu_node < 0 && nh_nodemask_isset(&cpus, i)) first_cpu_node = i;
    }
    if (k < 2 || first_cpu_node != nodes[0])
        return printf("cpuset unavailable: needs two nodes with memory, the first with CPUs\n"), 0;
    cpu_set_t home = cpus_of(first_cpu_node);
    sched_setaffinity(0, sizeof home, &home);
    sched_yield();
    char mems[32], pid[16], policy_a[128], policy_b[128], policy_c[128];
    if (k > 2)
        snprintf(mems, sizeof mems, "%d-%d", nodes[0], nodes[1]);
    else
        snprintf(mems, sizeof mems, "%d", nodes[0]);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    policy_text(policy_a, sizeof policy_a);
    int a = phase();
    /* what the kernel does to policies of ranges when the cpuset changes: numaheap's region of
     * the last node (MPOL_PREFERRED there) and a mapping of the probe's own, MPOL_BIND there */
    void *region_obj = nh_malloc_onnode(64, nodes[k - 1]);
    char *own = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned long mask[NH_MAX_NODES / 64] = {0};
    mask[nodes[k - 1] / 64] |= 1ul << (nodes[k - 1] % 64);
    if (own == MAP_FAILED || mbind(own, PAGE, MPOL_BIND, mask, NH_MAX_NODES + 1, 0))
        return perror("mbind"), 3;
    int e = write_text(CGROOT "/cgroup.subtree_control", "+cpuset");
    if (!e && mkdir(CGROOT "/nhlab", 0755) && errno != EEXIST) e = errno;
    if (!e) e = write_text(CGROOT "/nhlab/cpuset.mems", mems);
    if (!e) e = write_text(CGROOT "/nhlab/cgroup.procs", pid);
    if (e)
        return printf("cpuset unavailable: cannot enter a cpuset of mems %s (%s)\n", mems,
                      strerror(e)),
               0;
    char kpref[64], kbind[64];
    range_policy(region_obj, kpref, sizeof kpref);
    range_policy(own, kbind, sizeof kbind);
    nh_nodemask_t allowed;
    nh_nodes_allowed(&allowed);
    char allowed_b[64];
    nh_nodemask_format(&allowed, allowed_b, sizeof allowed_b);
    usleep(300 * 1000); /* past NUMAHEAP_CPUSET_CHECK's 100 ms */
    int b = phase();
    errno = 0;
    void *x = nh_malloc_onnode(4096, nodes[k - 1]);
    int removed = x ? 0 : errno;
    free(x);
    policy_text(policy_b, sizeof policy_b);
    e = write_text(CGROOT "/cgroup.procs", pid);
    if (e) return printf("cpuset: cannot leave the cpuset (%s)\n", strerror(e)), 3;
    usleep(300 * 1000);
    int c = phase();
    policy_text(policy_c, sizeof policy_c);
    printf("cpuset mems=%s allowed=%s a=%d b=%d c=%d onnode_removed=%d policy_a=%s policy_b=%s "
           "policy_c=%s kernel_region=%s kernel_bind=%s \n",
           mems, allowed_b, a, b, c, removed, policy_a, policy_b, policy_c, kpref, kbind);
    return 0;
}

/* what getcpu says on each CPU: routing depends on it (rseq, or the vDSO under emulation) */
static int cmd_getcpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    printf("getcpu");
    for (int c = 0; c < n; c++) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c, &set);
        sched_setaffinity(0, sizeof set, &set);
        sched_yield();
        printf(" cpu%d->%d(node %d)", c, sched_getcpu(), nh_node_of_cpu(sched_getcpu()));
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "getcpu")) return cmd_getcpu();
    if (argc >= 2 && !strcmp(argv[1], "setpolicy")) return cmd_setpolicy(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "where")) return cmd_where();
    if (argc >= 4 && !strcmp(argv[1], "exhaust"))
        return cmd_exhaust(atoi(argv[2]), atoi(argv[3]), 0);
    if (argc >= 4 && !strcmp(argv[1], "exhaust-strict-flag"))
        return cmd_exhaust(atoi(argv[2]), atoi(argv[3]), NH_ALLOC_STRICT);
    if (argc >= 2 && !strcmp(argv[1], "large")) return cmd_large();
    if (argc >= 2 && !strcmp(argv[1], "kpolicy")) return cmd_kpolicy();
    if (argc >= 2 && !strcmp(argv[1], "policy-of")) return cmd_policy_of();
    if (argc >= 2 && !strcmp(argv[1], "mmap")) return cmd_mmap();
    if (argc >= 5 && !strcmp(argv[1], "repair"))
        return cmd_repair(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc >= 2 && !strcmp(argv[1], "follow")) return cmd_follow();
    if (argc >= 2 && !strcmp(argv[1], "cpuset")) return cmd_cpuset();
    if (argc >= 3 && !strcmp(argv[1], "home")) return cmd_home(atoi(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "spread")) return cmd_spread(atoi(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "exhaust-malloc"))
        return cmd_exhaust_bind(NULL, atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "exhaust-policy"))
        return cmd_exhaust_bind(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: lab_probe setpolicy|where|exhaust|large ...\n");
    return 2;
}
