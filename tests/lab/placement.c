/* Placement on a real multi-node kernel (run inside the QEMU lab guests). Every claim is
 * checked by asking the kernel where the pages are (move_pages through nh_pages_where), never
 * from what numaheap asked for. Adapts to the topology it finds: nodes with CPUs, CPU-less
 * nodes, a small node. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numaheap.h"

#define PAGE 4096ul

static int node_list(int *out, int cpus_only) {
    nh_nodemask_t mem, cpus;
    nh_nodes_with_memory(&mem);
    nh_nodes_with_cpus(&cpus);
    int n = 0;
    for (int i = 0; i <= nh_max_node(); i++)
        if (nh_nodemask_isset(&mem, i) && (!cpus_only || nh_nodemask_isset(&cpus, i))) out[n++] = i;
    return n;
}

/* CPU sets per node, computed once up front: pinning must not allocate (libnuma's cpumask
 * calls malloc), or the thread is routed before it is pinned. */
static cpu_set_t node_cpus[64];

static void compute_node_cpus(void) {
    struct bitmask *bm = numa_allocate_cpumask();
    for (int n = 0; n <= numa_max_node() && n < 64; n++) {
        CPU_ZERO(&node_cpus[n]);
        if (numa_node_to_cpus(n, bm)) continue;
        for (unsigned c = 0; c < bm->size; c++)
            if (numa_bitmask_isbitset(bm, c)) CPU_SET(c, &node_cpus[n]);
    }
    numa_free_cpumask(bm);
}

static void pin_to_node(int node) {
    assert_int_equal(sched_setaffinity(0, sizeof node_cpus[node], &node_cpus[node]), 0);
    sched_yield(); /* be there before the next allocation */
}

/* Pages of [p, p+len) the kernel reports on node, out of all pages. */
static size_t pages_on(const void *p, size_t len, int node, size_t *total) {
    size_t npages = ((uintptr_t)p + len + PAGE - 1) / PAGE - (uintptr_t)p / PAGE;
    int *where = malloc(npages * sizeof *where);
    long n = nh_pages_where(p, len, where, npages);
    assert_int_equal(n, (long)npages);
    size_t on = 0;
    for (size_t i = 0; i < npages; i++)
        on += where[i] == node;
    free(where);
    if (total) *total = npages;
    return on;
}

static void touch(void *p, size_t len) {
    memset(p, 0x5a, len);
}

static int all_on(const void *p, size_t len, int node) {
    size_t total, on = pages_on(p, len, node, &total);
    return on == total;
}

/* ---- node API ---------------------------------------------------------------------------- */

static void onnode_every_node(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    assert_true(k >= 2);
    for (int i = 0; i < k; i++) {
        size_t len = 2u << 20;
        char *p = nh_malloc_onnode(len, nodes[i]);
        assert_non_null(p);
        touch(p, len);
        assert_int_equal(nh_node_of(p), nodes[i]);
        assert_true(all_on(p, len, nodes[i]));
        char *small[256];
        for (int j = 0; j < 256; j++) {
            small[j] = nh_malloc_onnode(64, nodes[i]);
            touch(small[j], 64);
        }
        for (int j = 0; j < 256; j++) {
            assert_true(all_on(small[j], 64, nodes[i]));
            free(small[j]);
        }
        free(p);
    }
}

/* ---- routing ------------------------------------------------------------------------------- */

struct pinned {
    int node, ok, current, bad, first_bad_node, wrong_arena;
    void *first_bad;
};

