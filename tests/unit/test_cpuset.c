/* Following the cpuset: a whole heap on a fake 4-node machine (fake_numa.h: nodes 0-3, CPUs
 * of this host on node 0, node 3 memory-only), whose fake cpuset changes its memory nodes
 * while the program runs. Each scenario is a child process with its own NUMAHEAP_POLICY:
 * plain nodes remapped position for position (and what that loses), static nodes kept and used
 * while allowed (local in between), relative nodes folded onto the new set, interleave and
 * weighted threads spread over the new nodes, nodes added after start, an explicitly bound
 * thread, the node API's errors for a node the cpuset took away, the repairer, and the
 * rate-limited look at the kernel from the allocation path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_numa.h"

/* ---- helpers (in the child) ---------------------------------------------------------------- */
static void change_mems(const char *list) {
    fake_numa.mems = fake_numa_mask(list);
    assert_int_equal(mems_check(), 0);
}

static void assert_mask(const nh_nodemask_t *m, const char *list) {
    nh_nodemask_t want = fake_numa_mask(list);
    if (!mask_equal(m, &want)) {
        char got[64];
        nh_nodemask_format(m, got, sizeof got);
        fail_msg("nodes %s, want %s", got, list);
    }
}

/* Where this thread's next small object goes: routing first (as its next slow path would). */
static int small_home(void) {
    int node = nh_current_node();
    void *p = malloc(64);
    int got = nh_node_of(p);
    free(p);
    assert_int_equal(got, node);
    return node;
}

static const char *reported(void) {
    static char text[256];
    nh_policy_t p;
    assert_int_equal(nh_heap_policy(&p, NULL), 0);
    nh_policy_format(&p, text, sizeof text);
    return text;
}

static bool strict(int node) {
    return region_of_node(node)->populate;
}

/* Nodes that n threads, started one after another, are routed to: counts per node. */
static void *routed(void *arg) {
    *(int *)arg = small_home();
    return NULL;
}

static void spread(int n, int *count) {
    memset(count, 0, 4 * sizeof *count);
    for (int i = 0; i < n; i++) {
        int node = -1;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, routed, &node), 0);
        pthread_join(t, NULL);
        assert_true(node >= 0 && node < 4);
        count[node]++;
    }
}

/* ---- scenarios ---------------------------------------------------------------------------- */

/* bind:3 with no flag: the kernel remaps the mask position for position. Over 0,2 node 3 (the
 * 4th of 0-3) is the 2nd (3 mod 2 = 1): node 2; back over 0-3, node 2 (the 2nd of 0,2) is the
 * 2nd again: node 1. Meanwhile node 3 is gone for the node API too: EINVAL, as mbind says. */
static void plain_bind_is_remapped(void **s) {
    assert_int_equal(small_home(), 3);
    assert_true(heap_bind && strict(3) && !strict(2));
    unsigned epoch = mems_epoch;
    change_mems("0,2");
    assert_int_equal(mems_epoch, epoch + 1);
    assert_mask(&heap_policy_nodes, "2");
    assert_int_equal(small_home(), 2);
    assert_true(heap_bind && strict(2) && !strict(3));
    assert_string_equal(reported(), "bind:2"); /* what get_mempolicy reports after a rebind */
    nh_policy_t large;
    assert_int_equal(nh_heap_policy(NULL, &large), 0);
    assert_mask(&large.nodes, "2"); /* large objects: the bound nodes */
    void *big = malloc(64u << 20);  /* a fresh large span, bound by the new large policy */
    assert_non_null(big);
    assert_mask(&fake_numa.last_interleave, "2");
    free(big);
    /* a bound node the cpuset removed: the node API refuses it */
    errno = 0;
    assert_null(nh_malloc_onnode(100, 3));
    assert_int_equal(errno, EINVAL);
    assert_null(nh_alloc_onnode(100, 0, 3, NH_ALLOC_STRICT));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(nh_thread_bind(3), -EINVAL);
    nh_policy_t bind3;
    assert_int_equal(nh_policy_parse("bind:3", &bind3, NULL), 0); /* valid when it started */
    assert_null(nh_malloc_policy(100, &bind3));
    assert_int_equal(errno, EINVAL);
    void *p = nh_malloc_onnode(4096, 2);
    assert_int_equal(nh_migrate(p, 4096, 3), -EINVAL);
    nh_repair_report_t rep;
    assert_int_equal(nh_repair(3, 1, &rep), -EINVAL);
    free(p);
    char nodes[64];
    size_t len = sizeof nodes;
    assert_int_equal(nh_ctl("config.nodes", nodes, &len, NULL, 0), 0);
    assert_string_equal(nodes, "0,2");
    change_mems("0-3");
    assert_mask(&heap_policy_nodes, "1"); /* not 3: a plain mask forgets where it started */
    assert_int_equal(small_home(), 1);
    assert_string_equal(reported(), "bind:1");
    assert_non_null(p = nh_malloc_onnode(100, 3)); /* allowed again */
    free(p);
    epoch = mems_epoch;
    change_mems("0-3"); /* no change: nothing happens */
    assert_int_equal(mems_epoch, epoch);
}

