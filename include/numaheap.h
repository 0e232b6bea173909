/* numaheap: a NUMA-aware memory allocator for Linux.
 *
 * The one public header. Sections: version, topology, policies, errors, node API, migration,
 * statistics, control by name. Every symbol the library exports is declared here or is part
 * of the standard malloc family (with glibc's mallinfo, mallinfo2, malloc_stats, malloc_info,
 * malloc_trim and mallopt, which answer from numaheap's figures and knobs: see nh_ctl below).
 *
 * Error convention: functions returning int give 0 on success or a negative value (-errno for
 * system errors, -NH_ERR_* for policy errors, always with errno set); allocation functions return
 * NULL and set errno.
 */
#ifndef NUMAHEAP_H
#define NUMAHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NH_API __attribute__((visibility("default")))
#else
#define NH_API
#endif

/* ------------------------------------------------------------------------------------------
 * Version
 * ---------------------------------------------------------------------------------------- */
#define NH_VERSION_MAJOR 0
#define NH_VERSION_MINOR 1
#define NH_VERSION_PATCH 0
#define NH_VERSION       (NH_VERSION_MAJOR * 10000 + NH_VERSION_MINOR * 100 + NH_VERSION_PATCH)

/* NH_VERSION of the library actually loaded (may differ from the header's). */
NH_API int nh_version(void);

/* ------------------------------------------------------------------------------------------
 * Node masks
 * ---------------------------------------------------------------------------------------- */
/* The kernel's largest MAX_NUMNODES (CONFIG_NODES_SHIFT=10). */
#define NH_MAX_NODES 1024
#define NH_MAX_CPUS  8192

typedef struct nh_nodemask {
    uint64_t bits[NH_MAX_NODES / 64];
} nh_nodemask_t;

static inline void nh_nodemask_set(nh_nodemask_t *m, int node) {
    m->bits[node / 64] |= (uint64_t)1 << (node % 64);
}
static inline void nh_nodemask_clear(nh_nodemask_t *m, int node) {
    m->bits[node / 64] &= ~((uint64_t)1 << (node % 64));
}
static inline int nh_nodemask_isset(const nh_nodemask_t *m, int node) {
    return node >= 0 && node < NH_MAX_NODES && ((m->bits[node / 64] >> (node % 64)) & 1);
}

/* ------------------------------------------------------------------------------------------
 * Errors of the policy layer (returned negated, errno set to EINVAL or EOPNOTSUPP)
 * ---------------------------------------------------------------------------------------- */
typedef enum nh_errcode {
    NH_OK = 0,
    NH_ERR_SYNTAX = 1,       /* malformed text; pos names the offending character */
    NH_ERR_NODE_RANGE,       /* node beyond the kernel's maximum */
    NH_ERR_NODE_MISSING,     /* node is not online */
    NH_ERR_NODE_NOT_ALLOWED, /* node not in the process's mems_allowed */
    NH_ERR_NODE_NO_MEMORY,   /* node has no memory */
    NH_ERR_MODE,             /* unknown mode name */
    NH_ERR_FLAG,             /* unknown flag name */
    NH_ERR_FLAGS_EXCLUSIVE,  /* STATIC_NODES together with RELATIVE_NODES */
    NH_ERR_BALANCING_MODE,   /* NUMA_BALANCING with a mode other than BIND */
    NH_ERR_NODES_REQUIRED,   /* mode needs at least one node */
    NH_ERR_NODES_FORBIDDEN,  /* DEFAULT/LOCAL given nodes */
    NH_ERR_FLAGS_FORBIDDEN,  /* DEFAULT/LOCAL given flags, or PREFERRED(local) with STATIC/RELATIVE
                              */
    NH_ERR_WEIGHT,           /* weight outside 1..255, or weights on a non-weighted mode */
    NH_ERR_UNSUPPORTED,      /* this kernel lacks the mode or flag */
    NH_ERR_WEIGHTS_DIFFER,   /* per-policy weights the kernel cannot express (system-wide only) */
    NH_ERR_TOO_LONG,         /* input longer than accepted */
    NH_ERR_COUNT_
} nh_errcode_t;

