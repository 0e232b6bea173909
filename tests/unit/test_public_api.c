/* The policy layer through the public header on this host: error codes, errno, messages, and
 * the allocation-free formatter the diagnostics rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "numaheap.h"
#include "policy_internal.h"

static void parse_errors_set_errno_and_code(void **s) {
    nh_policy_t p;
    nh_error_t err;
    errno = 0;
    assert_int_equal(nh_policy_parse("bind:0/static/relative", &p, &err), -NH_ERR_FLAGS_EXCLUSIVE);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(err.code, NH_ERR_FLAGS_EXCLUSIVE);
    assert_int_equal(nh_policy_parse("bind:0", NULL, &err), -NH_ERR_SYNTAX);
    assert_int_equal(nh_policy_parse(NULL, &p, NULL), -NH_ERR_SYNTAX); /* err is optional */
    assert_int_equal(nh_policy_parse("bind:0", &p, NULL), 0);
}

static void nodemask_public(void **s) {
    nh_nodemask_t m;
    nh_error_t err;
    assert_int_equal(nh_nodemask_parse("all", &m, &err), 0);
    assert_true(nh_nodemask_isset(&m, 0));
    char buf[16];
    nh_nodemask_format(&m, buf, sizeof buf);
    assert_non_null(strchr(buf, '0'));
    assert_int_equal(nh_nodemask_parse("0-", &m, &err), -NH_ERR_SYNTAX);
    assert_int_equal(err.pos, 2);
    assert_int_equal(nh_nodemask_parse(NULL, &m, &err), -NH_ERR_SYNTAX);
    assert_false(nh_nodemask_isset(&m, -1));
    assert_false(nh_nodemask_isset(&m, NH_MAX_NODES));
}

static void oci_public(void **s) {
    nh_policy_t p;
    nh_error_t err;
    const char *flags[] = {"MPOL_F_STATIC_NODES"};
    assert_int_equal(nh_policy_from_oci("MPOL_BIND", "0", flags, 1, &p, &err), 0);
    assert_int_equal(p.mode, NH_MPOL_BIND);
    assert_int_equal(p.flags, NH_MPOL_F_STATIC_NODES);
    assert_int_equal(nh_policy_from_oci("MPOL_BIND", "0", NULL, 1, &p, &err), -NH_ERR_FLAG);
    p.flags = NH_MPOL_F_NUMA_BALANCING;
    p.mode = NH_MPOL_INTERLEAVE;
    assert_int_equal(nh_policy_validate(&p, &err), -NH_ERR_BALANCING_MODE);
    assert_int_equal(nh_policy_validate(NULL, &err), -NH_ERR_SYNTAX);
}

static void strerror_covers_every_code(void **s) {
    for (int c = 0; c < NH_ERR_COUNT_; c++) {
        assert_non_null(nh_strerror(c));
        assert_string_not_equal(nh_strerror(c), "unknown error");
        assert_string_equal(nh_strerror(-c), nh_strerror(c));
    }
    assert_string_equal(nh_strerror(NH_ERR_COUNT_), "unknown error");
    assert_string_equal(nh_strerror(9999), "unknown error");
}

static void version_matches_header(void **s) {
    assert_int_equal(nh_version(), NH_VERSION);
}

static void fmt_numbers_and_strings(void **s) {
    char buf[128];
    assert_int_equal(fmt_buf(buf, sizeof buf, "%d|%u|%ld|%lu|%zu|%x|%s|%c|%%", -42, 42u, -1L,
                             18446744073709551615UL, (size_t)7, 255u, "ok", 'z'),
                     strlen("-42|42|-1|18446744073709551615|7|ff|ok|z|%"));
    assert_string_equal(buf, "-42|42|-1|18446744073709551615|7|ff|ok|z|%");
    const char *volatile none = NULL; /* the formatter must survive a NULL string */
    fmt_buf(buf, sizeof buf, "%lld %s", -9223372036854775807LL - 1, none);
    assert_string_equal(buf, "-9223372036854775808 (null)");
}

static void fmt_field_widths(void **s) {
    char buf[64];
    fmt_buf(buf, sizeof buf, "[%6d|%-6s|%3s|%4llu]", 42, "ab", "toolong", 7ull);
    assert_string_equal(buf, "[    42|ab    |toolong|   7]");
    char small[8]; /* padding is cut like any other text */
    assert_int_equal(fmt_buf(small, sizeof small, "%10s", "x"), 10);
    assert_string_equal(small, "       ");
}

static void fmt_truncates_and_counts(void **s) {
    char buf[6];
    assert_int_equal(fmt_buf(buf, sizeof buf, "%s", "abcdefgh"), 8);
    assert_string_equal(buf, "abcde");
    assert_int_equal(fmt_buf(NULL, 0, "%d", 12345), 5);
}

static void fmt_parse_u64_bounds(void **s) {
    uint64_t v;
    assert_true(fmt_parse_u64("255", 3, 255, &v));
    assert_int_equal(v, 255);
    assert_false(fmt_parse_u64("256", 3, 255, &v));
    assert_false(fmt_parse_u64("", 0, 255, &v));
    assert_false(fmt_parse_u64("1a", 2, 255, &v));
    assert_true(fmt_parse_u64("18446744073709551615", 20, UINT64_MAX, &v));
    assert_false(fmt_parse_u64("18446744073709551616", 20, UINT64_MAX, &v));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_errors_set_errno_and_code),
        cmocka_unit_test(nodemask_public),
        cmocka_unit_test(oci_public),
        cmocka_unit_test(strerror_covers_every_code),
        cmocka_unit_test(version_matches_header),
        cmocka_unit_test(fmt_numbers_and_strings),
        cmocka_unit_test(fmt_field_widths),
        cmocka_unit_test(fmt_truncates_and_counts),
        cmocka_unit_test(fmt_parse_u64_bounds),
    };
    return cmocka_run_group_tests_name("public_api", tests, NULL, NULL);
}
