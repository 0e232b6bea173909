/* The kernel's memory-policy system calls, as raw syscalls (libnuma's wrappers would do, but
 * libnuma's constructor calls malloc), the capability probe, and applying policies.
 *
 * maxnode quirk: mbind and set_mempolicy read maxnode - 1 bits, so a mask of NH_MAX_NODES bits
 * is passed as NH_MAX_NODES + 1, or the last node would be dropped silently. */
#include "policy_internal.h"

#include <errno.h>
#include <numaif.h>
#include <sched.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAXNODE_ARG ((unsigned long)NH_MAX_NODES + 1)

static int sys_rc(long r) {
    return r < 0 ? errno : 0;
}

int kernel_mbind(void *addr, size_t len, int mode_flags, const nh_nodemask_t *nodes,
                 unsigned mbind_flags) {
    return sys_rc(syscall(SYS_mbind, addr, len, mode_flags, nodes ? nodes->bits : NULL,
                          nodes ? MAXNODE_ARG : 0ul, mbind_flags));
}

int kernel_set_mempolicy(int mode_flags, const nh_nodemask_t *nodes) {
    return sys_rc(syscall(SYS_set_mempolicy, mode_flags, nodes ? nodes->bits : NULL,
                          nodes ? MAXNODE_ARG : 0ul));
}

int kernel_get_mempolicy(int *mode_flags, nh_nodemask_t *nodes, void *addr, unsigned flags) {
    if (nodes) memset(nodes, 0, sizeof *nodes);
    return sys_rc(syscall(SYS_get_mempolicy, mode_flags, nodes ? nodes->bits : NULL,
                          nodes ? MAXNODE_ARG : 0ul, addr, (unsigned long)flags));
}

int kernel_move_pages_pid(int pid, unsigned long count, void **pages, const int *nodes, int *status,
                          int flags) {
    return sys_rc(syscall(SYS_move_pages, pid, count, pages, nodes, status, flags));
}