/* bind:3/static: the nodes as given, those still allowed; none is over 0,2, and the heap is
 * local (the default policy) until node 3 is allowed again. The policy reads back as given. */
static void static_bind_waits_for_its_node(void **s) {
    assert_int_equal(small_home(), 3);
    change_mems("0,2");
    assert_true(mask_empty(&heap_policy_nodes));
    assert_false(heap_bind);
    assert_false(strict(2) || strict(3));
    assert_int_equal(small_home(), 0); /* local: this host's CPUs are node 0's */
    assert_string_equal(reported(), "bind:3/static");
    change_mems("0-3");
    assert_int_equal(small_home(), 3);
    assert_true(heap_bind && strict(3));
}

/* bind:2-3/static started where the cpuset allows 0-2: node 3 is taken up when it is allowed
 * (and its region bound only then: mbind refuses a node outside the cpuset). */
static void static_nodes_allowed_later(void **s) {
    assert_mask(&heap_policy_nodes, "2");
    assert_mask(&heap_nodes, "0-3");
    assert_int_equal(fake_numa.binds[3], 0);
    assert_int_equal(fake_numa.binds[2], 1);
    assert_null(nh_malloc_onnode(100, 3));
    change_mems("0-3");
    assert_int_equal(fake_numa.binds[3], 1); /* MPOL_PREFERRED on node 3, once */
    assert_mask(&heap_policy_nodes, "2-3");
    assert_true(strict(2) && strict(3));
    void *p = nh_malloc_onnode(100, 3);
    assert_int_equal(nh_node_of(p), 3);
    free(p);
    change_mems("0-2");
    change_mems("0-3");
    assert_int_equal(fake_numa.binds[3], 1);
}

/* bind:3/relative: the 4th node of the set, folded: over 0,2 node 2; over 0-3 node 3 again. */
static void relative_bind_is_folded(void **s) {
    assert_int_equal(small_home(), 3);
    change_mems("0,2");
    assert_mask(&heap_policy_nodes, "2");
    assert_int_equal(small_home(), 2);
    assert_string_equal(reported(), "bind:3/relative");
    change_mems("0-3");
    assert_int_equal(small_home(), 3);
}

/* interleave:0-3 remapped onto 1,3: threads started after the change alternate over 1 and 3,
 * and one started before is re-routed into the set. */
static void interleave_spreads_over_new_nodes(void **s) {
    int count[4];
    spread(4, count);
    for (int n = 0; n < 4; n++)
        assert_int_equal(count[n], 1);
    change_mems("1,3");
    assert_mask(&heap_policy_nodes, "1,3");
    int home = small_home();
    assert_true(home == 1 || home == 3);
    spread(4, count);
    assert_int_equal(count[1], 2);
    assert_int_equal(count[3], 2);
}