typedef struct nh_error {
    int code;      /* nh_errcode_t */
    int pos;       /* byte offset of the offending token in the parsed text, -1 if none */
    char msg[160]; /* one line, names the offending token */
} nh_error_t;

/* A static description of an error code ("node not allowed", ...). */
NH_API const char *nh_strerror(int code);

/* ------------------------------------------------------------------------------------------
 * Topology (a snapshot taken at first use, without calling malloc)
 * ---------------------------------------------------------------------------------------- */
typedef struct nh_node_meminfo {
    uint64_t mem_total; /* bytes */
    uint64_t mem_free;  /* bytes, at snapshot time */
    int ncpus;
} nh_node_info_t;

/* Highest possible node id (the kernel's limit for this boot). */
NH_API int nh_max_node(void);
/* Node sets, as the kernel reports them. */
NH_API int nh_nodes_online(nh_nodemask_t *out);
NH_API int nh_nodes_with_memory(nh_nodemask_t *out);
NH_API int nh_nodes_with_cpus(nh_nodemask_t *out);
/* Nodes this process may allocate from now (cpuset mems_allowed; the nodes allowed at start
 * where the kernel will not say). */
NH_API int nh_nodes_allowed(nh_nodemask_t *out);
/* Node of a CPU, or -1. */
NH_API int nh_node_of_cpu(int cpu);
/* SLIT distance between two nodes (10 = local), or -1 if unknown. */
NH_API int nh_node_distance(int a, int b);
/* Size and free memory of a node (free re-read now); -EINVAL for a bad node. */
NH_API int nh_node_info(int node, nh_node_info_t *out);

/* ------------------------------------------------------------------------------------------
 * Policies (Linux semantics; numbers equal the kernel's)
 * ---------------------------------------------------------------------------------------- */
typedef enum nh_mode {
    NH_MPOL_DEFAULT = 0,
    NH_MPOL_PREFERRED = 1,
    NH_MPOL_BIND = 2,
    NH_MPOL_INTERLEAVE = 3,
    NH_MPOL_LOCAL = 4,
    NH_MPOL_PREFERRED_MANY = 5,
    NH_MPOL_WEIGHTED_INTERLEAVE = 6,
    NH_MPOL_MODE_COUNT_
} nh_mode_t;

#define NH_MPOL_F_STATIC_NODES   (1u << 15)
#define NH_MPOL_F_RELATIVE_NODES (1u << 14)
#define NH_MPOL_F_NUMA_BALANCING (1u << 13)
#define NH_MPOL_F_ALL            (NH_MPOL_F_STATIC_NODES | NH_MPOL_F_RELATIVE_NODES | NH_MPOL_F_NUMA_BALANCING)

typedef struct nh_policy {
    int mode;       /* nh_mode_t */
    unsigned flags; /* NH_MPOL_F_* */
    nh_nodemask_t nodes;
    /* WEIGHTED_INTERLEAVE only: weight per node, 1..255; all zero means the kernel's
     * system-wide weights (/sys/kernel/mm/mempolicy/weighted_interleave). */
    uint8_t weights[NH_MAX_NODES];
} nh_policy_t;

/* Parse a node list in libnuma's grammar: "0", "0-3,5", "all", "!1" (all allowed but 1),
 * "+0-1" (relative to the allowed nodes). Syntax only plus the kernel's maximum node:
 * use nh_policy_validate for existence. */
NH_API int nh_nodemask_parse(const char *text, nh_nodemask_t *out, nh_error_t *err);
/* "0-3,5". Returns the length the full text needs (like snprintf); "" for an empty mask. */
NH_API int nh_nodemask_format(const nh_nodemask_t *m, char *buf, size_t len);

