/* The background repairer (NUMAHEAP_REPAIR=interval): a thread that, once per interval, audits
 * a bounded number of pages of the node regions with move_pages status queries, resuming where
 * it stopped, and moves pages it finds on another node home while that node has room. Also the
 * pages a re-routed thread brings along (NUMAHEAP_MIGRATE_ON_MOVE).
 *
 * The thread is started lazily by the first routing check after init (never from init itself,
 * which may run inside the first malloc), holds no allocator lock and never calls malloc. A
 * forked child has no repairer: the fork handler makes it wanted again, so the child's own
 * first routing check (its next allocation that leaves the engine's inline path) starts one.
 * The interval and the budget may change while it runs (nh_ctl): a change wakes it, and an
 * interval of 0 leaves it waiting for the next one. */
#define _GNU_SOURCE
#include "alloc_internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STACK_SIZE (256u << 10) /* a move_pages batch and a log line, with room to spare */
/* Pages a move must leave free on the home node, as a share of its memory: moving into the
 * last free pages would push the node into reclaim to make room for pages that are fine
 * where they are. */
#define RESERVE_SHARE 16
#define RESERVE_MIN   (16ul << 20)
#define REPAIR_BATCH  512 /* pages audited between looks at the home node's free memory */

int repair_state;
static unsigned interval_ms; /* both read and written with atomic builtins: nh_ctl changes them */
static uint64_t budget;
static unsigned changes; /* bumped by each change at run time; the repairer waits on it (futex) */
static int failed_errno; /* why the repairer stopped (REPAIR_FAILED) */
static bool atfork_registered;

/* The repairer thread's own position (only it reads or writes these). */
static int cursor_node = -1;
static uintptr_t cursor_addr;
static uint64_t pass_misplaced[NH_MAX_SLOTS];

void repair_init(const config_t *c) {
    __atomic_store_n(&interval_ms, c->repair_ms, __ATOMIC_RELAXED);
    __atomic_store_n(&budget, c->repair_pages, __ATOMIC_RELAXED);
    __atomic_store_n(&repair_state, c->repair_ms ? REPAIR_WANTED : REPAIR_OFF, __ATOMIC_RELEASE);
}

/* Pages that may move onto node now without taking its last free memory. */
static uint64_t room_on(int node) {
    uint64_t free_bytes;
    if (topo_node_free(NULL, node, &free_bytes)) return 0;
    const topo_t *t = topo_get();
    uint64_t reserve = node < NH_MAX_NODES ? t->mem_total[node] / RESERVE_SHARE : 0;
    if (reserve < RESERVE_MIN) reserve = RESERVE_MIN;
    return free_bytes > reserve ? (free_bytes - reserve) / NH_PAGE : 0;
}

/* Regions with a home to enforce: bound (not first touch), not under bind/balancing, whose
 * pages the kernel moves within the set on purpose, and of a node the cpuset allows now (the
 * kernel keeps pages off the others, and moved them away itself under cgroup v2). */
static bool audited(const region_t *r) {
    return r && !r->bind_errno && !r->bind_pending &&
           !__atomic_load_n(&r->balancing, __ATOMIC_RELAXED) &&
           nh_nodemask_isset(&heap_allowed, r->node);
}

static void end_pass(region_t *r, int slot) {
    __atomic_store_n(&r->repair_misplaced, pass_misplaced[slot], __ATOMIC_RELAXED);
    pass_misplaced[slot] = 0;
}

int repair_step(uint64_t pages, bool *pass_done) {
    *pass_done = false;
    for (; pages;) {
        if (cursor_node < 0) { /* a pass begins */
            cursor_node = mask_next(&heap_nodes, 0);
            if (cursor_node < 0) return 0;
            cursor_addr = region_of_node(cursor_node)->base;
        }
        region_t *r = region_of_node(cursor_node);
        int slot = heap_slot_of_node(cursor_node);
        uintptr_t used = __atomic_load_n(&r->next, __ATOMIC_ACQUIRE);
        if (!audited(r) || cursor_addr >= used) {
            if (audited(r)) end_pass(r, slot);
            cursor_node = mask_next(&heap_nodes, cursor_node + 1);
            if (cursor_node < 0) { /* the pass is over: no page is audited twice a step */
                *pass_done = true;
                return 0;
            }
            cursor_addr = region_of_node(cursor_node)->base;
            continue;
        }
        /* a batch at a time, so the room is read again as pages arrive and the counters move */
        uint64_t n = pages < REPAIR_BATCH ? pages : REPAIR_BATCH;
        uintptr_t end = used - cursor_addr > n * NH_PAGE ? cursor_addr + n * NH_PAGE : used;
        nh_repair_report_t rep = {0};
        int e = migrate_range(cursor_addr, end, r->node, room_on(r->node), &rep);
        if (e) return e;
        pages -= (end - cursor_addr) / NH_PAGE;
        cursor_addr = end;
        __atomic_fetch_add(&r->repair_audited, rep.pages_checked, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->repair_moved, rep.pages_moved, __ATOMIC_RELAXED);
        pass_misplaced[slot] += rep.pages_misplaced - rep.pages_moved;
        /* a pass that has already found more than the last one left is shown at once (the
         * first pass included) */
        if (pass_misplaced[slot] > __atomic_load_n(&r->repair_misplaced, __ATOMIC_RELAXED))
            __atomic_store_n(&r->repair_misplaced, pass_misplaced[slot], __ATOMIC_RELAXED);
    }
    return 0;
}

