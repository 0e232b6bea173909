/* The kernel layer on this host: capabilities match the kernel version, every mode the host
 * supports applied and read back with get_mempolicy, ranges, unsupported modes and flags, and
 * the fallback when seccomp forbids the calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <numaif.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_topo.h"
#include "policy_internal.h"
#include "seccomp_deny.h"

static int kernel_at_least(int major, int minor) {
    struct utsname u;
    uname(&u);
    int a = 0, b = 0;
    sscanf(u.release, "%d.%d", &a, &b);
    return a > major || (a == major && b >= minor);
}

static void caps_match_kernel_version(void **s) {
    nh_caps_t c;
    assert_int_equal(nh_kernel_caps(&c), 0);
    assert_true(c.numa_syscalls);
    assert_true(c.local);
    assert_int_equal(c.preferred_many, kernel_at_least(5, 15));
    assert_int_equal(c.weighted_interleave, kernel_at_least(6, 9));
    assert_int_equal(c.numa_balancing, kernel_at_least(5, 12));
    assert_int_equal(c.populate_write, kernel_at_least(5, 14));
    assert_int_equal(nh_kernel_caps(NULL), -EINVAL);
}

static void caps_probe_leaves_thread_policy(void **s) {
    nh_policy_t before, after;
    assert_int_equal(nh_policy_get_thread(&before), 0);
    kernel_caps_override(NULL); /* probe again, here */
    assert_int_equal(nh_policy_get_thread(&after), 0);
    assert_true(nh_policy_equal(&before, &after));
}

struct apply_case {
    const char *text;
    const char *expect; /* what get_mempolicy reports */
    int rc;
};

static void *apply_in_thread(void *arg) {
    struct apply_case *c = arg;
    nh_policy_t p, back, want;
    nh_error_t err;
    if (nh_policy_parse(c->text, &p, &err)) fail_msg("%s: %s", c->text, err.msg);
    c->rc = nh_policy_apply_thread(&p, &err);
    if (c->rc) return NULL;
    assert_int_equal(nh_policy_get_thread(&back), 0);
    assert_int_equal(nh_policy_parse(c->expect, &want, &err), 0);
    char got[256];
    nh_policy_format(&back, got, sizeof got);
    if (!nh_policy_equal(&back, &want))
        fail_msg("%s: read back %s, want %s", c->text, got, c->expect);
    return NULL;
}

static void apply_read_back_every_mode(void **s) {
    nh_caps_t caps;
    nh_kernel_caps(&caps);
    struct apply_case cases[] = {
        {"default", "default", 0},
        {"local", "local", 0},
        {"preferred:0", "preferred:0", 0},
        {"preferred", "local", 0}, /* the kernel turns local-preferred into MPOL_LOCAL */
        {"bind:0", "bind:0", 0},
        {"interleave:0", "interleave:0", 0},
        {"bind:0/static", "bind:0/static", 0},
        {"bind:0/relative", "bind:0/relative", 0},
        {"interleave:all/static", "interleave:0/static", 0},
        {"preferred:0/static", "preferred:0/static", 0},
        {caps.preferred_many ? "preferred-many:0" : NULL, "preferred-many:0", 0},
        {caps.weighted_interleave ? "weighted:0" : NULL, "weighted:0", 0},
        {caps.numa_balancing ? "bind:0/balancing" : NULL, "bind:0/balancing", 0},
    };
    int applied = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (!cases[i].text) continue;
        pthread_t th; /* a fresh thread each: policies are per thread */
        assert_int_equal(pthread_create(&th, NULL, apply_in_thread, &cases[i]), 0);
        pthread_join(th, NULL);
        if (cases[i].rc) fail_msg("%s: apply failed %d", cases[i].text, cases[i].rc);
        applied++;
    }
    assert_true(applied >= 10);
}

static void apply_range_and_read_back(void **s) {
    size_t len = 4 * 4096;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    nh_policy_t pol;
    assert_int_equal(nh_policy_parse("interleave:0", &pol, NULL), 0);
    assert_int_equal(nh_policy_apply_range(p, len, &pol, NULL), 0);
    int mode = -1;
    nh_nodemask_t nodes;
    assert_int_equal(kernel_get_mempolicy(&mode, &nodes, p + 4096, MPOL_F_ADDR), 0);
    assert_int_equal(mode, MPOL_INTERLEAVE);
    assert_true(nh_nodemask_isset(&nodes, 0));
    memset(p, 1, len);
    void *pages[4] = {p, p + 4096, p + 8192, p + 12288};
    int status[4] = {-1, -1, -1, -1};
    assert_int_equal(kernel_move_pages(4, pages, NULL, status, 0), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(status[i], 0); /* the kernel says node 0 */
    /* unaligned address: the kernel's EINVAL comes back as -EINVAL */
    assert_int_equal(nh_policy_apply_range(p + 1, 4096, &pol, NULL), -EINVAL);
    assert_int_equal(errno, EINVAL);
    munmap(p, len);
}

/* nh_policy_of is get_mempolicy(MPOL_F_ADDR): what was mbind'ed, for every mode this kernel
 * has, with its flags; default where nothing was; the kernel's errors for bad addresses. */
static void policy_of_reads_what_was_applied(void **s) {
    static const char *const modes[] = {"bind:0",
                                        "bind:0/static",
                                        "bind:0/balancing",
                                        "interleave:0",
                                        "interleave:0/relative",
                                        "preferred:0",
                                        "preferred-many:0",
                                        "weighted:0",
                                        "local"};
    size_t len = 4 * 4096;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    nh_policy_t got;
    assert_int_equal(nh_policy_of(p, &got), 0);
    assert_int_equal(got.mode, NH_MPOL_DEFAULT); /* no mbind yet */
    int checked = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        nh_policy_t want;
        assert_int_equal(nh_policy_parse(modes[i], &want, NULL), 0);
        if (nh_policy_apply_range(p, len, &want, NULL) == -NH_ERR_UNSUPPORTED) continue;
        assert_int_equal(nh_policy_of(p + 4096 + 7, &got), 0);
        char text[128];
        nh_policy_format(&got, text, sizeof text);
        if (!nh_policy_equal(&got, &want)) fail_msg("applied %s, read back %s", modes[i], text);
        checked++;
    }
    assert_true(checked >= 6);
    assert_int_equal(nh_policy_of(p, NULL), -EINVAL);
    assert_int_equal(errno, EINVAL);
    munmap(p, len);
    assert_int_equal(nh_policy_of(p, &got), -EFAULT); /* unmapped now */
    assert_int_equal(errno, EFAULT);
    assert_int_equal(nh_policy_of(NULL, &got), -EFAULT);
}

