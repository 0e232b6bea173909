/* Internal interface of policy/, grouped by the file that defines each function.
 *
 * Conventions: internal functions return 0 or a positive errno value, or (for policy
 * functions) a positive nh_errcode_t with nh_error_t filled. Nothing here calls malloc: the
 * allocator uses this code during its own initialisation.
 */
#ifndef NH_POLICY_INTERNAL_H
#define NH_POLICY_INTERNAL_H

#include "numaheap.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NH_HIDDEN __attribute__((visibility("hidden")))

/* ---- fmt.c: snprintf-like formatting without malloc or stdio -------------------------- */
/* Supports field widths (%8d, %-8s) and %s %c %d %u %ld %lu %lld %llu %zu %zd %x %lx %p %%. Always
 * NUL-terminates. */
NH_HIDDEN int fmt_buf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
NH_HIDDEN int fmt_vbuf(char *buf, size_t len, const char *fmt, va_list ap);
/* Writes to a file descriptor through a stack buffer; one write(2) per call. */
NH_HIDDEN void fmt_fd(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal parse of [s, s+n): returns false on non-digit or overflow beyond max. */
NH_HIDDEN bool fmt_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);

/* ---- nodemask.c ------------------------------------------------------------------------ */
NH_HIDDEN void mask_zero(nh_nodemask_t *m);
NH_HIDDEN bool mask_empty(const nh_nodemask_t *m);
NH_HIDDEN int mask_count(const nh_nodemask_t *m);
NH_HIDDEN bool mask_equal(const nh_nodemask_t *a, const nh_nodemask_t *b);
NH_HIDDEN void mask_and(nh_nodemask_t *out, const nh_nodemask_t *a, const nh_nodemask_t *b);
/* Next set bit at or after from, or -1. */
NH_HIDDEN int mask_next(const nh_nodemask_t *m, int from);
/* Plain kernel list format ("0-3,5") into a bitmap of nbits; used for sysfs cpu and node
 * lists too. Trailing newline accepted. Returns 0 or NH_ERR_SYNTAX / NH_ERR_NODE_RANGE with
 * *bad_pos set. */
NH_HIDDEN int list_parse(const char *s, size_t n, uint64_t *bits, int nbits, int max_value,
                         int *bad_pos);
NH_HIDDEN int list_format(const uint64_t *bits, int nbits, char *buf, size_t len);

struct topo;
/* libnuma grammar over text[off, end), relative to t's usable nodes; positions in err are
 * offsets into text. */
NH_HIDDEN int nodemask_parse(const char *text, size_t off, size_t end, const struct topo *t,
                             nh_nodemask_t *out, nh_error_t *err);
/* "N=W,N-M=W" (weights 1..255) over text[off, end). */
NH_HIDDEN int weights_parse(const char *text, size_t off, size_t end, const struct topo *t,
                            nh_nodemask_t *nodes, uint8_t *weights, nh_error_t *err);

/* ---- topology.c ------------------------------------------------------------------------ */
#define NH_TOPO_DIST_NODES 64 /* SLIT kept for nodes below this; beyond it distance is unknown */

typedef struct topo {
    int max_node; /* highest possible node */
    int max_cpu;  /* highest cpu seen in any node's cpulist, -1 if none */
    nh_nodemask_t possible, online, memory, cpus, allowed;
    /* each CPU's node + 1, 0 for none: a table left zero costs no memory until a CPU is set */
    int16_t cpu_node1[NH_MAX_CPUS];
    uint16_t node_ncpus[NH_MAX_NODES];
    uint64_t mem_total[NH_MAX_NODES];
    uint64_t mem_free[NH_MAX_NODES];
    uint8_t distance[NH_TOPO_DIST_NODES][NH_TOPO_DIST_NODES];
    /* The policy the process inherited (numactl, container), read at init. */
    int inherited_mode;
    unsigned inherited_flags;
    nh_nodemask_t inherited_nodes;
    int kernel_errno; /* errno of get_mempolicy when it failed (seccomp), else 0 */
} topo_t;

/* The node of cpu in t, -1 if it is in no node's list or out of range. */
static inline int topo_cpu_node(const topo_t *t, int cpu) {
    return cpu >= 0 && cpu < NH_MAX_CPUS ? t->cpu_node1[cpu] - 1 : -1;
}

/* Read a sysfs node directory (normally /sys/devices/system/node) into t. With query_kernel,
 * also ask the kernel for mems_allowed and the inherited policy; otherwise allowed = online
 * nodes with memory and the inherited policy is DEFAULT (for fake trees in tests). */
NH_HIDDEN int topo_read(topo_t *t, const char *root, bool query_kernel);
/* The process-wide snapshot, read on first call (thread-safe, no malloc). */
NH_HIDDEN const topo_t *topo_get(void);
/* Whole small file into buf (NUL-terminated) with open/read; returns length or -errno. */
NH_HIDDEN ssize_t sysfs_read(const char *path, char *buf, size_t cap);
/* Re-read MemFree of one node. */
NH_HIDDEN int topo_node_free(const char *root, int node, uint64_t *bytes);
/* Nodes with memory that the process may use. */
NH_HIDDEN void topo_usable(const topo_t *t, nh_nodemask_t *out);

/* ---- policy.c -------------------------------------------------------------------------- */
NH_HIDDEN const char *policy_mode_name(int mode);   /* "bind" */
NH_HIDDEN const char *policy_mode_kernel(int mode); /* "MPOL_BIND" */
NH_HIDDEN int policy_parse(const char *text, const topo_t *t, nh_policy_t *out, nh_error_t *err);
NH_HIDDEN int policy_from_oci(const char *mode, const char *nodes, const char *const *flags,
                              size_t nflags, const topo_t *t, nh_policy_t *out, nh_error_t *err);