/* weighted:0=3,1=1 onto 2,3: the weights go with their nodes. */
static void weights_follow_their_nodes(void **s) {
    int count[4];
    change_mems("2-3");
    assert_string_equal(reported(), "weighted:2=3,3=1");
    spread(8, count);
    assert_int_equal(count[2], 6);
    assert_int_equal(count[3], 2);
}

/* A cpuset that grows: started on 0-1, interleave:0-3/relative folds to 0-1, then takes all
 * four nodes once they are allowed; the regions of 2 and 3 are bound then. */
static void relative_grows_with_the_cpuset(void **s) {
    assert_mask(&heap_policy_nodes, "0-1");
    assert_int_equal(fake_numa.binds[2] + fake_numa.binds[3], 0);
    int count[4];
    change_mems("0-3");
    assert_int_equal(fake_numa.binds[2], 1);
    assert_int_equal(fake_numa.binds[3], 1);
    assert_mask(&heap_policy_nodes, "0-3");
    spread(4, count);
    for (int n = 0; n < 4; n++)
        assert_int_equal(count[n], 1);
    change_mems("0-1");
    spread(4, count);
    assert_int_equal(count[0], 2);
    assert_int_equal(count[1], 2);
}

/* nh_thread_bind(3), then the cpuset drops node 3: the thread allocates on the nearest allowed
 * node meanwhile, back on 3 when it returns; binding to it meanwhile is EINVAL. */
static void bound_thread_waits_for_its_node(void **s) {
    assert_int_equal(nh_thread_bind(3), 0);
    assert_int_equal(small_home(), 3);
    change_mems("0-2");
    assert_int_equal(small_home(), 0);
    assert_int_equal(nh_thread_bind(3), -EINVAL);
    change_mems("0-3");
    assert_int_equal(small_home(), 3);
    assert_int_equal(nh_thread_bind(3), 0);
}

/* The repairer leaves a node the cpuset does not allow alone (the kernel would refuse, and
 * under cgroup v2 moved the pages away itself): it audits none of its pages; nh_repair refuses
 * it. Once it is allowed again, its pages are audited and moved home. */
static uint64_t audited(int node) {
    nh_stats_t st;
    assert_int_equal(nh_stats(node, &st), 0);
    return st.pages_audited;
}

static void repair_pass(void) {
    bool done = false;
    for (int i = 0; i < 1000 && !done; i++)
        assert_int_equal(repair_step(1u << 16, &done), 0);
    assert_true(done);
}