static void *alloc_pinned(void *arg) {
    struct pinned *a = arg;
    pin_to_node(a->node);
    enum { N = 4096, SZ = 1024 };
    char **v = malloc(N * sizeof *v);
    a->ok = 1;
    for (int i = 0; i < N; i++) {
        v[i] = malloc(SZ);
        touch(v[i], SZ);
    }
    a->current = nh_current_node();
    for (int i = 0; i < N; i++) {
        if (!all_on(v[i], SZ, a->node)) {
            int w[2] = {-99, -99};
            nh_pages_where(v[i], SZ, w, 2);
            if (!a->bad++) a->first_bad_node = w[0] != a->node ? w[0] : w[1], a->first_bad = v[i];
            a->wrong_arena += nh_node_of(v[i]) != a->node;
            a->ok = 0;
        }
        free(v[i]);
    }
    free(v);
    return NULL;
}

static void malloc_follows_pinned_threads(void **s) {
    int nodes[64], k = node_list(nodes, 1);
    for (int i = 0; i < k; i++) {
        struct pinned a = {nodes[i], 0, -1, 0, 0, 0, NULL};
        pthread_t t;
        pthread_create(&t, NULL, alloc_pinned, &a);
        pthread_join(t, NULL);
        assert_int_equal(a.current, nodes[i]);
        if (!a.ok)
            fail_msg("node %d: %d of 4096 objects have pages elsewhere (first: %p on node %d); "
                     "%d from another node's arena",
                     nodes[i], a.bad, a.first_bad, a.first_bad_node, a.wrong_arena);
    }
}

static void *migrating(void *arg) {
    struct pinned *a = arg;
    int nodes[64], k = node_list(nodes, 1);
    pin_to_node(nodes[0]);
    void *first = malloc(100);
    assert_int_equal(nh_node_of(first), nodes[0]);
    pin_to_node(nodes[k - 1]);
    /* keep allocating: routing checks come every 64 KiB, 4 sightings move the thread */
    for (int i = 0; i < 4096; i++) {
        char *volatile q = malloc(512); /* volatile: GCC deletes a plain free(malloc(n)) */
        q[0] = 1;
        free(q);
    }
    a->current = nh_current_node();
    char *p = malloc(256 * 1024);
    touch(p, 256 * 1024);
    a->ok = nh_node_of(p) == nodes[k - 1] && all_on(p, 256 * 1024, nodes[k - 1]);
    free(first);
    free(p);
    return NULL;
}

static void moved_thread_is_rerouted(void **s) {
    int nodes[64];
    struct pinned a = {node_list(nodes, 1) > 1 ? nodes[1] : -1, 0, -1, 0, 0, 0, NULL};
    pthread_t t;
    pthread_create(&t, NULL, migrating, &a);
    pthread_join(t, NULL);
    assert_int_equal(a.current, nodes[node_list(nodes, 1) - 1]);
    assert_true(a.ok);
}

/* ---- remote free --------------------------------------------------------------------------- */

#define XN 2000
static void *xobjs[XN];
static pthread_barrier_t xbar;

struct xfer {
    int node, role, bad;
};

static void *xfer_thread(void *arg) {
    struct xfer *x = arg;
    pin_to_node(x->node);
    if (x->role == 0)
        for (int i = 0; i < XN; i++)
            touch(xobjs[i] = malloc(200), 200);
    pthread_barrier_wait(&xbar);
    if (x->role == 1)
        for (int i = 0; i < XN; i++)
            free(xobjs[i]); /* node A's objects freed on node B */
    pthread_barrier_wait(&xbar);
    /* each thread allocates again: it must get memory of its own node only */
    for (int i = 0; i < XN; i++) {
        char *p = malloc(200);
        touch(p, 200);
        if (nh_node_of(p) != x->node || !all_on(p, 200, x->node)) x->bad++;
        if (x->role == 1)
            xobjs[i] = p;
        else
            free(p);
    }
    pthread_barrier_wait(&xbar);
    if (x->role == 1)
        for (int i = 0; i < XN; i++)
            free(xobjs[i]);
    return NULL;
}