int kernel_wi_weight(int node) {
    char path[128], buf[32];
    fmt_buf(path, sizeof path, "/sys/kernel/mm/mempolicy/weighted_interleave/node%d", node);
    if (sysfs_read(path, buf, sizeof buf) <= 0) return 0;
    int v = 0;
    for (const char *p = buf; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v;
}

static void probe(nh_caps_t *c) {
    memset(c, 0, sizeof *c);
    nh_nodemask_t usable, one;
    topo_usable(topo_get(), &usable);
    mask_zero(&one);
    nh_nodemask_set(&one, mask_next(&usable, 0) < 0 ? 0 : mask_next(&usable, 0));
    long pg = (long)getauxval(AT_PAGESZ); /* sysconf's text page is one more libc maps */
    if (pg <= 0) pg = 4096;
    void *page = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return;
    int e = kernel_mbind(page, (size_t)pg, MPOL_DEFAULT, NULL, 0);
    c->numa_syscalls = e == 0;
    c->syscall_errno = e;
    if (c->numa_syscalls) {
        c->local = kernel_mbind(page, (size_t)pg, MPOL_LOCAL, NULL, 0) == 0;
        c->preferred_many = kernel_mbind(page, (size_t)pg, NH_MPOL_PREFERRED_MANY, &one, 0) == 0;
        c->weighted_interleave =
            kernel_mbind(page, (size_t)pg, NH_MPOL_WEIGHTED_INTERLEAVE, &one, 0) == 0;
        /* Old kernels' mbind ignored unknown mode flags, so probe with set_mempolicy on this
         * thread and put its policy back exactly as it was. */
        int saved_mode;
        nh_nodemask_t saved_nodes;
        if (kernel_get_mempolicy(&saved_mode, &saved_nodes, NULL, 0) == 0) {
            if (kernel_set_mempolicy(MPOL_BIND | (int)NH_MPOL_F_NUMA_BALANCING, &one) == 0) {
                c->numa_balancing = 1;
                bool no_nodes = (saved_mode & ~(int)NH_MPOL_F_ALL) == MPOL_DEFAULT ||
                                (saved_mode & ~(int)NH_MPOL_F_ALL) == MPOL_LOCAL;
                kernel_set_mempolicy(saved_mode, no_nodes ? NULL : &saved_nodes);
            }
        }
    }
    c->populate_write = madvise(page, (size_t)pg, MADV_POPULATE_WRITE) == 0;
    munmap(page, (size_t)pg);
}

static nh_caps_t caps;
static int caps_state; /* 0 unprobed, 1 probing, 2 ready */

void kernel_caps_override(const nh_caps_t *c) {
    if (c)
        caps = *c;
    else
        probe(&caps);
    __atomic_store_n(&caps_state, 2, __ATOMIC_RELEASE);
}

const nh_caps_t *kernel_caps(void) {
    int *state = &caps_state;
    if (__atomic_load_n(state, __ATOMIC_ACQUIRE) == 2) return &caps;
    int expect = 0;
    if (__atomic_compare_exchange_n(state, &expect, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        probe(&caps);
        __atomic_store_n(state, 2, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(state, __ATOMIC_ACQUIRE) != 2)
            sched_yield();
    }
    return &caps;
}

int kernel_policy_args(const nh_policy_t *p, int *mode_flags, nh_error_t *err) {
    const nh_caps_t *c = kernel_caps();
    const char *mk = policy_mode_kernel(p->mode);
    if (!c->numa_syscalls)
        return policy_error(err, NH_ERR_UNSUPPORTED, -1,
                            "memory policy system calls unavailable (errno %d)", c->syscall_errno);
    if ((p->mode == NH_MPOL_LOCAL && !c->local) ||
        (p->mode == NH_MPOL_PREFERRED_MANY && !c->preferred_many) ||
        (p->mode == NH_MPOL_WEIGHTED_INTERLEAVE && !c->weighted_interleave))
        return policy_error(err, NH_ERR_UNSUPPORTED, -1, "%s is not supported by this kernel", mk);
    if ((p->flags & NH_MPOL_F_NUMA_BALANCING) && !c->numa_balancing)
        return policy_error(err, NH_ERR_UNSUPPORTED, -1,
                            "MPOL_F_NUMA_BALANCING is not supported by this kernel");
    if (p->mode == NH_MPOL_WEIGHTED_INTERLEAVE) {
        for (int v = mask_next(&p->nodes, 0); v >= 0; v = mask_next(&p->nodes, v + 1))
            if (p->weights[v] && p->weights[v] != kernel_wi_weight(v))
                return policy_error(err, NH_ERR_WEIGHTS_DIFFER, -1,
                                    "weight %u for node %d differs from the system-wide weight %d",
                                    p->weights[v], v, kernel_wi_weight(v));
    }
    *mode_flags = p->mode | (int)p->flags;
    return 0;
}

/* ---- public API ----------------------------------------------------------------------- */

static int apply(void *addr, size_t len, bool range, const nh_policy_t *p, nh_error_t *err) {
    int mode_flags = 0;
    int rc = p ? policy_validate(p, topo_get(), err)
               : policy_error(err, NH_ERR_SYNTAX, -1, "NULL policy");
    if (!rc) rc = kernel_policy_args(p, &mode_flags, err);
    if (rc) {
        errno = rc == NH_ERR_UNSUPPORTED || rc == NH_ERR_WEIGHTS_DIFFER ? EOPNOTSUPP : EINVAL;
        return -rc;
    }
    const nh_nodemask_t *nodes = mask_empty(&p->nodes) ? NULL : &p->nodes;
    int e = range ? kernel_mbind(addr, len, mode_flags, nodes, 0)
                  : kernel_set_mempolicy(mode_flags, nodes);
    if (e) {
        policy_error(err, 0, -1, "%s(%s) failed: errno %d", range ? "mbind" : "set_mempolicy",
                     policy_mode_kernel(p->mode), e);
        errno = e;
        return -e;
    }
    return 0;
}

int nh_policy_apply_thread(const nh_policy_t *p, nh_error_t *err) {
    return apply(NULL, 0, false, p, err);
}

int nh_policy_apply_range(void *addr, size_t len, const nh_policy_t *p, nh_error_t *err) {
    return apply(addr, len, true, p, err);
}

/* get_mempolicy into out: the thread's policy, or (MPOL_F_ADDR) the one governing addr. */
static int read_policy(void *addr, unsigned flags, nh_policy_t *out) {
    if (!out) return errno = EINVAL, -EINVAL;
    int mode = 0;
    policy_init(out, NH_MPOL_DEFAULT);
    int e = kernel_get_mempolicy(&mode, &out->nodes, addr, flags);
    if (e) return errno = e, -e;
    out->mode = mode & ~(int)NH_MPOL_F_ALL;
    out->flags = (unsigned)mode & NH_MPOL_F_ALL;
    return 0;
}

int nh_policy_get_thread(nh_policy_t *out) {
    return read_policy(NULL, 0, out);
}

int nh_policy_of(const void *addr, nh_policy_t *out) {
    return read_policy((void *)addr, MPOL_F_ADDR, out);
}

int nh_kernel_caps(nh_caps_t *out) {
    if (!out) return errno = EINVAL, -EINVAL;
    *out = *kernel_caps();
    return 0;
}