/* Compact form: "local", "default", "preferred:1", "bind:0,1", "interleave:all",
 * "preferred-many:0-1", "weighted:0=3,1=1", "weighted:0-1", "weighted:auto" (every usable node,
 * weighted by the kernel's auto weights where it has them, else by HMAT bandwidth, else
 * equally; the result holds the weights, or none for the kernel's), with flags appended as
 * "/static", "/relative", "/balancing": "bind:0-1/static/balancing". */
NH_API int nh_policy_parse(const char *text, nh_policy_t *out, nh_error_t *err);
/* OCI runtime spec memoryPolicy: mode "MPOL_BIND", nodes "0-1", flags {"MPOL_F_STATIC_NODES"}. */
NH_API int nh_policy_from_oci(const char *mode, const char *nodes, const char *const *flags,
                              size_t nflags, nh_policy_t *out, nh_error_t *err);
/* Compact form of p, accepted back by nh_policy_parse (parse(format(p)) == p). */
NH_API int nh_policy_format(const nh_policy_t *p, char *buf, size_t len);
/* OCI rules plus: nodes exist, have memory and are allowed (unless RELATIVE_NODES). */
NH_API int nh_policy_validate(const nh_policy_t *p, nh_error_t *err);
NH_API int nh_policy_equal(const nh_policy_t *a, const nh_policy_t *b);

/* Apply to the calling thread (set_mempolicy) or to a page-aligned range (mbind). A mode or
 * flag this kernel lacks gives -NH_ERR_UNSUPPORTED; a kernel refusal gives -errno. */
NH_API int nh_policy_apply_thread(const nh_policy_t *p, nh_error_t *err);
NH_API int nh_policy_apply_range(void *addr, size_t len, const nh_policy_t *p, nh_error_t *err);
/* Read back the calling thread's policy (get_mempolicy). */
NH_API int nh_policy_get_thread(nh_policy_t *out);
/* The policy that governs the page holding addr, as the kernel answers it
 * (get_mempolicy(MPOL_F_ADDR)): the range's mbind policy, MPOL_DEFAULT where the mapping has
 * none (the thread's policy then applies), with the flags and, for STATIC/RELATIVE, the nodes
 * as they were given. Weights read back as zero (the kernel keeps them system-wide). For
 * numaheap's own memory this is the node region's MPOL_PREFERRED (MPOL_BIND with
 * MPOL_F_NUMA_BALANCING over the bound set for committed memory under bind:SET/balancing) or
 * the large region's interleave: numaheap enforces bind itself (see the README). Returns 0, -EINVAL
 * for a NULL out, or the kernel's errno: -EFAULT for an address no mapping holds (NULL included).
 */
NH_API int nh_policy_of(const void *addr, nh_policy_t *out);

/* Kernel capabilities, found by trying each on this kernel. */
typedef struct nh_caps {
    int numa_syscalls;       /* mbind/set_mempolicy usable (0 under seccomp EPERM or ENOSYS) */
    int preferred_many;      /* MPOL_PREFERRED_MANY (5.15) */
    int weighted_interleave; /* MPOL_WEIGHTED_INTERLEAVE (6.9) */
    int local;               /* MPOL_LOCAL (3.8) */
    int numa_balancing;      /* MPOL_F_NUMA_BALANCING (5.12) */
    int populate_write;      /* MADV_POPULATE_WRITE (5.14) */
    int syscall_errno;       /* errno of the failed probe when numa_syscalls is 0 */
} nh_caps_t;
NH_API int nh_kernel_caps(nh_caps_t *out);

/* ------------------------------------------------------------------------------------------
 * Node API (the malloc family itself is the standard one: malloc, free, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size)
 * ---------------------------------------------------------------------------------------- */
/* Memory on a given node (NULL with EINVAL for a node without an arena: offline, no memory,
 * not allowed). Freed with free() or nh_free(); realloc() keeps it on its node. */
