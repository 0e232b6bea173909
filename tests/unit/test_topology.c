/* Topology: a fake 4-node sysfs tree read exactly, and the host's topology equal to what
 * libnuma reports (the reference). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <numa.h>
#include <errno.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_topo.h"

static void fake_nodes_and_masks(void **s) {
    static topo_t t;
    char dir[256];
    fake_topo_make(&t, dir, sizeof dir);
    char buf[64];
    assert_int_equal(t.max_node, 7);
    nh_nodemask_format(&t.online, buf, sizeof buf);
    assert_string_equal(buf, "0-3");
    nh_nodemask_format(&t.cpus, buf, sizeof buf);
    assert_string_equal(buf, "0-2");
    nh_nodemask_format(&t.memory, buf, sizeof buf);
    assert_string_equal(buf, "0-3");
    nh_nodemask_format(&t.allowed, buf, sizeof buf);
    assert_string_equal(buf, "0-3");
    fake_topo_remove(dir);
}

static void fake_cpu_map_and_cpuless_node(void **s) {
    static topo_t t;
    char dir[256];
    fake_topo_make(&t, dir, sizeof dir);
    assert_int_equal(topo_cpu_node(&t, 0), 0);
    assert_int_equal(topo_cpu_node(&t, 3), 1);
    assert_int_equal(topo_cpu_node(&t, 4), 2);
    assert_int_equal(topo_cpu_node(&t, 5), -1); /* in no node's list */
    assert_int_equal(topo_cpu_node(&t, 6), 2);
    assert_int_equal(t.max_cpu, 6);
    assert_int_equal(t.node_ncpus[2], 2);
    assert_int_equal(t.node_ncpus[3], 0); /* memory-only node */
    assert_false(nh_nodemask_isset(&t.cpus, 3));
    assert_true(nh_nodemask_isset(&t.memory, 3));
    fake_topo_remove(dir);
}

static void fake_sizes_and_distances(void **s) {
    static topo_t t;
    char dir[256];
    fake_topo_make(&t, dir, sizeof dir);
    assert_int_equal(t.mem_total[1], 2ull << 30);
    assert_int_equal(t.mem_free[1], 1ull << 30);
    assert_int_equal(t.distance[0][0], 10);
    assert_int_equal(t.distance[0][3], 41);
    assert_int_equal(t.distance[2][1], 21);
    uint64_t f;
    assert_int_equal(topo_node_free(dir, 3, &f), 0);
    assert_int_equal(f, 2ull << 30);
    fake_topo_remove(dir);
}

static void fake_missing_files_fall_back(void **s) {
    static topo_t t;
    char dir[] = "/tmp/nh-empty-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(topo_read(&t, dir, false), 0); /* no NUMA in this kernel: one node 0 */
    assert_int_equal(t.max_node, 0);
    assert_true(nh_nodemask_isset(&t.online, 0));
    assert_true(nh_nodemask_isset(&t.memory, 0));
    fake_topo_write(dir, "possible", "0-1\n");
    fake_topo_write(dir, "online", "0-1\n");
    assert_int_equal(topo_read(&t, dir, false), 0); /* has_memory missing: online nodes */
    assert_true(nh_nodemask_isset(&t.memory, 1));
    fake_topo_remove(dir);
}

static void host_matches_libnuma(void **s) {
    assert_true(numa_available() >= 0);
    const topo_t *t = topo_get();
    int highest_online = -1;
    for (int n = mask_next(&t->online, 0); n >= 0; n = mask_next(&t->online, n + 1))
        highest_online = n;
    assert_int_equal(highest_online, numa_max_node());
    assert_true(t->max_node >= numa_max_node());
    assert_int_equal(nh_max_node(), t->max_node);
    for (int n = 0; n <= numa_max_node(); n++) {
        assert_int_equal(nh_nodemask_isset(&t->online, n),
                         numa_bitmask_isbitset(numa_nodes_ptr, n));
        if (!nh_nodemask_isset(&t->online, n)) continue;
        long long freemem;
        assert_int_equal((long long)t->mem_total[n], numa_node_size64(n, &freemem));
        for (int m = 0; m <= numa_max_node(); m++)
            if (nh_nodemask_isset(&t->online, m))
                assert_int_equal(nh_node_distance(n, m), numa_distance(n, m));
    }
    for (int cpu = 0; cpu < numa_num_configured_cpus(); cpu++)
        assert_int_equal(nh_node_of_cpu(cpu), numa_node_of_cpu(cpu));
    struct bitmask *allowed = numa_get_mems_allowed();
    for (int n = 0; n <= numa_max_node(); n++)
        assert_int_equal(nh_nodemask_isset(&t->allowed, n), numa_bitmask_isbitset(allowed, n));
    numa_bitmask_free(allowed);
}

static void host_node_info(void **s) {
    nh_node_info_t info;
    assert_int_equal(nh_node_info(0, &info), 0);
    assert_true(info.mem_total > 0);
    assert_true(info.mem_free > 0 && info.mem_free <= info.mem_total);
    assert_int_equal(nh_node_info(NH_MAX_NODES, &info), -EINVAL);
    assert_int_equal(nh_node_info(-1, &info), -EINVAL);
    assert_int_equal(nh_node_info(0, NULL), -EINVAL);
    assert_int_equal(nh_node_of_cpu(-1), -1);
    assert_int_equal(nh_node_of_cpu(NH_MAX_CPUS), -1);
    assert_int_equal(nh_node_distance(0, 5000), -1);
}

/* The inherited policy is what a parent (numactl, a container runtime) set before exec. */
static void host_inherited_policy(void **s) {
    pid_t pid = fork();
    if (pid == 0) {
        unsigned long mask = 1;
        if (set_mempolicy(MPOL_INTERLEAVE, &mask, 2)) _exit(2);
        static topo_t t;
        topo_read(&t, NULL, true);
        _exit(t.inherited_mode == MPOL_INTERLEAVE && nh_nodemask_isset(&t.inherited_nodes, 0) &&
                      t.inherited_flags == 0
                  ? 0
                  : 1);
    }
    assert_child_ok(pid);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fake_nodes_and_masks),     cmocka_unit_test(fake_cpu_map_and_cpuless_node),
        cmocka_unit_test(fake_sizes_and_distances), cmocka_unit_test(fake_missing_files_fall_back),
        cmocka_unit_test(host_matches_libnuma),     cmocka_unit_test(host_node_info),
        cmocka_unit_test(host_inherited_policy),
    };
    return cmocka_run_group_tests_name("topology", tests, NULL, NULL);
}