static void repairer_waits_for_the_node(void **s) {
    size_t len = 64 * NH_PAGE;
    char *p = nh_malloc_onnode(len, 3);
    memset(p, 1, len);
    fake_numa.away_start = ((uintptr_t)p + NH_PAGE - 1) & ~(NH_PAGE - 1);
    fake_numa.away_len = 32 * NH_PAGE;
    change_mems("0-2");
    uint64_t before = audited(3);
    repair_pass();
    assert_int_equal(audited(3), before);
    nh_repair_report_t rep;
    assert_int_equal(nh_repair(-1, 1, &rep), 0);
    assert_int_equal(fake_numa.moves + fake_numa.moves_refused, 0);
    assert_int_equal(nh_repair(3, 1, &rep), -EINVAL);
    change_mems("0-3");
    repair_pass();
    assert_true(audited(3) >= before + 32);
    assert_int_equal(nh_repair(3, 1, &rep), 0);
    assert_true(rep.pages_moved >= 32);
    assert_true(fake_numa.away_back);
    assert_int_equal(fake_numa.moves_refused, 0);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(p[i], 1);
    free(p);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Allocation work for ms: blocks of several sizes, kept until the end, so the engine leaves
 * its inline path often (that is where routing checks). Returns the node of the last one. */
static int allocate_for(long ms) {
    enum { KEEP = 4096 };
    static void *keep[KEEP];
    int last = -1;
    for (long end = now_ms() + ms; now_ms() < end;) {
        for (int i = 0; i < KEEP; i++)
            last = nh_node_of(keep[i] = malloc(16 + (size_t)(i % 64) * 128));
        for (int i = 0; i < KEEP; i++)
            free(keep[i]);
    }
    return last;
}

/* NUMAHEAP_CPUSET_CHECK=20ms: the allocation path itself notices the change (no one calls
 * mems_check), and asks the kernel at most about once per 20 ms, however much it allocates. */
static void allocation_path_notices_the_change(void **s) {
    assert_int_equal(small_home(), 3);
    unsigned before = fake_numa.mems_calls;
    allocate_for(200);
    unsigned asked = fake_numa.mems_calls - before;
    assert_true(asked >= 1 && asked <= 200 / 20 + 2);
    fake_numa.mems = fake_numa_mask("0,2");
    int node = -1;
    for (int i = 0; i < 50 && node != 2; i++)
        node = allocate_for(20);
    assert_int_equal(node, 2);
}

/* NUMAHEAP_CPUSET_CHECK=off: the kernel is never asked, and the heap keeps its nodes (a
 * preferred policy here: under bind, the fake kernel would now place no page on node 3 and
 * every strict commit would fail, which is what following the cpuset avoids). */
static void check_off_never_asks(void **s) {
    assert_int_equal(small_home(), 3);
    fake_numa.mems = fake_numa_mask("0,2");
    assert_int_equal(allocate_for(200), 3);
    assert_int_equal(fake_numa.mems_calls, 0);
}

/* A bound node the cpuset has just removed fails its strict commits (the fake kernel puts the
 * pages elsewhere): that failure looks at the cpuset at once, long before the next periodic
 * look (an hour here), and the allocation succeeds on what the policy means now. */
static void bind_failure_looks_at_once(void **s) {
    assert_int_equal(small_home(), 3);
    fake_numa.mems = fake_numa_mask("0,2");
    unsigned asked = fake_numa.mems_calls;
    void *p = malloc(1u << 20); /* fresh pages of node 3's region: refused, then spilled */
    assert_non_null(p);
    assert_int_equal(nh_node_of(p), 2);
    assert_int_equal(fake_numa.mems_calls, asked + 1);
    assert_mask(&heap_policy_nodes, "2");
    assert_int_equal(small_home(), 2);
    free(p);
}

/* The same under bind:3/static: nothing bound is left, so the allocation is local. */
static void static_bind_failure_goes_local(void **s) {
    assert_int_equal(small_home(), 3);
    fake_numa.mems = fake_numa_mask("0,2");
    void *p = malloc(1u << 20);
    assert_non_null(p);
    assert_int_equal(nh_node_of(p), 0);
    assert_false(heap_bind);
    free(p);
}

/* NUMAHEAP_STRICT started where the cpuset allows 0-2: node 3's region is not checked while
 * its node is not allowed (the heap starts; the jemalloc engine commits every arena's base at
 * init), and is strict once it is. */
static void strict_start_in_a_smaller_cpuset(void **s) {
    assert_false(strict(3));
    assert_true(strict(0) && strict(2));
    void *p = nh_alloc_onnode(4096, 0, 2, NH_ALLOC_STRICT);
    assert_int_equal(nh_node_of(p), 2);
    free(p);
    change_mems("0-3");
    assert_true(strict(3));
    p = nh_alloc_onnode(4096, 0, 3, NH_ALLOC_STRICT);
    assert_int_equal(nh_node_of(p), 3);
    free(p);
}

/* fork while another thread keeps changing the cpuset: a child forked while an update or a
 * copy of the reported policies was under way must not find their lock taken forever. */
static _Atomic int churning = 1;
static void *churn_mems(void *arg) {
    (void)arg;
    for (unsigned i = 0; __atomic_load_n(&churning, __ATOMIC_RELAXED); i++) {
        fake_numa.mems = fake_numa_mask(i % 2 ? "0,2" : "0-3");
        mems_check();
    }
    return NULL;
}

static void fork_during_cpuset_changes(void **s) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn_mems, NULL), 0);
    for (int i = 0; i < 300; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(10); /* a lock left taken would hang the child: SIGALRM fails it instead */
            nh_policy_t p;
            void *q = malloc(64);
            free(q);
            _exit(nh_heap_policy(&p, NULL) == 0 ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d of 300 ended with status %#x", i, status);
    }
    __atomic_store_n(&churning, 0, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
}

/* ---- the parent: one child per scenario --------------------------------------------------- */
static const struct scenario {
    const char *name, *mems;
    const char *env[3];
    CMUnitTestFunction run;
} scenarios[] = {
    {"plain_bind_is_remapped", "0-3", {"NUMAHEAP_POLICY=bind:3"}, plain_bind_is_remapped},
    {"static_bind_waits_for_its_node",
     "0-3",
     {"NUMAHEAP_POLICY=bind:3/static"},
     static_bind_waits_for_its_node},
    {"static_nodes_allowed_later",
     "0-2",
     {"NUMAHEAP_POLICY=bind:2-3/static"},
     static_nodes_allowed_later},
    {"relative_bind_is_folded",
     "0-3",
     {"NUMAHEAP_POLICY=bind:3/relative"},
     relative_bind_is_folded},
    {"interleave_spreads_over_new_nodes",
     "0-3",
     {"NUMAHEAP_POLICY=interleave:0-3"},
     interleave_spreads_over_new_nodes},
    {"weights_follow_their_nodes",
     "0-3",
     {"NUMAHEAP_POLICY=weighted:0=3,1=1"},
     weights_follow_their_nodes},
    {"relative_grows_with_the_cpuset",
     "0-1",
     {"NUMAHEAP_POLICY=interleave:0-3/relative"},
     relative_grows_with_the_cpuset},
    {"bound_thread_waits_for_its_node", "0-3", {NULL}, bound_thread_waits_for_its_node},
    {"repairer_waits_for_the_node", "0-3", {NULL}, repairer_waits_for_the_node},
    {"allocation_path_notices_the_change",
     "0-3",
     {"NUMAHEAP_POLICY=bind:3", "NUMAHEAP_CPUSET_CHECK=20ms"},
     allocation_path_notices_the_change},
    {"bind_failure_looks_at_once",
     "0-3",
     {"NUMAHEAP_POLICY=bind:3", "NUMAHEAP_CPUSET_CHECK=3600s"},
     bind_failure_looks_at_once},
    {"static_bind_failure_goes_local",
     "0-3",
     {"NUMAHEAP_POLICY=bind:3/static", "NUMAHEAP_CPUSET_CHECK=3600s"},
     static_bind_failure_goes_local},
    {"strict_start_in_a_smaller_cpuset",
     "0-2",
     {"NUMAHEAP_STRICT=1"},
     strict_start_in_a_smaller_cpuset},
    {"check_off_never_asks",
     "0-3",
     {"NUMAHEAP_POLICY=preferred:3", "NUMAHEAP_CPUSET_CHECK=off"},
     check_off_never_asks},
    {"fork_during_cpuset_changes", "0-3", {"NUMAHEAP_POLICY=bind:1-3"}, fork_during_cpuset_changes},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

static void run_child(void **state) {
    const struct scenario *sc = *state;
    assert_int_equal(fake_numa_exec(sc->name, sc->mems, sc->env), 0);
}

int main(void) {
    const char *name = fake_numa_scenario();
    for (size_t i = 0; name && i < NSCENARIOS; i++) {
        if (strcmp(scenarios[i].name, name)) continue;
        if (!fake_numa.active || !heap_ready()) return 3;
        const struct CMUnitTest one[] = {{scenarios[i].name, scenarios[i].run, NULL, NULL, NULL}};
        return cmocka_run_group_tests_name("cpuset (fake 4-node child)", one, NULL, NULL);
    }
    if (name) return 4;
    struct CMUnitTest tests[NSCENARIOS];
    for (size_t i = 0; i < NSCENARIOS; i++)
        tests[i] =
            (struct CMUnitTest){scenarios[i].name, run_child, NULL, NULL, (void *)&scenarios[i]};
    return _cmocka_run_group_tests("cpuset", tests, NSCENARIOS, NULL, NULL);
}