static void unsupported_mode_is_distinct_error(void **s) {
    nh_caps_t real = *kernel_caps(), old = real;
    old.weighted_interleave = old.preferred_many = old.numa_balancing = 0; /* a 5.10 kernel */
    kernel_caps_override(&old);
    nh_policy_t p;
    nh_error_t err;
    const char *cases[] = {"weighted:0", "preferred-many:0", "bind:0/balancing"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nh_policy_parse(cases[i], &p, NULL), 0);
        assert_int_equal(nh_policy_apply_thread(&p, &err), -NH_ERR_UNSUPPORTED);
        assert_int_equal(errno, EOPNOTSUPP);
        assert_int_equal(err.code, NH_ERR_UNSUPPORTED);
    }
    kernel_caps_override(&real);
}

static void custom_weights_are_not_silently_dropped(void **s) {
    if (!kernel_caps()->weighted_interleave) skip();
    int sys = kernel_wi_weight(0);
    char text[64];
    snprintf(text, sizeof text, "weighted:0=%d", sys == 7 ? 8 : 7);
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(nh_policy_parse(text, &p, NULL), 0);
    assert_int_equal(nh_policy_apply_thread(&p, &err), -NH_ERR_WEIGHTS_DIFFER);
    assert_non_null(strstr(err.msg, "node 0"));
    if (sys > 0) { /* the system's own weights are applied */
        snprintf(text, sizeof text, "weighted:0=%d", sys);
        assert_int_equal(nh_policy_parse(text, &p, NULL), 0);
        pthread_t th;
        struct apply_case c = {text, "weighted:0", 0};
        pthread_create(&th, NULL, apply_in_thread, &c);
        pthread_join(th, NULL);
        assert_int_equal(c.rc, 0);
    }
}

static void invalid_policy_not_applied(void **s) {
    nh_policy_t p;
    memset(&p, 0, sizeof p);
    p.mode = NH_MPOL_BIND; /* no nodes */
    nh_error_t err;
    assert_int_equal(nh_policy_apply_thread(&p, &err), -NH_ERR_NODES_REQUIRED);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(nh_policy_apply_thread(NULL, &err), -NH_ERR_SYNTAX);
    assert_int_equal(nh_policy_get_thread(NULL), -EINVAL);
}

static void seccomp_denied_falls_back(void **s) {
    pid_t pid = fork();
    if (pid == 0) {
        if (seccomp_deny_mempolicy(EPERM)) _exit(10);
        kernel_caps_override(NULL);
        const nh_caps_t *c = kernel_caps();
        if (c->numa_syscalls || c->syscall_errno != EPERM) _exit(11);
        static topo_t t;
        topo_read(&t, NULL, true);
        if (t.kernel_errno != EPERM || !nh_nodemask_isset(&t.allowed, 0)) _exit(12);
        nh_policy_t p;
        nh_error_t err;
        if (policy_parse("bind:0", &t, &p, &err)) _exit(13);
        if (nh_policy_apply_thread(&p, &err) != -NH_ERR_UNSUPPORTED) _exit(14);
        if (!strstr(err.msg, "unavailable")) _exit(15);
        _exit(0);
    }
    assert_child_ok(pid);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caps_match_kernel_version),
        cmocka_unit_test(caps_probe_leaves_thread_policy),
        cmocka_unit_test(apply_read_back_every_mode),
        cmocka_unit_test(apply_range_and_read_back),
        cmocka_unit_test(policy_of_reads_what_was_applied),
        cmocka_unit_test(unsupported_mode_is_distinct_error),
        cmocka_unit_test(custom_weights_are_not_silently_dropped),
        cmocka_unit_test(invalid_policy_not_applied),
        cmocka_unit_test(seccomp_denied_falls_back),
    };
    return cmocka_run_group_tests_name("kernel", tests, NULL, NULL);
}