NH_API void *nh_malloc_onnode(size_t size, int node);
NH_API void *nh_calloc_onnode(size_t n, size_t size, int node);
NH_API void *nh_aligned_alloc_onnode(size_t alignment, size_t size, int node);
/* All of the above in one call. flags: NH_ALLOC_ZERO zeroes; NH_ALLOC_STRICT makes the memory
 * resident on node before returning (populated, checked with move_pages, moved if it landed
 * elsewhere) or fails with ENOMEM, as NUMAHEAP_STRICT=1 does for every allocation. alignment 0
 * means malloc's. */
#define NH_ALLOC_ZERO   1u
#define NH_ALLOC_STRICT 2u
NH_API void *nh_alloc_onnode(size_t size, size_t alignment, int node, unsigned flags);
/* Placement by policy: LOCAL/DEFAULT as malloc; PREFERRED/BIND the nearest listed node to the
 * caller; PREFERRED_MANY likewise; INTERLEAVE/WEIGHTED_INTERLEAVE rotate over the nodes per
 * call (by weight). */
NH_API void *nh_malloc_policy(size_t size, const struct nh_policy *policy);
NH_API void nh_free(void *p);
/* Home node of the arena p came from; -1 if p is not numaheap's; NH_NODE_INTERLEAVED for a
 * large object spread over nodes (NUMAHEAP_LARGE_THRESHOLD and up). */
#define NH_NODE_INTERLEAVED (-2)
NH_API int nh_node_of(const void *p);
/* Where the pages of [p, p+len) are now, asked of the kernel (move_pages): nodes[i] is the
 * node of the i-th page, or a negative errno (-ENOENT: not yet touched). Returns the number of
 * pages reported (at most max) or -errno. */
NH_API long nh_pages_where(const void *p, size_t len, int *nodes, size_t max);
/* Pin the calling thread's allocations to a node's arena / return to automatic routing. */
NH_API int nh_thread_bind(int node);
NH_API int nh_thread_unbind(void);
/* The node whose arena serves the calling thread now. */
NH_API int nh_current_node(void);
/* The policy numaheap places small objects by (NUMAHEAP_POLICY, else the inherited one, else
 * local), and the one it spreads large objects by. */
NH_API int nh_heap_policy(nh_policy_t *small, nh_policy_t *large);

/* ------------------------------------------------------------------------------------------
 * Migration and repair
 * ---------------------------------------------------------------------------------------- */
/* Moves the pages of [p, p+len), which must be numaheap memory, to node (move_pages). Returns
 * the number of pages now on node, or -errno: -EINVAL for memory that is not numaheap's, an
 * invalid node or a length that overflows; the kernel's errno otherwise (-EPERM when seccomp
 * forbids move_pages). The object stays in its arena: nh_node_of() does not change. */
NH_API long nh_migrate(void *p, size_t len, int node);

typedef struct nh_repair_report {
    uint64_t pages_checked;   /* resident pages of the region(s) examined */
    uint64_t pages_misplaced; /* found on another node than their region's */
    uint64_t pages_moved;     /* moved home */
    uint64_t pages_failed;    /* could not be moved (home node full, page busy) */
} nh_repair_report_t;
/* Audit (and with move != 0, repair): finds the pages of a node's region (node = -1: every
 * node's) that the kernel reports on another node, as fallback under memory pressure or
 * migration leaves them, and moves them home. Returns 0 or -errno. */
NH_API int nh_repair(int node, int move, nh_repair_report_t *out);

/* ------------------------------------------------------------------------------------------
 * Statistics
 * ---------------------------------------------------------------------------------------- */
