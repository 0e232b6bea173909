/* Routing's spread of threads over an interleave or weighted policy's nodes: smooth weighted
 * round-robin, deterministic, in proportion to the weights over every window of one period,
 * with no node starved or bunched. Pure functions: no multi-node machine needed. Also the
 * clock the periodic checks read (clock.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "alloc_internal.h"
#include "fake_topo.h"
#include "seccomp_deny.h"

static nh_nodemask_t nodes_of(const int *list, int n) {
    nh_nodemask_t m;
    mask_zero(&m);
    for (int i = 0; i < n; i++)
        nh_nodemask_set(&m, list[i]);
    return m;
}

static void weights_3_to_1_sequence(void **s) {
    static uint8_t w[NH_MAX_NODES];
    w[0] = 3, w[1] = 1;
    nh_nodemask_t m = nodes_of((int[]){0, 1}, 2);
    route_swrr_t r;
    route_swrr_init(&r, &m, w);
    int want[8] = {0, 0, 1, 0, 0, 0, 1, 0}; /* smooth: node 1 is not left to the end */
    for (int i = 0; i < 8; i++)
        assert_int_equal(route_swrr_next(&r), want[i]);
}

static void unweighted_is_round_robin(void **s) {
    nh_nodemask_t m = nodes_of((int[]){1, 2, 5}, 3);
    route_swrr_t r;
    route_swrr_init(&r, &m, NULL);
    static const int want[3] = {1, 2, 5};
    for (int i = 0; i < 9; i++)
        assert_int_equal(route_swrr_next(&r), want[i % 3]);
}

/* Every window of one period (the sum of the weights) holds each node exactly weight times,
 * and any prefix is within one of its share. */
static void proportion_in_every_window(void **s) {
    static uint8_t w[NH_MAX_NODES];
    int list[4] = {0, 2, 3, 7};
    w[0] = 5, w[2] = 1, w[3] = 2, w[7] = 8;
    nh_nodemask_t m = nodes_of(list, 4);
    route_swrr_t r;
    route_swrr_init(&r, &m, w);
    int total = 16, picks[16 * 10], count[8] = {0};
    for (int i = 0; i < 16 * 10; i++) {
        picks[i] = route_swrr_next(&r);
        count[picks[i]]++;
        for (int j = 0; j < 4; j++) {
            double share = (double)(i + 1) * w[list[j]] / total;
            assert_true(count[list[j]] > share - 1.0 && count[list[j]] < share + 1.0);
        }
    }
    for (int start = 0; start + total <= 16 * 10; start += total) {
        int c[8] = {0};
        for (int i = start; i < start + total; i++)
            c[picks[i]]++;
        for (int j = 0; j < 4; j++)
            assert_int_equal(c[list[j]], w[list[j]]);
    }
}

static uint64_t libc_coarse_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* nh_clock_ms calls the vDSO's function it found itself: a wrong symbol or address would give
 * another clock, or none */
static void clock_is_the_kernels_coarse_clock(void **s) {
    (void)s;
    for (int i = 0; i < 1000; i++) {
        uint64_t before = libc_coarse_ms(), ours = nh_clock_ms(), after = libc_coarse_ms();
        assert_true(before <= ours);
        assert_true(ours <= after);
    }
}

/* ... and makes no system call for it: the point of calling the vDSO itself (clock.c). With
 * clock_gettime denied, a fallback to the system call would read 0. */
static void clock_reads_without_a_system_call(void **s) {
    (void)s;
    if (!getauxval(AT_SYSINFO_EHDR)) skip(); /* a kernel booted without a vDSO */
    pid_t pid = fork();
    if (pid == 0) {
        if (seccomp_deny_syscall(SYS_clock_gettime, EPERM)) _exit(10);
        uint64_t before = libc_coarse_ms(), ours = nh_clock_ms();
        if (!ours || ours < before) _exit(11);
        _exit(0);
    }
    assert_child_ok(pid);
}

static void no_nodes_gives_minus_one(void **s) {
    nh_nodemask_t m;
    mask_zero(&m);
    route_swrr_t r;
    route_swrr_init(&r, &m, NULL);
    assert_int_equal(route_swrr_next(&r), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weights_3_to_1_sequence),
        cmocka_unit_test(unweighted_is_round_robin),
        cmocka_unit_test(proportion_in_every_window),
        cmocka_unit_test(no_nodes_gives_minus_one),
        cmocka_unit_test(clock_is_the_kernels_coarse_clock),
        cmocka_unit_test(clock_reads_without_a_system_call),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
