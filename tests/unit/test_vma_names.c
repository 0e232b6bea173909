/* The kernel's names for numaheap's regions, read from this process's real /proc/self/maps
 * (it runs on libnumaheap.so): "[anon:numaheap node N]" for each node with a heap and
 * "[anon:numaheap large]", each object inside the mapping named for where it lives, and no
 * region table published (the library writes one only for regions it could not name). The
 * fake-/proc tests of stat and repair take the names as given; this is where the kernel gives
 * them. A kernel that refuses to name mappings (before 5.17, or without CONFIG_ANON_VMA_NAME)
 * gets one line saying so and exit status 77, which ctest counts as skipped. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "numaheap.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA           0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* Whether the kernel names an anonymous mapping when asked; errno says why not. */
static int kernel_names_mappings(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    int ok = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, page,
                   (unsigned long)"numaheap-test probe") == 0;
    int e = errno;
    munmap(p, page);
    errno = e;
    return ok;
}

/* The name of the mapping holding addr in /proc/self/maps ("" for none), into name. */
static void mapping_name(const void *addr, char *name, size_t len) {
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    name[0] = '\0';
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) < 2 || !at) continue;
        if (a < lo || a >= hi) continue;
        snprintf(name, len, "%s", line + at);
        name[strcspn(name, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* How many mappings carry exactly this name. */
static int count_named(const char *want) {
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        size_t l = strlen(line), w = strlen(want);
        n += l > w && !strcmp(line + l - w, want) && line[l - w - 1] == ' ';
    }
    fclose(f);
    return n;
}

static nh_nodemask_t heap_nodes(void) {
    char text[256];
    size_t len = sizeof text;
    assert_int_equal(nh_ctl("config.nodes", text, &len, NULL, 0), 0);
    nh_nodemask_t m;
    assert_int_equal(nh_nodemask_parse(text, &m, NULL), 0);
    return m;
}

static void every_region_is_named(void **s) {
    nh_nodemask_t m = heap_nodes();
    int nodes = 0;
    for (int n = 0; n < NH_MAX_NODES; n++) {
        if (!nh_nodemask_isset(&m, n)) continue;
        char want[64];
        snprintf(want, sizeof want, "[anon:numaheap node %d]", n);
        if (count_named(want) < 1) fail_msg("no mapping named %s", want);
        nodes++;
    }
    assert_true(nodes >= 1);
    assert_true(count_named("[anon:numaheap large]") >= 1);
    /* the table is the fallback for regions left unnamed: there is none */
    assert_int_equal(count_named("/memfd:numaheap-regions (deleted)"), 0);
}

static void objects_lie_in_the_mapping_of_their_place(void **s) {
    nh_nodemask_t m = heap_nodes();
    char name[256], want[64];
    for (int n = 0; n < NH_MAX_NODES; n++) {
        if (!nh_nodemask_isset(&m, n)) continue;
        char *p = nh_malloc_onnode(4096, n);
        assert_non_null(p);
        p[0] = 1;
        mapping_name(p, name, sizeof name);
        snprintf(want, sizeof want, "[anon:numaheap node %d]", n);
        if (strcmp(name, want)) fail_msg("%p (node %d) is in '%s'", (void *)p, n, name);
        nh_free(p);
    }
    char *small = malloc(100);
    assert_non_null(small);
    mapping_name(small, name, sizeof name);
    snprintf(want, sizeof want, "[anon:numaheap node %d]", nh_node_of(small));
    assert_string_equal(name, want);
    size_t big = 80u << 20; /* above the default large threshold */
    char *large = malloc(big);
    assert_non_null(large);
    assert_int_equal(nh_node_of(large), NH_NODE_INTERLEAVED);
    large[0] = large[big - 1] = 1;
    mapping_name(large, name, sizeof name);
    assert_string_equal(name, "[anon:numaheap large]");
    mapping_name(large + big - 1, name, sizeof name);
    assert_string_equal(name, "[anon:numaheap large]");
    free(large);
    free(small);
}

int main(void) {
    if (!kernel_names_mappings()) {
        printf("vma_names: the kernel refuses PR_SET_VMA_ANON_NAME (%s): skipped; numaheap "
               "publishes its region table there instead\n",
               strerror(errno));
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_region_is_named),
        cmocka_unit_test(objects_lie_in_the_mapping_of_their_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