/* One whole interval, measured from the last change: a change cuts the wait short and starts
 * the new interval from then; while the interval is 0 the wait has no end but a change. */
static void wait_interval(void) {
    for (;;) {
        unsigned seen = __atomic_load_n(&changes, __ATOMIC_ACQUIRE);
        unsigned ms = __atomic_load_n(&interval_ms, __ATOMIC_RELAXED);
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += ms / 1000;
        end.tv_nsec += (long)(ms % 1000) * 1000000l;
        if (end.tv_nsec >= 1000000000l) end.tv_sec++, end.tv_nsec -= 1000000000l;
        /* FUTEX_WAIT_BITSET: an absolute CLOCK_MONOTONIC deadline, so early wake-ups
         * (spurious, or a change undone at once) cost no time */
        while (__atomic_load_n(&changes, __ATOMIC_ACQUIRE) == seen) {
            long r = syscall(SYS_futex, &changes, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, seen,
                             ms ? &end : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
            if (r && errno == ETIMEDOUT) return;
        }
    }
}

static void *repairer(void *arg) {
    prctl(PR_SET_NAME, (unsigned long)"numaheap-repair", 0, 0, 0);
    for (;;) {
        wait_interval();
        bool pass_done;
        int e = repair_step(__atomic_load_n(&budget, __ATOMIC_RELAXED), &pass_done);
        if (e) { /* move_pages refused (seccomp: EPERM): nothing to do at any later interval */
            log_warn("warning: NUMAHEAP_REPAIR: move_pages failed (errno %d); the repairer "
                     "stops\n",
                     e);
            failed_errno = e;
            __atomic_store_n(&repair_state, REPAIR_FAILED, __ATOMIC_RELEASE);
            return NULL;
        }
    }
    return NULL;
}

/* The child of a fork has only the forking thread: a repairer is wanted again (the cursor
 * starts over, so the child's first pass is whole). */
static void fork_child(void) {
    int s = __atomic_load_n(&repair_state, __ATOMIC_RELAXED);
    if (s == REPAIR_RUNNING || s == REPAIR_STARTING) {
        cursor_node = -1;
        for (int i = 0; i < NH_MAX_SLOTS; i++)
            pass_misplaced[i] = 0;
        /* a repairer turned off at run time is started again only when turned on */
        bool on = __atomic_load_n(&interval_ms, __ATOMIC_RELAXED) != 0;
        __atomic_store_n(&repair_state, on ? REPAIR_WANTED : REPAIR_OFF, __ATOMIC_RELEASE);
        nh_tls.last_cpu = -1; /* (the child's one thread) its next slow path checks routing */
    }
}

void repair_start(void) {
    int expect = REPAIR_WANTED;
    if (__atomic_load_n(&heap_state, __ATOMIC_ACQUIRE) != HEAP_READY ||
        !__atomic_compare_exchange_n(&repair_state, &expect, REPAIR_STARTING, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return;
    /* pthread_create may call malloc (glibc's thread records): those nested calls see
     * STARTING and go on allocating, since this thread holds nothing of the allocator here */
    int e = 0;
    if (!atfork_registered) {
        e = pthread_atfork(NULL, NULL, fork_child);
        atfork_registered = e == 0; /* inherited by children, as the handler itself is */
    }
    pthread_attr_t attr;
    if (!e) e = pthread_attr_init(&attr);
    if (!e) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, STACK_SIZE);
        /* no signal of the program's is ever delivered to the repairer */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t t;
        e = pthread_create(&t, &attr, repairer, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (e)
        log_warn("warning: NUMAHEAP_REPAIR: cannot start the repairer thread (errno %d); "
                 "pages are not repaired\n",
                 e);
    else
        log_verbose("numaheap: repairer started: every %u ms, %llu pages per interval\n",
                    __atomic_load_n(&interval_ms, __ATOMIC_RELAXED),
                    (unsigned long long)__atomic_load_n(&budget, __ATOMIC_RELAXED));
    failed_errno = e;
    __atomic_store_n(&repair_state, e ? REPAIR_FAILED : REPAIR_RUNNING, __ATOMIC_RELEASE);
}

static void wake(void) {
    __atomic_add_fetch(&changes, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &changes, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
}

int repair_set_interval(unsigned ms) {
    int s = __atomic_load_n(&repair_state, __ATOMIC_ACQUIRE);
    if (s == REPAIR_FAILED && ms) return failed_errno;
    __atomic_store_n(&interval_ms, ms, __ATOMIC_RELAXED);
    int off = REPAIR_OFF, wanted = REPAIR_WANTED;
    if (ms && __atomic_compare_exchange_n(&repair_state, &off, REPAIR_WANTED, false,
                                          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        repair_start(); /* the caller holds no allocator state, as the routing check does not */
    /* turned off before it started: no thread is started for nothing */
    if (!ms)
        __atomic_compare_exchange_n(&repair_state, &wanted, REPAIR_OFF, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    wake();
    s = __atomic_load_n(&repair_state, __ATOMIC_ACQUIRE);
    return s == REPAIR_FAILED ? failed_errno : 0;
}

void repair_set_pages(uint64_t pages) {
    __atomic_store_n(&budget, pages, __ATOMIC_RELAXED);
}

uint64_t repair_follow(const uintptr_t *start, const size_t *len, int n, int node) {
    nh_repair_report_t rep = {0};
    for (int i = 0; i < n; i++)
        if (migrate_range(start[i], start[i] + len[i], node, UINT64_MAX, &rep)) break;
    return rep.pages_moved;
}
