/* Internal interface of alloc/, grouped by the file that defines each function.
 *
 * Conventions: internal functions return 0 or a positive errno value; allocation returns NULL
 * and sets errno; public nh_* functions return 0 or -errno. Nothing reachable from init or the
 * malloc paths calls malloc, stdio or getenv. */
#ifndef NH_ALLOC_INTERNAL_H
#define NH_ALLOC_INTERNAL_H

#include "numaheap.h"
#include "policy_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NH_LIKELY(x)           __builtin_expect(!!(x), 1)
#define NH_UNLIKELY(x)         __builtin_expect(!!(x), 0)
#define NH_PAGE                4096ul
#define NH_MAX_ARENAS_PER_NODE 64
/* Nodes numaheap can run arenas on at once (a slot each); more nodes than this share none. */
#define NH_MAX_SLOTS 64

/* ---- config.c: NUMAHEAP_* settings, read from environ without allocating ------------- */
typedef struct config {
    nh_policy_t policy;       /* NUMAHEAP_POLICY: where threads' small objects go */
    bool policy_set;          /* given explicitly (else inherited or local) */
    unsigned arenas_per_node; /* NUMAHEAP_ARENAS_PER_NODE, 0 = four per CPU of the node */
    bool strict;              /* NUMAHEAP_STRICT: bind + populate, ENOMEM instead of OOM */
    size_t large_threshold;   /* NUMAHEAP_LARGE_THRESHOLD */
    nh_policy_t large_policy; /* NUMAHEAP_LARGE_POLICY: interleave or weighted */
    bool stats_at_exit;       /* NUMAHEAP_STATS: 1, or a path */
    char stats_path[256];     /* NUMAHEAP_STATS=PATH ('%p': the PID at exit); "" = stderr */
    bool verbose;             /* NUMAHEAP_VERBOSE */
    unsigned reroute_checks;  /* NUMAHEAP_REROUTE_CHECKS: off-node sightings before re-routing */
    size_t region_size;       /* NUMAHEAP_REGION_SIZE: virtual bytes reserved per node */
    unsigned decay_ms;        /* NUMAHEAP_DECAY_MS: freed spans stay resident this long */
    bool explicit_commit;     /* NUMAHEAP_EXPLICIT_COMMIT (forced by overcommit 2 and strict) */
    unsigned repair_ms;       /* NUMAHEAP_REPAIR: the background repairer's interval, 0 = off */
    unsigned repair_pages;    /* NUMAHEAP_REPAIR_PAGES: pages audited per interval */
    bool migrate_on_move;     /* NUMAHEAP_MIGRATE_ON_MOVE: a re-routed thread's pages follow it */
    unsigned cpuset_check_ms; /* NUMAHEAP_CPUSET_CHECK: mems_allowed looked at, 0 = never */
    bool secure;              /* AT_SECURE: all settings ignored */
    const char *je_conf;      /* NUMAHEAP_JE once checked (jemalloc engine), else NULL */
} config_t;

/* Parses envp (NULL: environ). Bad values: one warning line each, default kept. */
NH_HIDDEN void config_load(config_t *c, char *const *envp, const topo_t *t);
/* The bounds the options table gives the numbers of setting name ("NUMAHEAP_DECAY_MS"), for
 * changes at run time to refuse what the variable would. 0, or ENOENT for no such setting. */
NH_HIDDEN int config_bounds(const char *name, uint64_t *min, uint64_t *max);
/* The log. Lines start "numaheap[PROG:PID]: " (a leading "numaheap: " in fmt is replaced by it);
 * log_warn prints each distinct text once per process, log_verbose only under NUMAHEAP_VERBOSE.
 * Both write to the descriptor of log_fd_get. Neither allocates nor changes errno. */
NH_HIDDEN void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NH_HIDDEN void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* At init (tests: again, after moving fd 2): notes the program's name and takes a close-on-exec
 * duplicate of fd 2 at or above 100, so that output survives a program closing stderr. */
NH_HIDDEN void log_init(void);
/* That duplicate, or 2 when there is none or the program has put something else in its place. */
NH_HIDDEN int log_fd_get(void);
NH_HIDDEN const char *log_prog_name(void);