static void remote_free_reused_by_home_node_only(void **s) {
    int nodes[64];
    assert_true(node_list(nodes, 1) >= 2);
    struct xfer a = {nodes[0], 0, 0}, b = {nodes[1], 1, 0};
    pthread_barrier_init(&xbar, NULL, 2);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, xfer_thread, &a);
    pthread_create(&tb, NULL, xfer_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.bad, 0);
    assert_int_equal(b.bad, 0);
}

/* A thread on one node leaves live and freed objects behind when it exits; a thread on another
 * node that starts afterwards must get none of that memory: abandoned memory is adopted only by
 * its own node. */
struct exiting {
    int node;
    void **keep; /* the exiting thread's survivors, freed later by the main thread */
    int bad;
};

static void *exit_leaving(void *arg) {
    struct exiting *e = arg;
    pin_to_node(e->node);
    void *v[2048];
    for (int i = 0; i < 2048; i++) {
        v[i] = malloc(64 + (size_t)(i % 16) * 64);
        touch(v[i], 64);
    }
    for (int i = 0; i < 2048; i++) {
        if (i % 2)
            free(v[i]); /* half freed: its pages are partly free when the thread exits */
        else
            e->keep[i / 2] = v[i];
    }
    return NULL;
}

static void *start_after(void *arg) {
    struct exiting *e = arg;
    pin_to_node(e->node);
    for (int i = 0; i < 4096; i++) {
        char *p = malloc(64 + (size_t)(i % 16) * 64);
        touch(p, 64);
        if (nh_node_of(p) != e->node || !all_on(p, 64, e->node)) e->bad++;
        e->keep[i] = p; /* kept, so no block is simply reused from this thread's own frees */
    }
    return NULL;
}

static void exited_thread_memory_stays_on_its_node(void **s) {
    int nodes[64];
    assert_true(node_list(nodes, 1) >= 2);
    static void *keep[1024], *keep_b[4096];
    struct exiting a = {nodes[0], keep, 0}, b = {nodes[1], keep_b, 0};
    pthread_t t;
    pthread_create(&t, NULL, exit_leaving, &a);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, start_after, &b);
    pthread_join(t, NULL);
    if (b.bad) fail_msg("%d of 4096 objects of a node-%d thread not on its node", b.bad, nodes[1]);
    for (int i = 0; i < 1024; i++)
        free(keep[i]);
    for (int i = 0; i < 4096; i++)
        free(keep_b[i]);
}

/* ---- CPU-less nodes ------------------------------------------------------------------------ */

static void *where_routed(void *arg) {
    int *node = arg;
    pin_to_node(*node);
    char *volatile q = malloc(10);
    free(q);
    *node = nh_current_node();
    return NULL;
}

static void cpuless_node_usable_but_never_home(void **s) {
    nh_nodemask_t mem, cpus;
    nh_nodes_with_memory(&mem);
    nh_nodes_with_cpus(&cpus);
    int cpuless = -1;
    for (int i = 0; i <= nh_max_node(); i++)
        if (nh_nodemask_isset(&mem, i) && !nh_nodemask_isset(&cpus, i)) cpuless = i;
    if (cpuless < 0) skip();
    size_t len = 1u << 20;
    char *p = nh_malloc_onnode(len, cpuless);
    touch(p, len);
    assert_true(all_on(p, len, cpuless));
    free(p);
    nh_policy_t pol;
    char text[32];
    snprintf(text, sizeof text, "preferred:%d", cpuless);
    assert_int_equal(nh_policy_parse(text, &pol, NULL), 0);
    p = nh_malloc_policy(len, &pol);
    touch(p, len);
    assert_true(all_on(p, len, cpuless));
    free(p);
    int nodes[64], k = node_list(nodes, 1);
    for (int i = 0; i < k; i++) {
        int n = nodes[i];
        pthread_t t;
        pthread_create(&t, NULL, where_routed, &n);
        pthread_join(t, NULL);
        assert_int_equal(n, nodes[i]);
        assert_int_not_equal(n, cpuless);
    }
}

/* ---- migration and repair ----------------------------------------------------------------- */

