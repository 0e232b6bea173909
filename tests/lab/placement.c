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
#include <sys/mman.h>
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

static int mask_count_of(const nh_nodemask_t *m) {
    int c = 0;
    for (int i = 0; i < NH_MAX_NODES; i++)
        c += nh_nodemask_isset(m, i);
    return c;
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

/* ---- the background repairer (NUMAHEAP_REPAIR) -------------------------------------------- */

#define REPAIR_MS 200

static char *run_probe(char *const argv[], const char *env1, const char *env2);
static const char *probe_path(void);

/* The node a repair test fills (the small one where there is one: quicker to fill) and the
 * lab probe's report of filling it, placing 32 MiB there, freeing the fill and watching for
 * wait_ms. */
static char *run_repair_probe(const char *env, int wait_ms, int *node) {
    const char *small = getenv("NH_LAB_SMALL_NODE");
    int nodes[64], k = node_list(nodes, 0);
    *node = small && *small ? atoi(small) : nodes[k - 1];
    char n[16], wait[16];
    snprintf(n, sizeof n, "%d", *node);
    snprintf(wait, sizeof wait, "%d", wait_ms);
    char *argv[] = {(char *)probe_path(), "repair", n, "32", wait, NULL};
    char *out = run_probe(argv, env, NULL);
    print_message("%s: %s", env ? env : "(no repairer)", out);
    return out;
}

static unsigned long field(const char *out, const char *name) {
    const char *f = strstr(out, name);
    if (!f) fail_msg("no %s in: %s", name, out);
    return strtoul(f + strlen(name), NULL, 10);
}

/* A node filled until pages fall back, then given room: the repairer brings the object's
 * pages home, nothing of them lost, and nh_stats counts them. How long it took is in the
 * message: an interval or so plus the move, which under TCG alone takes a second on an idle
 * host and many on a busy one, hence the generous limit (the probe stops watching as soon as
 * every page is home). */
static void repairer_brings_pages_home(void **s) {
    int node;
    char env[64];
    snprintf(env, sizeof env, "NUMAHEAP_REPAIR=%dms", REPAIR_MS);
    char *out = run_repair_probe(env, 300 * REPAIR_MS, &node);
    unsigned long misplaced = field(out, " misplaced="), moved = field(out, " moved=");
    long home_ms = strtol(strstr(out, "home_ms=") + 8, NULL, 10);
    if (misplaced < 32 * 256 / 2) fail_msg("the fill left too few pages elsewhere: %s", out);
    if (home_ms < 0 || field(out, " away=") != 0 || field(out, " on=") != 32 * 256 ||
        !field(out, " intact=") || moved < misplaced || field(out, " audited=") < 32 * 256)
        fail_msg("node %d: %s", node, out);
}

/* The same without the repairer: the pages stay where they fell back, for 20 intervals. */
static void pages_stay_without_repairer(void **s) {
    int node;
    char *out = run_repair_probe(NULL, 20 * REPAIR_MS, &node);
    unsigned long misplaced = field(out, " misplaced=");
    if (misplaced < 32 * 256 / 2 || field(out, " away=") != misplaced ||
        strtol(strstr(out, "home_ms=") + 8, NULL, 10) != -1 || field(out, " moved=") != 0 ||
        field(out, " audited=") != 0)
        fail_msg("node %d: %s", node, out);
}

static int engine_is(const char *name) {
    char buf[32];
    size_t len = sizeof buf;
    return nh_ctl("engine", buf, &len, NULL, 0) == 0 && !strcmp(buf, name);
}

/* NUMAHEAP_MIGRATE_ON_MOVE: a thread re-routed to another node finds the objects it allocated
 * last there too; without it they stay on the node it left. */
static void migrate_on_move_brings_pages(void **s) {
    int nodes[64];
    if (node_list(nodes, 1) < 2 || engine_is("jemalloc")) skip(); /* (it reports no pages) */
    char *argv[] = {(char *)probe_path(), "follow", NULL};
    char *on = run_probe(argv, "NUMAHEAP_MIGRATE_ON_MOVE=1", NULL);
    char want[64];
    print_message("on: %s", on);
    snprintf(want, sizeof want, "before=%d after=%d on_from=0 on_to=16 node_of=%d ",
             (int)field(on, "from="), (int)field(on, " to="), (int)field(on, "from="));
    if (!strstr(on, want)) fail_msg("NUMAHEAP_MIGRATE_ON_MOVE=1: %s (want %s)", on, want);
    char *off = run_probe(argv, NULL, NULL);
    print_message("off: %s", off);
    snprintf(want, sizeof want, "before=%d after=%d on_from=16 on_to=0 ", (int)field(off, "from="),
             (int)field(off, " to="));
    if (!strstr(off, want)) fail_msg("without NUMAHEAP_MIGRATE_ON_MOVE: %s (want %s)", off, want);
}

/* ---- large objects ------------------------------------------------------------------------- */

static int has_hmat(void);

static void large_objects_interleaved(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    size_t len = 64u << 20;
    char *p = malloc(len);
    assert_int_equal(nh_node_of(p), NH_NODE_INTERLEAVED);
    touch(p, len);
    /* the default: interleave, or weighted where the machine reports differing bandwidths
     * (T2's HMAT: 3:1, spread by the 2 MiB userspace stripe) */
    nh_policy_t large;
    assert_int_equal(nh_heap_policy(NULL, &large), 0);
    unsigned wsum = 0;
    for (int i = 0; i < k; i++)
        wsum += large.weights[nodes[i]] ? large.weights[nodes[i]] : 1;
    if (has_hmat()) assert_int_equal(large.mode, NH_MPOL_WEIGHTED_INTERLEAVE);
    size_t total, sum = 0, slack = large.mode == NH_MPOL_WEIGHTED_INTERLEAVE ? 512 : 2;
    for (int i = 0; i < k; i++) {
        size_t on = pages_on(p, len, nodes[i], &total);
        unsigned w = large.weights[nodes[i]] ? large.weights[nodes[i]] : 1;
        size_t share = total * w / wsum;
        sum += on;
        /* its share each, give or take a page per node (a stripe unit when weighted) */
        if (on + slack < share || on > share + slack)
            fail_msg("node %d: %zu of %zu pages, want %zu", nodes[i], on, total, share);
    }
    assert_int_equal(sum, total);
    free(p);
}

/* ---- child processes: inherited policy, strict exhaustion, weighted large ---------------- */

/* Runs argv in a child with env additions; returns its stdout, and its exit status in *status
 * (-1 when it did not exit). */
static char *run_command(char *const argv[], const char *env1, const char *env2, int *status) {
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
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* Runs the lab probe (argv) in a child with env additions; returns its stdout. */
static char *run_probe(char *const argv[], const char *env1, const char *env2) {
    int st;
    char *out = run_command(argv, env1, env2, &st);
    if (st != 0) fail_msg("probe failed (%d): %s", st, out);
    return out;
}

/* numaheap repair from outside: this process's pages of node A's heap, moved to node B, are
 * counted misplaced by stat --exact, left where they are by repair --dry-run and moved home by
 * repair PID, as the kernel (move_pages) then reports. */
static void cli_repair_moves_pages_home(void **s) {
    const char *cli = getenv("NH_LAB_CLI");
    if (!cli || access(cli, X_OK)) skip();
    int nodes[64], k = node_list(nodes, 0);
    size_t len = 1u << 20;
    char *p = nh_malloc_onnode(len, nodes[0]);
    touch(p, len);
    assert_true(all_on(p, len, nodes[0]));
    assert_true(nh_migrate(p, len, nodes[k - 1]) >= (long)(len / PAGE));
    assert_true(all_on(p, len, nodes[k - 1]));
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    int st;
    char *stat_argv[] = {(char *)cli, "stat", "--exact", "--json", pid, NULL};
    char *out = run_command(stat_argv, NULL, NULL, &st);
    const char *m = strstr(out, "\"misplaced_pages\":");
    if (st || !m || strtoull(m + 18, NULL, 10) < len / PAGE) fail_msg("stat --exact: %s", out);
    print_message("stat --exact: %s", out);
    char *dry_argv[] = {(char *)cli, "repair", "--dry-run", pid, NULL};
    out = run_command(dry_argv, NULL, NULL, &st);
    print_message("repair --dry-run: %s", out);
    if (st || !strstr(out, "none moved (dry run)")) fail_msg("repair --dry-run (%d): %s", st, out);
    assert_true(all_on(p, len, nodes[k - 1]));
    char *repair_argv[] = {(char *)cli, "repair", pid, NULL};
    out = run_command(repair_argv, NULL, NULL, &st);
    print_message("repair: %s", out);
    /* a busy page of the allocator's own live metadata may be refused (exit 3, a few pages);
     * the object's pages are all home */
    unsigned long long audited, misplaced, moved, failed;
    /* "PID N (comm): regions from SOURCE: ..." (names, or the region table on kernels that
     * cannot name mappings, such as T2's 6.1) */
    const char *sum = strstr(out, "): regions from ");
    sum = sum ? strchr(sum + 16, ':') : NULL;
    if (!sum || sscanf(sum + 2, "%llu pages audited, %llu misplaced, %llu moved, %llu not moved",
                       &audited, &misplaced, &moved, &failed) != 4)
        fail_msg("repair (%d): %s", st, out);
    if ((st != 0 && st != 3) || (st == 3) != (failed > 0) || failed > 8 || misplaced < len / PAGE ||
        moved + failed != misplaced || !all_on(p, len, nodes[0]))
        fail_msg("repair (%d): %s", st, out);
    for (int i = 0; i < 64; i++)
        assert_int_equal(p[i * 4096 % len], 0x5a);
    free(p);
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

/* The node a bind test fills: the small one where the topology has it, else the last, and
 * MiB enough to overflow it. */
static int fill_target(int *mb) {
    const char *small = getenv("NH_LAB_SMALL_NODE");
    int nodes[64], k = node_list(nodes, 0);
    int node = small && *small ? atoi(small) : nodes[k - 1];
    nh_node_info_t info;
    assert_int_equal(nh_node_info(node, &info), 0);
    *mb = (int)(info.mem_total >> 20) + 100;
    return node;
}

/* NUMAHEAP_POLICY=bind:N is the kernel's bind: a node filled under it gives ENOMEM (the process
 * lives), and move_pages shows no page of any block on another node. */
static void bind_policy_exhaustion_enomem(void **s) {
    int mb, node = fill_target(&mb);
    char env[64], mbs[16];
    snprintf(env, sizeof env, "NUMAHEAP_POLICY=bind:%d", node);
    snprintf(mbs, sizeof mbs, "%d", mb);
    char *argv[] = {(char *)probe_path(), "exhaust-malloc", mbs, NULL};
    char *out = run_probe(argv, env, NULL);
    print_message("%s: %s", env, out);
    if (!strstr(out, "errno=12") || !strstr(out, "elsewhere=0 ") || strstr(out, " got=0 "))
        fail_msg("%s", out);
}

/* The API's bind (nh_malloc_policy) likewise, in a process with the default policy. */
static void bind_api_exhaustion_enomem(void **s) {
    int mb, node = fill_target(&mb);
    char pol[32], mbs[16];
    snprintf(pol, sizeof pol, "bind:%d", node);
    snprintf(mbs, sizeof mbs, "%d", mb);
    char *argv[] = {(char *)probe_path(), "exhaust-policy", pol, mbs, NULL};
    char *out = run_probe(argv, NULL, NULL);
    print_message("%s: %s", pol, out);
    if (!strstr(out, "errno=12") || !strstr(out, "elsewhere=0 ") || strstr(out, " got=0 "))
        fail_msg("%s", out);
}

/* bind over two nodes: the first one filled, allocation goes on in the other (MPOL_BIND's
 * fallback within its set), never outside the set. */
static void bind_two_nodes_spills_within_set(void **s) {
    const char *small = getenv("NH_LAB_SMALL_NODE");
    if (!small || !*small) skip();
    int nodes[64], k = node_list(nodes, 0);
    int other = nodes[k - 1] != atoi(small) ? nodes[k - 1] : nodes[k - 2]; /* the far one */
    char env[64];
    snprintf(env, sizeof env, "NUMAHEAP_POLICY=bind:%s,%d", small, other);
    char *argv[] = {(char *)probe_path(), "exhaust-malloc", "320", NULL};
    char *out = run_probe(argv, env, NULL);
    print_message("%s: %s", env, out);
    char want[32], want_small[32];
    snprintf(want, sizeof want, "node%d=", other);
    snprintf(want_small, sizeof want_small, "node%s=", small);
    if (!strstr(out, "got=320 ") || !strstr(out, "elsewhere=0 ") || !strstr(out, want) ||
        !strstr(out, want_small))
        fail_msg("%s", out);
}

/* ---- read-backs and numaheap run: the kernel's own answer for every mode -------------------- */

/* nh_policy_of (get_mempolicy(MPOL_F_ADDR)) reads back what nh_policy_apply_range set, for every
 * mode and flag this kernel has, and the pages went where the mode says. */
static void policy_of_every_mode(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    int a = nodes[0], b = nodes[k - 1];
    char texts[12][64];
    int n = 0;
    snprintf(texts[n++], 64, "bind:%d", b);
    snprintf(texts[n++], 64, "bind:%d,%d", a, b);
    snprintf(texts[n++], 64, "bind:%d/static", b);
    snprintf(texts[n++], 64, "bind:%d/balancing", b);
    snprintf(texts[n++], 64, "interleave:%d,%d", a, b);
    snprintf(texts[n++], 64, "interleave:0-1/relative");
    snprintf(texts[n++], 64, "preferred:%d", b);
    snprintf(texts[n++], 64, "preferred:%d/static", b);
    snprintf(texts[n++], 64, "preferred-many:%d,%d", a, b);
    snprintf(texts[n++], 64, "weighted:%d,%d", a, b);
    snprintf(texts[n++], 64, "local");
    size_t len = 64 * PAGE;
    int checked = 0;
    for (int i = 0; i < n; i++) {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(p != MAP_FAILED);
        nh_policy_t want, got;
        nh_error_t err;
        if (nh_policy_parse(texts[i], &want, &err)) fail_msg("%s: %s", texts[i], err.msg);
        int rc = nh_policy_apply_range(p, len, &want, &err);
        if (rc == -NH_ERR_UNSUPPORTED) {
            print_message("%s: %s (skipped)\n", texts[i], err.msg);
            munmap(p, len);
            continue;
        }
        if (rc) fail_msg("%s: %s", texts[i], err.msg);
        touch(p, len);
        assert_int_equal(nh_policy_of(p + len / 2, &got), 0);
        char back[64];
        nh_policy_format(&got, back, sizeof back);
        if (!nh_policy_equal(&want, &got)) fail_msg("applied %s, read back %s", texts[i], back);
        if (want.mode == NH_MPOL_BIND && mask_count_of(&want.nodes) == 1)
            assert_true(all_on(p, len, b));
        munmap(p, len);
        checked++;
    }
    print_message("policy_of: %d of %d modes checked\n", checked, n);
    assert_true(checked >= 9);
    nh_policy_t got;
    assert_int_equal(nh_policy_of(NULL, &got), -EFAULT);
}

/* numaheap run sets the program's kernel policy (as numactl does): the program reads it back,
 * and memory numaheap does not manage (its own mmap) lands by it. */
static void cli_run_sets_kernel_policy(void **s) {
    const char *cli = getenv("NH_LAB_CLI");
    if (!cli || access(cli, X_OK)) skip();
    int nodes[64], k = node_list(nodes, 0);
    char pols[4][64], want[320];
    snprintf(pols[0], 64, "bind:%d", nodes[k - 1]);
    snprintf(pols[1], 64, "interleave:%d,%d", nodes[0], nodes[k - 1]);
    snprintf(pols[2], 64, "preferred:%d", nodes[k - 1]);
    snprintf(pols[3], 64, "preferred-many:%d,%d", nodes[0], nodes[k - 1]);
    for (int i = 0; i < 4; i++) {
        char *argv[] = {(char *)cli,          "run",     "--policy", pols[i], "--",
                        (char *)probe_path(), "kpolicy", NULL};
        char *out = run_probe(argv, NULL, NULL);
        nh_policy_t p;
        char canon[128];
        assert_int_equal(nh_policy_parse(pols[i], &p, NULL), 0);
        nh_policy_format(&p, canon, sizeof canon); /* "0,1" reads back as "0-1" */
        snprintf(want, sizeof want, "kpolicy=%s\n", canon);
        if (strcmp(out, want)) fail_msg("run --policy %s: %s", pols[i], out);
    }
    char node[16];
    snprintf(node, sizeof node, "%d", nodes[k - 1]);
    char *argv[] = {(char *)cli, "run", "-m", node, "--", (char *)probe_path(), "mmap", NULL};
    char *out = run_probe(argv, NULL, NULL);
    snprintf(want, sizeof want, "mmap pages=all-on-%d", nodes[k - 1]);
    if (!strstr(out, want)) fail_msg("run -m %s: %s", node, out);
}

/* The OCI runtime spec's own linux.memoryPolicy example (v1.3.0, config-linux.md: interleave
 * over nodes 2-3 with MPOL_F_STATIC_NODES), as a config.json (NH_LAB_OCI, from
 * tests/unit/oci/spec_example.json): where the guest has nodes 2 and 3 with memory (T4) oci
 * validate accepts it and run --oci gives the program exactly that kernel policy; where it has
 * not (T2) both refuse it before anything runs. */
static void cli_oci_spec_example(void **s) {
    const char *cli = getenv("NH_LAB_CLI"), *oci = getenv("NH_LAB_OCI");
    if (!cli || access(cli, X_OK) || !oci || access(oci, R_OK)) skip();
    nh_nodemask_t mem;
    nh_nodes_with_memory(&mem);
    int has = nh_max_node() >= 3 && nh_nodemask_isset(&mem, 2) && nh_nodemask_isset(&mem, 3);
    char *validate[] = {(char *)cli, "oci", "validate", (char *)oci, NULL};
    char *run[] = {(char *)cli,          "run",     "--oci", (char *)oci, "--",
                   (char *)probe_path(), "kpolicy", NULL};
    int st;
    char *out = run_command(validate, NULL, NULL, &st);
    if (!has) {
        if (st != 1) fail_msg("validate without nodes 2-3: status %d, %s", st, out);
        out = run_command(run, NULL, NULL, &st);
        if (st != 2 || *out) fail_msg("run --oci without nodes 2-3: status %d, %s", st, out);
        return;
    }
    char want[512];
    snprintf(want, sizeof want, "%s: valid, memoryPolicy interleave:2-3/static\n", oci);
    if (st || strcmp(out, want)) fail_msg("validate: status %d, %s", st, out);
    out = run_probe(run, NULL, NULL);
    if (strcmp(out, "kpolicy=interleave:2-3/static\n")) fail_msg("run --oci: %s", out);
}

/* Threads under weighted:A=3,B=1 are spread 3:1 (smooth weighted round-robin: 8 threads in a
 * row are 6 and 2 whatever came before, since every 4 picks hold 3 and 1); interleave evenly. */
static void weighted_threads_follow_weights(void **s) {
    int nodes[64], k = node_list(nodes, 0);
    char env[96], want[64];
    snprintf(env, sizeof env, "NUMAHEAP_POLICY=weighted:%d=3,%d=1", nodes[0], nodes[1]);
    char *argv[] = {(char *)probe_path(), "spread", "8", NULL};
    char *out = run_probe(argv, env, NULL);
    print_message("%s: %s", env, out);
    snprintf(want, sizeof want, "spread node%d=6 node%d=2 ", nodes[0], nodes[1]);
    if (!strstr(out, want)) fail_msg("%s", out);
    snprintf(env, sizeof env, "NUMAHEAP_POLICY=interleave:%d,%d", nodes[0], nodes[k - 1]);
    out = run_probe(argv, env, NULL);
    print_message("%s: %s", env, out);
    snprintf(want, sizeof want, "spread node%d=4 node%d=4 ", nodes[0], nodes[k - 1]);
    if (!strstr(out, want)) fail_msg("%s", out);
}

/* weighted:auto resolved in a child (the policy= it prints): its weights per node, their sum. */
static int resolved_weights(const char *out, int *w) {
    const char *t = strstr(out, "policy=");
    assert_non_null(t);
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)strcspn(t + 7, " \n"), t + 7);
    nh_policy_t p;
    nh_error_t err;
    if (nh_policy_parse(text, &p, &err)) fail_msg("%s: %s", text, err.msg);
    int sum = 0;
    for (int n = 0; n < 64; n++) {
        w[n] = nh_nodemask_isset(&p.nodes, n) ? (p.weights[n] ? p.weights[n] : 1) : 0;
        sum += w[n];
    }
    return sum;
}

/* Count of nodeN=COUNT in out, 0 if absent. */
static int count_of(const char *out, int node) {
    char key[32];
    snprintf(key, sizeof key, " node%d=", node);
    const char *c = strstr(out, key);
    return c ? atoi(c + strlen(key)) : 0;
}

static int has_hmat(void) {
    return access("/sys/devices/system/node/node0/access0/initiators/read_bandwidth", R_OK) == 0;
}

/* weighted:auto: weights from the machine (HMAT bandwidth in the HMAT guest: 30 and 10 GB/s,
 * so 3:1; equal where nothing is reported), and the large objects' pages (move_pages) and the
 * threads follow them. */
static void weighted_auto_follows_bandwidth(void **s) {
    char *argv[] = {(char *)probe_path(), "large", NULL};
    char *out = run_probe(argv, "NUMAHEAP_LARGE_POLICY=weighted:auto", NULL);
    print_message("weighted:auto large: %s", out);
    int w[64], sum = resolved_weights(out, w);
    if (has_hmat() && !strstr(out, "policy=weighted:0=3,1=1")) fail_msg("HMAT 3:1: %s", out);
    for (int n = 0; n < 64; n++) {
        int want = 16384 * w[n] / sum, got = count_of(out, n);
        if (got < want - 512 || got > want + 512)
            fail_msg("node %d: %d pages, want %d (%s)", n, got, want, out);
    }
    char *targv[] = {(char *)probe_path(), "spread", "8", NULL};
    out = run_probe(targv, "NUMAHEAP_POLICY=weighted:auto", NULL);
    print_message("weighted:auto threads: %s", out);
    sum = resolved_weights(out, w);
    if (8 % sum) return; /* 8 threads cannot show these weights exactly */
    for (int n = 0; n < 64; n++)
        if (count_of(out, n) != 8 * w[n] / sum)
            fail_msg("node %d: %d threads, want %d (%s)", n, count_of(out, n), 8 * w[n] / sum, out);
}

/* bind:SET/balancing marks the heap's committed memory MPOL_BIND|MPOL_F_NUMA_BALANCING over the
 * set (the kernel's word, nh_policy_of), its pages in the set; and a filled node under it still
 * gives ENOMEM, not the OOM killer (populated under preferred before the marking). */
static void bind_balancing_marks_heap(void **s) {
    nh_caps_t caps;
    nh_kernel_caps(&caps);
    if (!caps.numa_balancing) skip();
    int nodes[64], k = node_list(nodes, 0);
    char env[64], want[128];
    snprintf(env, sizeof env, "NUMAHEAP_POLICY=bind:%d,%d/balancing", nodes[0], nodes[k - 1]);
    char *argv[] = {(char *)probe_path(), "policy-of", NULL};
    char *out = run_probe(argv, env, NULL);
    print_message("%s: %s", env, out);
    nh_policy_t p;
    char canon[64];
    assert_int_equal(nh_policy_parse(env + 16, &p, NULL), 0);
    nh_policy_format(&p, canon, sizeof canon);
    snprintf(want, sizeof want, "policy-of=%s ", canon);
    if (strncmp(out, want, strlen(want))) fail_msg("want %s: %s", want, out);
    const char *small = getenv("NH_LAB_SMALL_NODE");
    if (!small || !*small) return;
    int mb, node = fill_target(&mb);
    char mbs[16];
    snprintf(env, sizeof env, "NUMAHEAP_POLICY=bind:%d/balancing", node);
    snprintf(mbs, sizeof mbs, "%d", mb);
    char *fargv[] = {(char *)probe_path(), "exhaust-malloc", mbs, NULL};
    out = run_probe(fargv, env, NULL);
    print_message("%s: %s", env, out);
    if (!strstr(out, "errno=12") || !strstr(out, "elsewhere=0 ")) fail_msg("%s", out);
}

/* ---- distances ------------------------------------------------------------------------------ */

/* preferred-many and bind over a near node and a far one (by SLIT from the first node with
 * CPUs: T4's 21 and 31, T8's two tiers) put a thread running there on the near one, all its
 * pages too. The near one is the highest-numbered of its tier and the far one the lowest of
 * its, so that the lower node of the set is not the answer by accident (on T8: 5 before 2).
 * Skips where every other node is as far (T2). */
static void nearest_node_of_the_set_is_home(void **s) {
    int nodes[64], k = node_list(nodes, 0), cpu_nodes[64];
    if (node_list(cpu_nodes, 1) < 1) skip();
    int from = cpu_nodes[0], near = -1, far = -1;
    for (int i = 0; i < k; i++) {
        int n = nodes[i], d = nh_node_distance(from, n);
        if (n == from || d < 0) continue;
        if (near < 0 || d <= nh_node_distance(from, near)) near = n;
        if (far < 0 || d > nh_node_distance(from, far)) far = n;
    }
    if (near < 0 || nh_node_distance(from, near) == nh_node_distance(from, far)) skip();
    const char *modes[] = {"preferred-many", "bind"};
    for (int i = 0; i < 2; i++) {
        char env[64], node[16], want[64];
        snprintf(env, sizeof env, "NUMAHEAP_POLICY=%s:%d,%d", modes[i], far, near);
        snprintf(node, sizeof node, "%d", from);
        char *argv[] = {(char *)probe_path(), "home", node, NULL};
        char *out = run_probe(argv, env, NULL);
        print_message("%s from node %d (distances %d, %d): %s", env, from,
                      nh_node_distance(from, far), nh_node_distance(from, near), out);
        snprintf(want, sizeof want, "home node=%d pages=all-on-%d ", near, near);
        if (!strstr(out, want)) fail_msg("%s: %s (want %s)", env, out, want);
    }
}

/* ---- the cpuset changes under a running program --------------------------------------------- */

/* The lab probe under NUMAHEAP_POLICY=bind:L (L the last node with memory) with each flag,
 * moved into a cgroup v2 cpuset of the first one or two nodes and back (lab_probe cpuset): the
 * nodes its new objects land on, by move_pages, in each phase must be what the kernel's rebind
 * gives (numa_memory_policy.rst): plain, the k-th node becomes the (k mod n)-th of the n new
 * ones, and going back maps that node's position again (a plain mask forgets); static, no node
 * left, so local (the probe's CPUs are on the first node) until L is back; relative, folded the
 * same way going in, and L again coming out. Meanwhile the node API refuses L (EINVAL). The
 * kernel's own rebind of a plain MPOL_BIND mapping of the probe's lands where numaheap's plain
 * policy does; its MPOL_PREFERRED regions it leaves on their node (reported, not required).
 * Skips where the guest has no cgroup v2 cpuset. */
static void cpuset_change_follows_the_kernel(void **s) {
    int nodes[64], k = node_list(nodes, 0), cpu_nodes[64];
    if (k < 2 || node_list(cpu_nodes, 1) < 1 || cpu_nodes[0] != nodes[0]) skip();
    int last = nodes[k - 1], inside = k > 2 ? 2 : 1; /* the cpuset: nodes[0 .. inside-1] */
    /* L is the (k-1)-th node; inside, the ((k-1) mod inside)-th of the cpuset's, which is also
     * its position among all nodes when they come back */
    int plain_b = nodes[(k - 1) % inside], plain_c = plain_b;
    const struct {
        const char *flag;
        int b, c;
    } cases[] = {{"", plain_b, plain_c}, {"/static", nodes[0], last}, {"/relative", plain_b, last}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char env[64], want[96];
        snprintf(env, sizeof env, "NUMAHEAP_POLICY=bind:%d%s", last, cases[i].flag);
        char *argv[] = {(char *)probe_path(), "cpuset", NULL};
        char *out = run_probe(argv, env, NULL);
        print_message("%s: %s", env, out);
        if (strstr(out, "cpuset unavailable")) skip();
        snprintf(want, sizeof want, " a=%d b=%d c=%d onnode_removed=%d ", last, cases[i].b,
                 cases[i].c, EINVAL);
        if (!strstr(out, want)) fail_msg("%s: %s (want%s)", env, out, want);
        snprintf(want, sizeof want, " kernel_bind=bind:%d ", plain_b);
        if (!strstr(out, want)) fail_msg("the kernel's own rebind: %s (want%s)", out, want);
    }
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
        cmocka_unit_test(repairer_brings_pages_home),
        cmocka_unit_test(pages_stay_without_repairer),
        cmocka_unit_test(migrate_on_move_brings_pages),
        cmocka_unit_test(large_objects_interleaved),
        cmocka_unit_test(inherited_bind_respected),
        cmocka_unit_test(inherited_interleave_respected),
        cmocka_unit_test(exhaustion_preferred_falls_back),
        cmocka_unit_test(exhaustion_strict_bind_enomem),
        cmocka_unit_test(exhaustion_strict_api_flag_enomem),
        cmocka_unit_test(bind_policy_exhaustion_enomem),
        cmocka_unit_test(bind_api_exhaustion_enomem),
        cmocka_unit_test(bind_two_nodes_spills_within_set),
        cmocka_unit_test(policy_of_every_mode),
        cmocka_unit_test(cli_run_sets_kernel_policy),
        cmocka_unit_test(cli_oci_spec_example),
        cmocka_unit_test(cli_repair_moves_pages_home),
        cmocka_unit_test(weighted_threads_follow_weights),
        cmocka_unit_test(bind_balancing_marks_heap),
        cmocka_unit_test(weighted_auto_follows_bandwidth),
        cmocka_unit_test(nearest_node_of_the_set_is_home),
        cmocka_unit_test(cpuset_change_follows_the_kernel),
        cmocka_unit_test(realloc_keeps_node),
        cmocka_unit_test(weighted_large_objects),
    };
    return cmocka_run_group_tests_name("lab_placement", tests, NULL, NULL);
}
