/* The library's log and NUMAHEAP_STATS, through the internal functions (static library): lines
 * prefixed numaheap[PROG:PID], each warning once per process, output that survives a program
 * closing stderr, a descriptor the program took over left alone, and the stats file's %p. */
#define _GNU_SOURCE /* pipe2 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_internal.h"

static int saved_stderr = -1;
static int pipe_r = -1;

/* fd 2 becomes a fresh pipe and the log takes its duplicate of it. */
static int capture(void **s) {
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    if (saved_stderr < 0) saved_stderr = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    pipe_r = p[0];
    log_init();
    return 0;
}

static int restore(void **s) {
    dup2(saved_stderr, 2);
    log_init();
    close(pipe_r);
    return 0;
}

static const char *captured(void) {
    static char buf[8192];
    ssize_t n = read(pipe_r, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static const char *line(const char *text) {
    static char buf[512];
    snprintf(buf, sizeof buf, "numaheap[test_log:%d]: %s", (int)getpid(), text);
    return buf;
}

static void each_warning_once_with_prefix(void **s) {
    log_warn("numaheap: warning: first %d\n", 1); /* the old prefix is replaced */
    log_warn("warning: first %d\n", 1);
    log_warn("warning: second\n");
    log_warn("numaheap: warning: first 1\n");
    char want[1024];
    snprintf(want, sizeof want, "%s", line("warning: first 1\n"));
    strcat(want, line("warning: second\n"));
    assert_string_equal(captured(), want);
}

static void survives_a_closed_stderr(void **s) {
    assert_true(log_fd_get() >= 100);
    assert_int_equal(fcntl(log_fd_get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(2);
    log_warn("warning: after close\n");
    assert_string_equal(captured(), line("warning: after close\n"));
}

static void leaves_a_reused_descriptor_alone(void **s) {
    int fd = log_fd_get(), other = open("/dev/null", O_WRONLY | O_CLOEXEC);
    dup2(other, fd); /* the program puts its own file at our number */
    close(other);
    assert_int_equal(log_fd_get(), 2);
    log_warn("warning: to fd 2\n");
    assert_string_equal(captured(), line("warning: to fd 2\n"));
    close(fd);
}

static void duplicate_settings_warn_once(void **s) {
    char *env[] = {"NUMAHEAP_STATS=garbage", "NUMAHEAP_STATS=garbage", "NUMAHEAP_BOGUS=1",
                   "NUMAHEAP_BOGUS=1", NULL};
    config_t c;
    config_load(&c, env, topo_get());
    const char *out = captured();
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    assert_non_null(strstr(out, "]: warning: NUMAHEAP_STATS='garbage' ignored ("));
    assert_non_null(strstr(out, "]: warning: NUMAHEAP_BOGUS='1' ignored (no such setting)\n"));
}

static void stats_values(void **s) {
    config_t c;
    char *one[] = {"NUMAHEAP_STATS=on", NULL}, *off[] = {"NUMAHEAP_STATS=0", NULL},
         *path[] = {"NUMAHEAP_STATS=./out/s.%p", NULL}, *bad[] = {"NUMAHEAP_STATS=s.%p", NULL};
    config_load(&c, one, topo_get());
    assert_true(c.stats_at_exit);
    assert_string_equal(c.stats_path, "");
    config_load(&c, off, topo_get());
    assert_false(c.stats_at_exit);
    config_load(&c, path, topo_get());
    assert_true(c.stats_at_exit);
    assert_string_equal(c.stats_path, "./out/s.%p");
    config_load(&c, bad, topo_get()); /* no '/': not a path, a bad value */
    assert_false(c.stats_at_exit);
    assert_non_null(strstr(captured(), "NUMAHEAP_STATS='s.%p' ignored"));
}

static void stats_file_expands_pid(void **s) {
    char dir[] = "/tmp/nh_log_XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(heap_config.stats_path, sizeof heap_config.stats_path, "%s/s.%%p.%%%%.%%x", dir);
    stats_at_exit();
    heap_config.stats_path[0] = '\0';
    char file[256];
    snprintf(file, sizeof file, "%s/s.%d.%%.%%x", dir, (int)getpid());
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char first[256];
    assert_non_null(fgets(first, sizeof first, f));
    assert_string_equal(first, line("per-node statistics (bytes)\n"));
    fclose(f);
    unlink(file);
    rmdir(dir);
    assert_string_equal(captured(), ""); /* nothing on stderr */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_warning_once_with_prefix, capture, restore),
        cmocka_unit_test_setup_teardown(survives_a_closed_stderr, capture, restore),
        cmocka_unit_test_setup_teardown(leaves_a_reused_descriptor_alone, capture, restore),
        cmocka_unit_test_setup_teardown(duplicate_settings_warn_once, capture, restore),
        cmocka_unit_test_setup_teardown(stats_values, capture, restore),
        cmocka_unit_test_setup_teardown(stats_file_expands_pid, capture, restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
