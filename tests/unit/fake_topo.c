/* Builds the fake node tree described in fake_topo.h. */
#include "fake_topo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

void fake_topo_write(const char *dir, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

void fake_topo_make(topo_t *t, char *dir, size_t dirlen) {
    snprintf(dir, dirlen, "/tmp/nh-fake-topo-XXXXXX");
    if (!mkdtemp(dir)) abort();
    fake_topo_write(dir, "possible", "0-7\n");
    fake_topo_write(dir, "online", "0-3\n");
    fake_topo_write(dir, "has_memory", "0-3\n");
    fake_topo_write(dir, "has_cpu", "0-2\n");
    const char *cpus[] = {"0-1\n", "2-3\n", "4,6\n", "\n"};
    const char *dist[] = {"10 21 31 41\n", "21 10 21 31\n", "31 21 10 21\n", "41 31 21 10\n"};
    for (int n = 0; n < 4; n++) {
        char rel[64], text[256];
        snprintf(rel, sizeof rel, "node%d/cpulist", n);
        fake_topo_write(dir, rel, cpus[n]);
        snprintf(rel, sizeof rel, "node%d/distance", n);
        fake_topo_write(dir, rel, dist[n]);
        snprintf(rel, sizeof rel, "node%d/meminfo", n);
        snprintf(
            text, sizeof text,
            "Node %d MemTotal:       %d kB\nNode %d MemFree:        %d kB\nNode %d MemUsed: 1 kB\n",
            n, (n + 1) * 1048576, n, (n + 1) * 524288, n);
        fake_topo_write(dir, rel, text);
    }
    if (topo_read(t, dir, false)) abort();
}

void fake_topo_remove(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) abort();
}

topo_t fake_topo;
static char fake_dir[256];

int fake_topo_group_setup(void **state) {
    fake_topo_make(&fake_topo, fake_dir, sizeof fake_dir);
    return 0;
}

int fake_topo_group_teardown(void **state) {
    fake_topo_remove(fake_dir);
    return 0;
}

void assert_child_ok(int pid) {
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}