typedef struct nh_node_stats {
    uint64_t allocated;  /* bytes in live objects */
    uint64_t active;     /* bytes in pages holding live objects */
    uint64_t committed;  /* bytes of the node's region handed to the arenas */
    uint64_t resident;   /* bytes resident, as jemalloc counts them */
    uint64_t arenas;     /* arenas (jemalloc engine) or thread heaps (numaheap engine, at least 1)
                            serving the node */
    uint64_t bind_errno; /* non-zero: the kernel refused to bind the region (first touch) */
    uint64_t commit_failures;
    /* The background repairer (NUMAHEAP_REPAIR; 0 without it and for the large region): */
    uint64_t pages_audited;   /* resident pages it has examined, every pass counted */
    uint64_t pages_moved;     /* pages it found on another node and moved home */
    uint64_t pages_misplaced; /* pages still elsewhere at the end of its last full pass */
} nh_stats_t;
/* node may be NH_NODE_INTERLEAVED for the large objects. */
NH_API int nh_stats(int node, nh_stats_t *out);

/* ------------------------------------------------------------------------------------------
 * Control by name (in the manner of jemalloc's mallctl)
 * ---------------------------------------------------------------------------------------- */
/* Reads the value called name into oldp (when oldlenp is not NULL) and then writes newp (when
 * newp is not NULL). Values are strings or 8-byte numbers:
 *   - a string is copied with its NUL into oldp, *oldlenp being the buffer's size; on return
 *     *oldlenp is the length copied, NUL included. Too small a buffer gives -EINVAL with
 *     *oldlenp set to the size needed; oldp NULL with oldlenp given asks for that size (0).
 *   - a number is a uint64_t (int64_t where noted): *oldlenp and newlen must be 8.
 * Names (r: readable, w: writable):
 *   version                    r  string, "MAJOR.MINOR.PATCH" of the loaded library
 *   engine                     r  string, the allocation engine built in: "numaheap", "jemalloc"
 *   config.policy              r  string, the small-object policy (nh_policy_format's form)
 *   config.large_policy        r  string, the large-object policy
 *   config.nodes               r  string, the nodes with a heap: "0-3"
 *   config.large_threshold     rw bytes from which objects are large (NUMAHEAP_LARGE_THRESHOLD),
 *                                 UINT64_MAX when none is (mallopt(M_MMAP_MAX, 0)); writes
 *                                 64 KiB..1 TiB, and turn the large path back on
 *   config.decay_ms            rw ms freed memory stays resident (NUMAHEAP_DECAY_MS), 0..3600000;
 *                                 numaheap's engine only (writes: -EOPNOTSUPP elsewhere)
 *   config.repair_ms           rw the background repairer's interval in ms, 0 = off
 *                                 (NUMAHEAP_REPAIR): 0 or 10..3600000; a value starts it
 *   config.repair_pages        rw pages it audits per interval (NUMAHEAP_REPAIR_PAGES),
 *                                 1..16777216
 *   config.migrate_on_move     rw 1 if re-routed threads bring their pages
 *                                 (NUMAHEAP_MIGRATE_ON_MOVE), 0 or 1
 *   stats.node.N.FIELD         r  FIELD of nh_stats(N): allocated, active, committed,
 *                                 resident, arenas, bind_errno, commit_failures,
 *                                 pages_audited, pages_moved, pages_misplaced
 *   stats.large.FIELD          r  the same for the large (interleaved) region
 *   thread.node                rw int64_t: the calling thread's node (nh_current_node); writing
 *                                 N binds the thread to N (nh_thread_bind), -1 unbinds it
 *   trim                       an action, run by every call: gives free memory back to the
 *                                 kernel (malloc_trim); takes no new value; reading gives 1 if
 *                                 memory was given back, else 0
 * Returns 0, or -errno with errno set: -ENOENT for an unknown name (or a node without a heap),
 * -EINVAL for a NULL name, oldp without oldlenp, a wrong length or a value out of the setting's
 * bounds, -EPERM for writing a read-only name, -EOPNOTSUPP for a setting the engine lacks,
 * -EAGAIN while the heap is not initialised. A failed call changes no setting. */
NH_API int nh_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen);

#ifdef __cplusplus
}
#endif
#endif /* NUMAHEAP_H */