/* ---- clock.c ----------------------------------------------------------------------------- */
/* CLOCK_MONOTONIC_COARSE in milliseconds, from the vDSO without libc's wrapper. */
NH_HIDDEN uint64_t nh_clock_ms(void);

/* ---- os.c: the only mmap/mprotect/madvise calls, behind a seam for tests ---------------- */
typedef struct os_hooks {
    void *(*reserve)(size_t size, bool writable); /* NULL on failure */
    int (*release)(void *addr, size_t size);
    int (*protect)(void *addr, size_t size, bool writable);
    int (*advise)(void *addr, size_t size, int advice);
    int (*bind)(void *addr, size_t size, int mode, const nh_nodemask_t *nodes);
    /* move_pages with no node list: status[i] is the node of pages[i] or a negative errno */
    int (*where)(unsigned long count, void **pages, int *status);
    /* move_pages(MPOL_MF_MOVE) of pages[i] to nodes[i]: status[i] as the kernel reports it */
    int (*move)(unsigned long count, void **pages, const int *nodes, int *status);
    /* get_mempolicy(MPOL_F_MEMS_ALLOWED): the nodes the cpuset allows the caller now */
    int (*mems)(nh_nodemask_t *out);
} os_hooks_t;
NH_HIDDEN extern os_hooks_t os_hooks;
NH_HIDDEN int os_overcommit_mode(void); /* /proc/sys/vm/overcommit_memory, 0 if unreadable */
NH_HIDDEN int os_populate(void *addr, size_t size); /* MADV_POPULATE_WRITE: 0 or errno */
NH_HIDDEN int os_name(void *addr, size_t size, const char *name); /* [anon:name] in maps */
/* size bytes of data in a shared read-only memfd mapping, "/memfd:NAME (deleted)" in
 * /proc/PID/maps, for tools to read from outside; no descriptor stays open. 0 or errno. */
NH_HIDDEN int os_publish(const char *name, const void *data, size_t size);

/* ---- region.c: one reserved, node-bound address range per node -------------------------- */
typedef struct region {
    uintptr_t base, end;
    _Atomic uintptr_t next; /* bump pointer: spans are never returned, jemalloc retains them */
    int node;
    int bind_errno;    /* why mbind failed (seccomp, cpuset), 0 if bound */
    bool bind_pending; /* the cpuset did not allow the node yet: bound once it does */
    bool explicit_commit;
    /* What a commit checks. A cpuset change (regions_update) rewrites these between two
     * increments of mask_seq, so that a commit reads all of them from before or after it. */
    unsigned mask_seq;
    bool populate; /* strict or bound: commits are populated */
    bool verify;   /* populated commits are checked page by page against verify_nodes */
    nh_nodemask_t verify_nodes;
    _Atomic size_t committed; /* bytes made accessible (explicit commit) or handed out */
    _Atomic uint64_t commit_failures;
    bool spread; /* the large region: spans are bound by the large policy as handed out */
    /* bind:SET/balancing: verified commits are marked MPOL_BIND|MPOL_F_NUMA_BALANCING over
     * balance_nodes, so the kernel's NUMA balancing may move their pages within the set */
    bool balancing;
    nh_nodemask_t balance_nodes;
    /* the background repairer's work on this region (repair.c) */
    _Atomic uint64_t repair_audited, repair_moved;
    _Atomic uint64_t repair_misplaced; /* still misplaced at the end of the last full pass */
} region_t;

NH_HIDDEN int regions_init(const config_t *c, const nh_nodemask_t *nodes);
/* Whether strict commits of node's region (NH_NODE_INTERLEAVED: the large region) are
 * populated and verified, and the nodes their pages must be on: NUMAHEAP_STRICT verifies every
 * node region against its node; a bind policy does the same for the bound nodes' regions and
 * checks the large region against the bound set. bound is the bind set (heap_policy_nodes) or
 * NULL when the policy is not bind. */
NH_HIDDEN bool region_strictness(bool strict, const nh_nodemask_t *bound, int node,
                                 nh_nodemask_t *verify_nodes);
/* After a cpuset change (mems.c): binds the regions of nodes now allowed for the first time,
 * and sets every region's strictness from heap_bind and heap_policy_nodes again. */