static void migrate_then_repair_moves_pages_home(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    size_t len = 1u << 20;
    char *p = nh_malloc_onnode(len, nodes[0]);
    touch(p, len);
    assert_true(all_on(p, len, nodes[0]));
    /* move the object's pages away: now they are misplaced for their region. Every page it
     * touches counts (jemalloc offsets large objects inside their first page: 257 of them) */
    uintptr_t first = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);
    uintptr_t end = ((uintptr_t)p + len + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    assert_int_equal(nh_migrate(p, len, nodes[k - 1]), (long)((end - first) / PAGE));
    assert_true(all_on(p, len, nodes[k - 1]));
    assert_int_equal(nh_node_of(p), nodes[0]); /* still node 0's object */
    for (int i = 0; i < 64; i++)
        assert_int_equal(p[i * 4096 % len], 0x5a); /* nothing lost */
    nh_repair_report_t r;
    assert_int_equal(nh_repair(-1, 0, &r), 0); /* audit only */
    assert_true(r.pages_misplaced >= len / PAGE);
    assert_int_equal(r.pages_moved, 0);
    assert_true(all_on(p, len, nodes[k - 1]));
    assert_int_equal(nh_repair(nodes[0], 1, &r), 0); /* repair */
    /* every misplaced page is accounted for; the kernel may have moved some home itself (NUMA
     * balancing) and may refuse a busy page of the allocator's own live metadata */
    if (r.pages_moved + r.pages_failed != r.pages_misplaced || r.pages_failed > 8 ||
        !all_on(p, len, nodes[0]))
        fail_msg("repair: checked %llu misplaced %llu moved %llu failed %llu",
                 (unsigned long long)r.pages_checked, (unsigned long long)r.pages_misplaced,
                 (unsigned long long)r.pages_moved, (unsigned long long)r.pages_failed);
    for (int i = 0; i < 64; i++)
        assert_int_equal(p[i * 4096 % len], 0x5a);
    free(p);
}

/* ---- large objects ------------------------------------------------------------------------- */

static void large_objects_interleaved(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    size_t len = 64u << 20;
    char *p = malloc(len);
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    touch(p, len);
    size_t total, sum = 0;
    for (int i = 0; i < k; i++) {
        size_t on = pages_on(p, len, nodes[i], &total);
        sum += on;
        /* an even share each, give or take a page per node */
        assert_true(on + 2 >= total / (size_t)k && on <= total / (size_t)k + 2);
    }
    assert_int_equal(sum, total);
    free(p);
}

/* ---- child processes: inherited policy, strict exhaustion, weighted large ---------------- */