NH_HIDDEN int policy_validate(const nh_policy_t *p, const topo_t *t, nh_error_t *err);
NH_HIDDEN int policy_format(const nh_policy_t *p, char *buf, size_t len);
NH_HIDDEN void policy_init(nh_policy_t *p, int mode);
/* Sets err (when non-NULL) and returns code. */
NH_HIDDEN int policy_error(nh_error_t *err, int code, int pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- rebind.c: a policy's nodes over the allowed ones, at set time and after a change ---- */
/* The nodes p means on a process allowed the nodes usable, as the kernel computes them when a
 * policy is set: MPOL_F_RELATIVE_NODES folds p's nodes modulo the number of usable nodes and
 * maps the n-th onto the n-th usable node; otherwise (static or not) p's nodes that are usable.
 * Empty when none is. */
NH_HIDDEN void policy_effective_nodes(const nh_policy_t *p, const nh_nodemask_t *usable,
                                      nh_nodemask_t *out);
/* The same, and (weights non-NULL) p's weights carried onto the nodes they now mean: relative
 * nodes folded together add their weights (at most 255); 0 where p has none. */
NH_HIDDEN void policy_resolve(const nh_policy_t *p, const nh_nodemask_t *usable, nh_nodemask_t *out,
                              uint8_t *weights);
/* The kernel's nodes_remap: each of nodes that is the k-th node of from becomes the
 * (k mod |to|)-th node of to; a node outside from (or every node, when to is empty) stays
 * itself. weights (per node of nodes) follow onto out_weights when both are non-NULL, adding up
 * where nodes land together. */
NH_HIDDEN void policy_remap_nodes(const nh_nodemask_t *nodes, const nh_nodemask_t *from,
                                  const nh_nodemask_t *to, nh_nodemask_t *out,
                                  const uint8_t *weights, uint8_t *out_weights);
/* What p means once the allowed nodes change from `from` to `to`, given what it meant over
 * `from` (cur, cur_weights: policy_resolve's or an earlier rebind's), as the kernel rebinds a
 * policy (mpol_rebind_nodemask): MPOL_F_STATIC_NODES, p's nodes that are in `to`, empty when
 * none is (the default policy applies: set_mempolicy(2)); MPOL_F_RELATIVE_NODES, p's nodes
 * folded onto `to` afresh; neither, cur remapped from `from` onto `to` (so a plain policy can
 * lose what it meant: 1,3 over 0-3 becomes 1 over 0-1 and stays 1 when 0-3 come back),
 * and the whole of `to` if that leaves nothing. Empty for policies without nodes. */
NH_HIDDEN void policy_rebind(const nh_policy_t *p, const nh_nodemask_t *cur,
                             const uint8_t *cur_weights, const nh_nodemask_t *from,
                             const nh_nodemask_t *to, nh_nodemask_t *out, uint8_t *out_weights);

/* ---- weights.c: weighted:auto ----------------------------------------------------------- */
enum { NH_WEIGHTS_KERNEL = 1, NH_WEIGHTS_HMAT, NH_WEIGHTS_EQUAL };
#define NH_SYSFS_WEIGHTED "/sys/kernel/mm/mempolicy/weighted_interleave"
#define NH_SYSFS_NODES    "/sys/devices/system/node"
/* Weights for nodes (entries of weights outside nodes untouched) and where they came from:
 * NH_WEIGHTS_KERNEL when mempolicy_dir has the kernel's auto switch (weights left 0, meaning
 * the kernel's system-wide weights, which it derives itself), NH_WEIGHTS_HMAT from every
 * node's bandwidth under node_root (min of read and write, scaled to 1..32 of the total,
 * divided by their gcd), NH_WEIGHTS_EQUAL (1 each) when any node lacks a bandwidth. */
NH_HIDDEN int weights_auto(const char *mempolicy_dir, const char *node_root,
                           const nh_nodemask_t *nodes, uint8_t *weights);

/* ---- kernel.c: the only memory-policy system calls in policy/ -------------------------- */
/* Each returns 0 or a positive errno. nodes may be NULL for an empty mask. */
NH_HIDDEN int kernel_mbind(void *addr, size_t len, int mode_flags, const nh_nodemask_t *nodes,
                           unsigned mbind_flags);
NH_HIDDEN int kernel_set_mempolicy(int mode_flags, const nh_nodemask_t *nodes);
NH_HIDDEN int kernel_get_mempolicy(int *mode_flags, nh_nodemask_t *nodes, void *addr,
                                   unsigned flags);
/* move_pages(2) on process pid (0: the caller). Another process's pages need ptrace read
 * access to it (PTRACE_MODE_READ_REALCREDS), else EPERM. */
NH_HIDDEN int kernel_move_pages_pid(int pid, unsigned long count, void **pages, const int *nodes,
                                    int *status, int flags);
/* The caller's own pages: what alloc/ uses. */
static inline int kernel_move_pages(unsigned long count, void **pages, const int *nodes,
                                    int *status, int flags) {
    return kernel_move_pages_pid(0, count, pages, nodes, status, flags);
}
/* Probed once, cached. */
NH_HIDDEN const nh_caps_t *kernel_caps(void);
/* Test seam: replace the cached capabilities (NULL: probe again now). */
NH_HIDDEN void kernel_caps_override(const nh_caps_t *c);
/* System-wide weighted-interleave weight of a node (sysfs), 0 if unknown. */
NH_HIDDEN int kernel_wi_weight(int node);
/* mode|flags value the kernel understands for p; NH_ERR_UNSUPPORTED if it cannot. */
NH_HIDDEN int kernel_policy_args(const nh_policy_t *p, int *mode_flags, nh_error_t *err);

#endif