NH_HIDDEN void regions_update(const config_t *c);
NH_HIDDEN region_t *region_of_node(int node); /* NULL if the node has none */
NH_HIDDEN region_t *region_large(void);

/* The one reservation all regions share, in power-of-two slices (read-only after init). */
typedef struct region_map {
    uintptr_t base;
    size_t size;
    unsigned shift;
    int slot_node[NH_MAX_SLOTS + 1]; /* the last used slot is the large region */
} region_map_t;
NH_HIDDEN extern region_map_t region_map;

/* Home node of an address inside any region, else -1. O(1): on every free. */
static inline int region_node_of(const void *p) {
    uintptr_t off = (uintptr_t)p - region_map.base;
    return off < region_map.size ? region_map.slot_node[off >> region_map.shift] : -1;
}
/* Aligned span (alignment a power of two >= page); at want if want != NULL (or NULL). */
NH_HIDDEN void *region_span_alloc(region_t *r, void *want, size_t size, size_t align, bool *zero);
NH_HIDDEN int region_commit(region_t *r, void *addr, size_t size);
NH_HIDDEN int region_decommit(region_t *r, void *addr, size_t size);
NH_HIDDEN int region_purge(region_t *r, void *addr, size_t size, bool lazy);

/* ---- large.c: objects from NUMAHEAP_LARGE_THRESHOLD up, spread over nodes -------------- */
NH_HIDDEN extern size_t heap_large_threshold;
/* heap_large_threshold, read with a relaxed load: tune.c changes it while threads allocate. */
static inline size_t large_threshold(void) {
    return __atomic_load_n(&heap_large_threshold, __ATOMIC_RELAXED);
}
/* The large policy from now on: p's nodes as resolved over the allowed ones (mems.c). */
NH_HIDDEN void large_set(const nh_policy_t *p);
/* Binds a fresh span of the large region by the large policy. */
NH_HIDDEN int large_bind(void *addr, size_t size);
/* Cuts [0, size) into runs of unit * weight bytes per node, in node order, repeating. */
NH_HIDDEN void large_stripe_plan(size_t size, const nh_policy_t *p, size_t unit,
                                 void (*emit)(size_t off, size_t len, int node, void *arg),
                                 void *arg);

/* ---- migrate.c ------------------------------------------------------------------------ */
/* Populates [p, p+len) and moves any page not on node there: 0, or ENOMEM if the kernel kept
 * one elsewhere. */
NH_HIDDEN int migrate_make_resident(void *p, size_t len, int node);
/* Audits the pages of [first, end) (page-aligned) with move_pages and moves at most max_move of
 * those resident off node to node (0: audit only), adding to rep. 0 or the kernel's errno. */
NH_HIDDEN int migrate_range(uintptr_t first, uintptr_t end, int node, uint64_t max_move,
                            nh_repair_report_t *rep);

/* ---- repair.c: the background repairer (NUMAHEAP_REPAIR) ------------------------------- */
enum { REPAIR_OFF = 0, REPAIR_WANTED, REPAIR_STARTING, REPAIR_RUNNING, REPAIR_FAILED };
NH_HIDDEN extern int repair_state;
/* At init: wanted when the setting asks for it; nothing is started here. */
NH_HIDDEN void repair_init(const config_t *c);
/* Starts the repairer thread, once per process (again in a forked child). Called from the
 * routing check, where the calling thread holds no allocator state. */
NH_HIDDEN void repair_start(void);
/* One interval's work: audits up to pages pages of the node regions, from where the last
 * call stopped, moving misplaced ones home while their node has room, and stops early at the
 * end of a pass over every region (*pass_done then true). 0 or errno. */
NH_HIDDEN int repair_step(uint64_t pages, bool *pass_done);
/* The interval changed at run time (0: off): a running repairer waits the new interval from
 * now, or waits for another change while it is 0; one not running yet is started at once.
 * 0, or the errno the repairer stopped with (its thread could not start, or the kernel
 * refused move_pages), for any interval but 0. */
NH_HIDDEN int repair_set_interval(unsigned ms);
NH_HIDDEN void repair_set_pages(uint64_t pages); /* pages audited per interval, from the next */
/* NUMAHEAP_MIGRATE_ON_MOVE: the thread's pages that engine_hot_ranges reported on its old
 * node, moved to node. Returns the pages moved. */