/* Runs the lab probe (argv) in a child with env additions; returns its stdout. */
static char *run_probe(char *const argv[], const char *env1, const char *env2) {
    static char out[4096];
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        if (env1) putenv((char *)env1);
        if (env2) putenv((char *)env2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("probe failed (%d): %s", st, out);
    return out;
}

static const char *probe_path(void) {
    const char *p = getenv("NH_LAB_PROBE");
    return p ? p : "/lab/lab_probe";
}

static void inherited_bind_respected(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    char node[16];
    snprintf(node, sizeof node, "%d", nodes[k - 1]);
    char *argv[] = {(char *)probe_path(), "setpolicy", "bind", node, "where", NULL};
    char *out = run_probe(argv, NULL, NULL);
    char want[64];
    snprintf(want, sizeof want, "policy=bind:%d ", nodes[k - 1]);
    if (!strstr(out, want)) fail_msg("%s", out);
    snprintf(want, sizeof want, "pages=all-on-%d", nodes[k - 1]);
    if (!strstr(out, want)) fail_msg("%s", out);
}

static void inherited_interleave_respected(void **s) {
    char *argv[] = {(char *)probe_path(), "setpolicy", "interleave", "all", "where", NULL};
    char *out = run_probe(argv, NULL, NULL);
    if (!strstr(out, "policy=interleave:")) fail_msg("%s", out);
}

static void exhaustion_preferred_falls_back(void **s) {
    const char *small = getenv("NH_LAB_SMALL_NODE");
    if (!small || !*small) skip();
    char *argv[] = {(char *)probe_path(), "exhaust", (char *)small, "400", NULL};
    char *out = run_probe(argv, NULL, NULL);
    /* all 400 MiB came, some of it from other nodes */
    if (!strstr(out, "exhaust got=400 ") || strstr(out, "elsewhere=0 ")) fail_msg("%s", out);
}

static void exhaustion_strict_bind_enomem(void **s) {
    const char *small = getenv("NH_LAB_SMALL_NODE");
    if (!small || !*small) skip();
    char *argv[] = {(char *)probe_path(), "exhaust", (char *)small, "400", NULL};
    char *out = run_probe(argv, "NUMAHEAP_STRICT=1", NULL);
    /* stopped short with ENOMEM, nothing on another node, and the process lived to say so */
    if (!strstr(out, "errno=12") || !strstr(out, "elsewhere=0 ") || strstr(out, "got=400 "))
        fail_msg("%s", out);
}

static void exhaustion_strict_api_flag_enomem(void **s) {
    const char *small = getenv("NH_LAB_SMALL_NODE");
    if (!small || !*small) skip();
    char *argv[] = {(char *)probe_path(), "exhaust-strict-flag", (char *)small, "400", NULL};
    char *out = run_probe(argv, NULL, NULL); /* a non-strict process: the flag alone */
    if (!strstr(out, "errno=12") || !strstr(out, "elsewhere=0 ") || strstr(out, "got=400 "))
        fail_msg("%s", out);
}

static void realloc_keeps_node(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    for (int i = 0; i < k; i++) {
        char *p = nh_malloc_onnode(100, nodes[i]);
        touch(p, 100);
        for (size_t n = 1000; n <= (8u << 20); n *= 4) {
            p = realloc(p, n);
            touch(p, n);
            assert_int_equal(nh_node_of(p), nodes[i]);
            assert_true(all_on(p, n, nodes[i]));
        }
        free(p);
    }
}

static void weighted_large_objects(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    char pol[64];
    snprintf(pol, sizeof pol, "NUMAHEAP_LARGE_POLICY=weighted:%d=3,%d=1", nodes[0], nodes[1]);
    char *argv[] = {(char *)probe_path(), "large", NULL};
    char *out = run_probe(argv, pol, NULL);
    char want[64]; /* 64 MiB = 16384 pages: 12288 and 4096 */
    snprintf(want, sizeof want, "node%d=12288 node%d=4096", nodes[0], nodes[1]);
    if (!strstr(out, want)) fail_msg("%s (k=%d)", out, k);
}

int main(void) {
    if (numa_available() < 0) return 1;
    compute_node_cpus();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(onnode_every_node),
        cmocka_unit_test(malloc_follows_pinned_threads),
        cmocka_unit_test(moved_thread_is_rerouted),
        cmocka_unit_test(remote_free_reused_by_home_node_only),
        cmocka_unit_test(exited_thread_memory_stays_on_its_node),
        cmocka_unit_test(cpuless_node_usable_but_never_home),
        cmocka_unit_test(migrate_then_repair_moves_pages_home),
        cmocka_unit_test(large_objects_interleaved),
        cmocka_unit_test(inherited_bind_respected),
        cmocka_unit_test(inherited_interleave_respected),
        cmocka_unit_test(exhaustion_preferred_falls_back),
        cmocka_unit_test(exhaustion_strict_bind_enomem),
        cmocka_unit_test(exhaustion_strict_api_flag_enomem),
        cmocka_unit_test(realloc_keeps_node),
        cmocka_unit_test(weighted_large_objects),
    };
    return cmocka_run_group_tests_name("lab_placement", tests, NULL, NULL);
}
