/* The background repairer on the host, run with NUMAHEAP_REPAIR set: it starts, audits every
 * resident page of the node regions within a few intervals (nh_stats, against the pages this
 * program touched as the kernel reports them), runs as one thread named numaheap-repair, and
 * a forked child starts its own. Misplacement itself needs several nodes: the lab tests it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numaheap.h"

#define PAGE 4096ul

/* Threads of this process named numaheap-repair, read with raw calls: opendir would allocate,
 * and an allocation may start the repairer being counted. */
static int repairers(void) {
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    int count = 0;
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.') continue;
            char path[300], comm[32] = "";
            snprintf(path, sizeof path, "/proc/self/task/%s/comm", d->d_name);
            int c = open(path, O_RDONLY | O_CLOEXEC);
            if (c < 0) continue;
            ssize_t r = read(c, comm, sizeof comm - 1);
            close(c);
            if (r > 0 && !strncmp(comm, "numaheap-repair", 15)) count++;
        }
    }
    close(fd);
    return count;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000l};
    nanosleep(&ts, NULL);
}

/* Waits up to 10 s for node 0's audited count to pass want; returns the stats then. */
static nh_stats_t audited_past(uint64_t want) {
    nh_stats_t st = {0};
    for (int i = 0; i < 1000; i++) {
        if (nh_stats(0, &st) == 0 && st.pages_audited >= want) break;
        sleep_ms(10);
    }
    return st;
}

static size_t resident_pages(const char *p, size_t len) {
    static int where[4096];
    long n = nh_pages_where(p, len, where, len / PAGE);
    size_t on = 0;
    for (long i = 0; i < n; i++)
        on += where[i] >= 0;
    return on;
}

int main(void) {
    size_t len = 8u << 20;
    char *p = nh_malloc_onnode(len, 0);
    if (!p) return perror("nh_malloc_onnode"), 1;
    memset(p, 1, len);
    size_t touched = resident_pages(p, len);
    nh_stats_t st = audited_past(touched);
    int threads = repairers();
    printf("parent: touched=%zu audited=%llu moved=%llu misplaced=%llu repairers=%d\n", touched,
           (unsigned long long)st.pages_audited, (unsigned long long)st.pages_moved,
           (unsigned long long)st.pages_misplaced, threads);
    /* one node: every audited page is home, nothing to move */
    if (touched < len / PAGE || st.pages_audited < touched || st.pages_moved ||
        st.pages_misplaced || threads != 1)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int before = repairers(); /* none: threads do not survive fork */
        uint64_t from = st.pages_audited;
        char *q[64];
        for (int i = 0; i < 64; i++) { /* enough to leave the inline paths */
            q[i] = malloc(64u << 10);
            memset(q[i], 2, 64u << 10);
        }
        free(nh_malloc_onnode(100, 0)); /* (under a sanitizer's malloc, only this one counts) */
        nh_stats_t cs = audited_past(from + touched);
        int after = repairers();
        printf("child: repairers before=%d after=%d audited=%llu\n", before, after,
               (unsigned long long)cs.pages_audited);
        for (int i = 0; i < 64; i++)
            free(q[i]);
        fflush(stdout);
        _exit(before == 0 && after == 1 && cs.pages_audited >= from + touched ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    free(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) return 1;
    printf("repairer: audits every page, one thread, restarted in a forked child\n");
    return 0;
}