NH_HIDDEN uint64_t repair_follow(const uintptr_t *start, const size_t *len, int n, int node);
static inline void repair_poll(void) {
    if (NH_UNLIKELY(__atomic_load_n(&repair_state, __ATOMIC_RELAXED) == REPAIR_WANTED))
        repair_start();
}

/* ---- mems.c: following the cpuset's memory nodes ----------------------------------------- */
/* Bumped (release) after each change of heap_allowed and what follows from it: a thread whose
 * routing saw an older value decides its home again. */
NH_HIDDEN extern unsigned mems_epoch;
/* At init, after heap_nodes and heap_allowed: resolves c's policies over heap_allowed into
 * heap_policy_nodes, heap_bind and the large policy (filling c->large_policy's nodes when it
 * gave none, by the machine's weights), remembering the policies as given for later changes. */
NH_HIDDEN void mems_init(config_t *c);
/* After engine_init: mems' fork handlers, which then run before the engine's prepare (an update
 * may need the engine's locks). 0 or errno. */
NH_HIDDEN int mems_fork_register(void);
/* The cpuset now allows allowed: when that changes heap_allowed, resolves the policies again
 * with the kernel's rebind semantics, binds and re-marks regions (regions_update), rebuilds
 * routing (route_update) and bumps mems_epoch. true if anything changed. */
NH_HIDDEN bool mems_update(const nh_nodemask_t *allowed);
/* Asks the kernel (os_hooks.mems) and updates: 0 or the kernel's errno. Nothing under
 * NUMAHEAP_CPUSET_CHECK=off. bind_spill calls it at once when a bound allocation fails. */
NH_HIDDEN int mems_check(void);
/* mems_check at most once per NUMAHEAP_CPUSET_CHECK, process-wide; from the routing check. */
NH_HIDDEN void mems_poll(void);
/* The small-object policy as it applies now: its mode, the nodes it means over heap_allowed
 * (empty: local) and their weights (0: the kernel's), no flags. Written only by the thread that
 * updates, and read by it (route_update) or at init. */
NH_HIDDEN void mems_applied(nh_policy_t *out);
/* The policies as nh_heap_policy reports them: plain ones with the nodes they were remapped
 * to, static and relative ones as given (get_mempolicy's answers); either may be NULL. */
NH_HIDDEN void mems_reported(nh_policy_t *small, nh_policy_t *large);

/* ---- route.c: the calling thread's home node ------------------------------------------- */
typedef struct thread_state {
    uintptr_t home_base; /* the home region [home_base, home_base + home_size): free's fast test */
    size_t home_size;
    int home;         /* node whose arena the thread is attached to, -1 before routing */
    int bound;        /* nh_thread_bind node, -1 when automatic */
    ptrdiff_t budget; /* bytes to allocate before the next routing check (see route_charge) */
    unsigned strikes; /* consecutive checks that saw another node */
    int last_errno;   /* errno from a failed commit, for strict-mode reporting */
    int last_cpu;     /* CPU of the last check that kept the thread where it is, -1 = none */
    unsigned epoch;   /* mems_epoch when the thread last decided its home */
    unsigned quiet;   /* route_check passes left before a check anyway (the cpuset's look) */
} thread_state_t;

NH_HIDDEN extern __thread thread_state_t nh_tls __attribute__((tls_model("initial-exec")));
NH_HIDDEN void route_init(const config_t *c);
/* After a cpuset change: the policy's nodes and weights (heap_policy_nodes) into the routing
 * tables. Threads take them up at their next check (mems_epoch). */
NH_HIDDEN void route_update(void);
NH_HIDDEN void route_slow(thread_state_t *ts); /* first use and periodic check */
NH_HIDDEN int route_bind(int node);
NH_HIDDEN int route_unbind(void);
NH_HIDDEN int route_current_node(void);
/* The one way a policy's node set becomes a node: the node with a heap in set (NULL: any)
 * nearest to from by SLIT distance, ties to the lower number; -1 if none. */
