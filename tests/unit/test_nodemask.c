/* Node lists: the kernel's list format and libnuma's grammar, on a fake 4-node topology. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fake_topo.h"

#define topo fake_topo /* the suite's fake 4-node machine */

/* Parses text and returns the formatted mask, or "ERR<code>@<pos>". */
static const char *parse(const char *text) {
    static char out[256];
    nh_nodemask_t m;
    nh_error_t err = {0};
    int rc = nodemask_parse(text, 0, strlen(text), &topo, &m, &err);
    if (rc) {
        assert_int_equal(rc, err.code);
        assert_true(strlen(err.msg) > 0);
        snprintf(out, sizeof out, "ERR%d@%d", rc, err.pos);
    } else {
        nh_nodemask_format(&m, out, sizeof out);
    }
    return out;
}

static void single_and_list(void **s) {
    assert_string_equal(parse("0"), "0");
    assert_string_equal(parse("3"), "3");
    assert_string_equal(parse("0,2"), "0,2");
    assert_string_equal(parse("2,0"), "0,2");
    assert_string_equal(parse("1,1"), "1");
}

static void ranges(void **s) {
    assert_string_equal(parse("0-3"), "0-3");
    assert_string_equal(parse("0-1,3"), "0-1,3");
    assert_string_equal(parse("0-2,1-3"), "0-3");
    assert_string_equal(parse("2-2"), "2");
    assert_string_equal(parse("007"), "7"); /* leading zeros are decimal, not octal */
}

static void empty_is_empty_mask(void **s) {
    assert_string_equal(parse(""), "");
}

static void all_is_usable_nodes(void **s) {
    assert_string_equal(parse("all"), "0-3");
    topo_t t = topo;
    nh_nodemask_clear(&t.allowed, 1);
    nh_nodemask_t m;
    assert_int_equal(nodemask_parse("all", 0, 3, &t, &m, NULL), 0);
    char buf[64];
    nh_nodemask_format(&m, buf, sizeof buf);
    assert_string_equal(buf, "0,2-3");
}

static void inversion(void **s) {
    assert_string_equal(parse("!1"), "0,2-3");
    assert_string_equal(parse("!0-3"), "");
    assert_string_equal(parse("!0,3"), "1-2");
}

static void relative(void **s) {
    topo_t t = topo;
    nh_nodemask_clear(&t.allowed, 0); /* allowed 1-3: +0 is node 1 */
    nh_nodemask_t m;
    char buf[64];
    assert_int_equal(nodemask_parse("+0-1", 0, 4, &t, &m, NULL), 0);
    nh_nodemask_format(&m, buf, sizeof buf);
    assert_string_equal(buf, "1-2");
    nh_error_t err;
    assert_int_equal(nodemask_parse("+3", 0, 2, &t, &m, &err), NH_ERR_NODE_RANGE);
    assert_non_null(strstr(err.msg, "+3"));
}

static void syntax_errors_name_position(void **s) {
    assert_string_equal(parse("x"), "ERR1@0");
    assert_string_equal(parse("0,"), "ERR1@2");
    assert_string_equal(parse(",0"), "ERR1@0");
    assert_string_equal(parse("0-"), "ERR1@2");
    assert_string_equal(parse("3-1"), "ERR1@2"); /* reversed range */
    assert_string_equal(parse("1 2"), "ERR1@1");
    assert_string_equal(parse("0;1"), "ERR1@1");
    assert_string_equal(parse("!"), "ERR1@1");
    assert_string_equal(parse("+"), "ERR1@1");
    assert_string_equal(parse("-1"), "ERR1@0");
    assert_string_equal(parse("alls"), "ERR1@0");
    nh_error_t err;
    nh_nodemask_t m;
    nodemask_parse("0-x", 0, 3, &topo, &m, &err);
    assert_int_equal(err.pos, 2);
    assert_non_null(strstr(err.msg, "'x'"));
}

static void beyond_kernel_maximum_is_error(void **s) {
    assert_string_equal(parse("8"), "ERR2@0");      /* possible is 0-7 */
    assert_string_equal(parse("0,1024"), "ERR2@2"); /* not truncated to the mask size */
    assert_string_equal(parse("0-99999999999999999999"), "ERR2@2");
    assert_string_equal(parse("7"),
                        "7"); /* possible but offline: parse accepts, validation rejects */
}

static void too_long_is_error(void **s) {
    static char big[5000];
    memset(big, '0', sizeof big - 1);
    nh_nodemask_t m;
    nh_error_t err;
    assert_int_equal(nodemask_parse(big, 0, strlen(big), &topo, &m, &err), NH_ERR_TOO_LONG);
}

static void format_round_trip(void **s) {
    const char *cases[] = {"0", "0-3", "0,2", "1-2", "0,2-3", ""};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_string_equal(parse(cases[i]), cases[i]);
    nh_nodemask_t m;
    memset(&m, 0, sizeof m);
    nh_nodemask_set(&m, 0);
    nh_nodemask_set(&m, 1023);
    char buf[32];
    assert_int_equal(nh_nodemask_format(&m, buf, sizeof buf), 6);
    assert_string_equal(buf, "0,1023");
}

static void format_truncates_safely(void **s) {
    nh_nodemask_t m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 1024; i += 2)
        nh_nodemask_set(&m, i);
    char small[8];
    int need = nh_nodemask_format(&m, small, sizeof small);
    assert_true(need > 8);
    assert_int_equal(strlen(small), 7);
    char *big = test_malloc((size_t)need + 1);
    assert_int_equal(nh_nodemask_format(&m, big, (size_t)need + 1), need);
    assert_int_equal(strlen(big), need);
    test_free(big);
}

static void sysfs_list_format(void **s) {
    uint64_t bits[2];
    int bad;
    assert_int_equal(list_parse("0-3,64,127\n", 11, bits, 128, 127, &bad), 0);
    assert_int_equal(bits[0], 0xf);
    assert_int_equal(bits[1], (1ull << 0) | (1ull << 63));
    assert_int_equal(list_parse("\n", 1, bits, 128, 127, &bad), 0);
    assert_int_equal(bits[0] | bits[1], 0);
    assert_int_equal(list_parse("128", 3, bits, 128, 127, &bad), NH_ERR_NODE_RANGE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_and_list),
        cmocka_unit_test(ranges),
        cmocka_unit_test(empty_is_empty_mask),
        cmocka_unit_test(all_is_usable_nodes),
        cmocka_unit_test(inversion),
        cmocka_unit_test(relative),
        cmocka_unit_test(syntax_errors_name_position),
        cmocka_unit_test(beyond_kernel_maximum_is_error),
        cmocka_unit_test(too_long_is_error),
        cmocka_unit_test(format_round_trip),
        cmocka_unit_test(format_truncates_safely),
        cmocka_unit_test(sysfs_list_format),
    };
    return cmocka_run_group_tests_name("nodemask", tests, fake_topo_group_setup,
                                       fake_topo_group_teardown);
}