NH_HIDDEN int route_nearest(int from, const nh_nodemask_t *set);
/* The nodes with a heap in set, nearest to from first (MPOL_BIND's fallback order), at most
 * max of them into out; returns how many. */
NH_HIDDEN int route_by_distance(int from, const nh_nodemask_t *set, int *out, int max);

/* Smooth weighted round-robin over nodes: each pick adds every node's weight to its credit
 * and takes the node with the most (ties: the lower node), which then pays the total. Over
 * any run of total picks each node is taken exactly weight times, evenly spread (3:1 gives
 * 0 0 1 0). Not thread-safe: route.c runs it once at init, for one period of picks. */
typedef struct route_swrr {
    int k, total;
    int16_t node[NH_MAX_SLOTS];
    int weight[NH_MAX_SLOTS], credit[NH_MAX_SLOTS];
} route_swrr_t;
/* weights per node number (NULL or 0: weight 1). */
NH_HIDDEN void route_swrr_init(route_swrr_t *s, const nh_nodemask_t *nodes, const uint8_t *weights);
NH_HIDDEN int route_swrr_next(route_swrr_t *s); /* -1 when there are no nodes */

/* ---- bind.c: bind over several nodes ----------------------------------------------------- */
/* After the engine failed an allocation on node failed (-1: in the large region) with errno
 * ENOMEM: under a bind policy, the same request on the other bound nodes' regions, nearest
 * first, as MPOL_BIND falls back within its set; NULL with errno ENOMEM when every one is
 * full. Otherwise NULL with errno kept. */
NH_HIDDEN void *bind_spill(size_t size, size_t align, bool zero, int failed);
/* The node a failed malloc of size was tried on: the thread's home, or -1 for large sizes. */
static inline int bind_failed_node(size_t size) {
    return size >= large_threshold() ? -1 : nh_tls.home;
}
/* nh_malloc_policy's bind: strict (resident on the node, checked) on set's nodes in distance
 * order from the caller's node; NULL with ENOMEM when none has room. */
NH_HIDDEN void *bind_alloc_strict(size_t size, const nh_nodemask_t *set);
/* The CPU this thread runs on, read from glibc's rseq area (a load); -1 where rseq is off. */
static inline int route_cpu_fast(void) {
    extern const ptrdiff_t __rseq_offset;
    extern const unsigned int __rseq_size;
    if (NH_UNLIKELY(!__rseq_size)) return -1;
    const volatile uint32_t *cpu_id =
        (const volatile uint32_t *)((char *)__builtin_thread_pointer() + __rseq_offset + 4);
    return (int)*cpu_id;
}

/* Checks a thread that stays on its CPU lets pass before one goes to route_slow anyway, so a
 * pinned thread still looks at the cpuset now and then (mems_poll, rate-limited there). */
#define ROUTE_QUIET_CHECKS 64

/* A routing check at the cost of two loads, a compare and a decrement while the thread stays
 * on its CPU and the cpuset's nodes do not change. */
static inline void route_check(void) {
    thread_state_t *ts = &nh_tls;
    int cpu = route_cpu_fast();
    if (NH_LIKELY(cpu >= 0 && cpu == ts->last_cpu &&
                  ts->epoch == __atomic_load_n(&mems_epoch, __ATOMIC_RELAXED) && --ts->quiet))
        return;
    route_slow(ts);
}

/* Bytes a thread allocates between routing checks: small enough that a moved thread follows
 * within microseconds of allocation work, large enough that getcpu is not on the fast path. */
#define ROUTE_CHECK_BYTES (64 * 1024)

/* The one fast-path test of malloc: charge size to the thread's budget; negative means a
 * routing check is due, or the object is large (the budget is always reset below the large
 * threshold, so a large request always overdraws it). */
static inline bool route_charge(size_t size) {
    thread_state_t *ts = &nh_tls;
    return NH_UNLIKELY((ts->budget -= (ptrdiff_t)size) < 0);
}

/* ---- heap.c: global state, initialisation, slots --------------------------------------- */
enum { HEAP_UNINIT = 0, HEAP_INITIALIZING = 1, HEAP_READY = 2, HEAP_FAILED = 3 };
NH_HIDDEN extern int heap_state;
NH_HIDDEN extern config_t heap_config;
NH_HIDDEN extern nh_nodemask_t heap_nodes; /* nodes with a region: every node with memory */
/* The nodes of heap_nodes the cpuset allows now: the only ones routing, the node API and the
 * repairer use. Set at init, then by mems.c when the cpuset changes. */
NH_HIDDEN extern nh_nodemask_t heap_allowed;
/* The small-object policy's nodes as the kernel means them over heap_allowed (at init
 * policy_resolve, after a cpuset change policy_rebind: mems.c); and whether that policy is
 * bind, which makes the bound nodes' regions strict (region.c) and spills exhaustion over the
 * bound set only. Empty for a policy without nodes, and for a static one none of whose nodes
 * is allowed: the heap is then local. A reader racing a cpuset change may see some nodes of
 * the old set and some of the new; the epoch bump after the change (mems_epoch) makes every
 * thread decide again. */
NH_HIDDEN extern nh_nodemask_t heap_policy_nodes;
NH_HIDDEN extern bool heap_bind;
/* Strict mode with a node the kernel would not bind: every allocation takes the slow path,
 * which reports the kernel's errno. */
NH_HIDDEN extern bool heap_check_every_call;
NH_HIDDEN int heap_slot_of_node(int node); /* -1 if none */
NH_HIDDEN bool heap_init(void);            /* false while initialising or when it failed */

static inline bool heap_ready(void) {
    return NH_LIKELY(__atomic_load_n(&heap_state, __ATOMIC_ACQUIRE) == HEAP_READY) || heap_init();
}

/* ---- tune.c: settings changed at run time (nh_ctl, mallopt) ------------------------------ */
/* Each returns 0, or EAGAIN before the heap is ready, EINVAL for a value out of the setting's
 * bounds; a refused change changes nothing. */
/* Objects from bytes up are large (NUMAHEAP_LARGE_THRESHOLD's bounds, but at least
 * ROUTE_CHECK_BYTES). */
NH_HIDDEN int tune_large_threshold(uint64_t bytes);
/* Off: no object is large whatever the threshold (glibc's M_MMAP_MAX 0); on: the threshold
 * applies again. */
NH_HIDDEN int tune_large_objects(bool on);
/* NUMAHEAP_DECAY_MS; also EOPNOTSUPP for an engine without a decay delay of its own. */
NH_HIDDEN int tune_decay_ms(uint64_t ms);
/* NUMAHEAP_REPAIR (0: off); also the errno a repairer that stopped for good stopped with. */
NH_HIDDEN int tune_repair_ms(uint64_t ms);
NH_HIDDEN int tune_repair_pages(uint64_t pages); /* NUMAHEAP_REPAIR_PAGES */
NH_HIDDEN int tune_migrate_on_move(uint64_t on); /* NUMAHEAP_MIGRATE_ON_MOVE: 0 or 1 */

/* ---- stats.c: per-node figures, the exit report, glibc's views of them ------------------ */
/* The fields of nh_stats_t, in order: the printers and nh_ctl's names follow this list. */
#define NH_STAT_FIELDS(X)                                                                          \
    X(allocated)                                                                                   \
    X(active)                                                                                      \
    X(committed)                                                                                   \
    X(resident)                                                                                    \
    X(arenas)                                                                                      \
    X(bind_errno)                                                                                  \
    X(commit_failures)                                                                             \
    X(pages_audited)                                                                               \
    X(pages_moved)                                                                                 \
    X(pages_misplaced)

/* nh_stats without errno: node is a heap node or NH_NODE_INTERLEAVED. 0 or errno. */
NH_HIDDEN int stats_node(int node, nh_stats_t *out);
/* Bytes as glibc's mallinfo counts them: arena = what the node regions hold (resident),
 * allocated = live objects there, large = what the large region holds. */
typedef struct stats_summary {
    uint64_t arena, allocated, large;
} stats_summary_t;
NH_HIDDEN void stats_summary(stats_summary_t *out);
/* The report (first line names the program and PID) onto fd. */
NH_HIDDEN void stats_print(int fd);
/* NUMAHEAP_STATS: the report to the log descriptor or the file NUMAHEAP_STATS names. */
NH_HIDDEN void stats_at_exit(void);

#endif
