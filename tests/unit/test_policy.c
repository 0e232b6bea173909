/* Policies: every parsing form, every validation rule (accepting and rejecting), OCI fields,
 * formatting round trips and random input, on a fake 4-node topology. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "fake_topo.h"

#define topo fake_topo /* the suite's fake 4-node machine */

static int parse_rc(const char *text) {
    nh_policy_t p;
    nh_error_t err = {0};
    int rc = policy_parse(text, &topo, &p, &err);
    if (rc) {
        assert_int_equal(err.code, rc);
        assert_true(err.msg[0] != '\0');
    }
    return rc;
}

/* Parses text (must succeed) and returns the canonical form. */
static const char *canon(const char *text) {
    static char out[1024];
    nh_policy_t p;
    nh_error_t err = {0};
    int rc = policy_parse(text, &topo, &p, &err);
    if (rc) fail_msg("'%s' rejected: %s", text, err.msg);
    policy_format(&p, out, sizeof out);
    return out;
}

static int oci_rc(const char *mode, const char *nodes, const char *f1, const char *f2) {
    const char *flags[2] = {f1, f2};
    size_t n = f2 ? 2 : f1 ? 1 : 0;
    nh_policy_t p;
    nh_error_t err = {0};
    return policy_from_oci(mode, nodes, flags, n, &topo, &p, &err);
}

/* ---- parsing forms ---------------------------------------------------------------------- */

static void parse_default_and_local(void **s) {
    assert_string_equal(canon("default"), "default");
    assert_string_equal(canon("local"), "local");
}

static void parse_preferred(void **s) {
    nh_policy_t p;
    assert_int_equal(policy_parse("preferred:1", &topo, &p, NULL), 0);
    assert_int_equal(p.mode, NH_MPOL_PREFERRED);
    assert_true(nh_nodemask_isset(&p.nodes, 1));
    assert_int_equal(mask_count(&p.nodes), 1);
    assert_string_equal(canon("preferred"), "preferred"); /* empty: local allocation */
}

static void parse_bind_interleave(void **s) {
    assert_string_equal(canon("bind:0,1"), "bind:0-1");
    assert_string_equal(canon("interleave:all"), "interleave:0-3");
    assert_string_equal(canon("interleave:!2"), "interleave:0-1,3");
}

static void parse_preferred_many(void **s) {
    assert_string_equal(canon("preferred-many:0-1"), "preferred-many:0-1");
    assert_string_equal(canon("preferred_many:2"), "preferred-many:2");
}

static void parse_weighted(void **s) {
    nh_policy_t p;
    assert_int_equal(policy_parse("weighted:0=3,1=1", &topo, &p, NULL), 0);
    assert_int_equal(p.mode, NH_MPOL_WEIGHTED_INTERLEAVE);
    assert_int_equal(p.weights[0], 3);
    assert_int_equal(p.weights[1], 1);
    assert_int_equal(p.weights[2], 0);
    assert_string_equal(canon("weighted:0=3,1=1"), "weighted:0=3,1=1");
    assert_string_equal(canon("weighted:0-2=2,3=5"), "weighted:0=2,1=2,2=2,3=5");
    assert_string_equal(canon("weighted:0-1"), "weighted:0-1"); /* system-wide weights */
    assert_string_equal(canon("weighted-interleave:3"), "weighted:3");
}

static void parse_flags(void **s) {
    nh_policy_t p;
    assert_int_equal(policy_parse("bind:0-1/static", &topo, &p, NULL), 0);
    assert_int_equal(p.flags, NH_MPOL_F_STATIC_NODES);
    assert_string_equal(canon("bind:0-1/relative"), "bind:0-1/relative");
    assert_string_equal(canon("bind:0/balancing/static"), "bind:0/static/balancing");
    assert_string_equal(canon("interleave:1-3/static"), "interleave:1-3/static");
}

static void parse_syntax_errors(void **s) {
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("bind:", &topo, &p, &err), NH_ERR_SYNTAX);
    assert_int_equal(err.pos, 5);
    assert_int_equal(policy_parse("bind:0-1x", &topo, &p, &err), NH_ERR_SYNTAX);
    assert_int_equal(err.pos, 8);
    assert_int_equal(policy_parse("", &topo, &p, &err), NH_ERR_SYNTAX);
    assert_int_equal(policy_parse(":0", &topo, &p, &err), NH_ERR_SYNTAX);
    assert_int_equal(policy_parse(NULL, &topo, &p, &err), NH_ERR_SYNTAX);
    assert_int_equal(policy_parse("weighted:0=", &topo, &p, &err), NH_ERR_SYNTAX);
    assert_int_equal(err.pos, 11);
    assert_int_equal(policy_parse("weighted:0=1,0=2", &topo, &p, &err), NH_ERR_SYNTAX);
}

static void parse_unknown_mode_names_token(void **s) {
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("bnid:0", &topo, &p, &err), NH_ERR_MODE);
    assert_non_null(strstr(err.msg, "'bnid'"));
    assert_int_equal(policy_parse("BIND:0", &topo, &p, &err), NH_ERR_MODE);
}

static void parse_unknown_flag_names_token(void **s) {
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("bind:0/statik", &topo, &p, &err), NH_ERR_FLAG);
    assert_non_null(strstr(err.msg, "'statik'"));
    assert_int_equal(err.pos, 7);
    assert_int_equal(policy_parse("bind:0/static/static", &topo, &p, &err), NH_ERR_FLAG);
    assert_int_equal(policy_parse("bind:0/", &topo, &p, &err), NH_ERR_FLAG);
}

static void parse_too_long(void **s) {
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = '\0';
    assert_int_equal(parse_rc(big), NH_ERR_TOO_LONG);
    free(big);
}

/* ---- validation rules, each accepting and rejecting ------------------------------------- */

static void rule_balancing_only_with_bind(void **s) {
    assert_int_equal(parse_rc("bind:0/balancing"), 0);
    assert_int_equal(parse_rc("interleave:0/balancing"), NH_ERR_BALANCING_MODE);
    assert_int_equal(parse_rc("preferred:0/balancing"), NH_ERR_BALANCING_MODE);
    assert_int_equal(parse_rc("preferred-many:0/balancing"), NH_ERR_BALANCING_MODE);
    assert_int_equal(parse_rc("weighted:0/balancing"), NH_ERR_BALANCING_MODE);
    assert_int_equal(oci_rc("MPOL_BIND", "0", "MPOL_F_NUMA_BALANCING", NULL), 0);
    assert_int_equal(oci_rc("MPOL_INTERLEAVE", "0", "MPOL_F_NUMA_BALANCING", NULL),
                     NH_ERR_BALANCING_MODE);
}

static void rule_static_relative_exclusive(void **s) {
    assert_int_equal(parse_rc("bind:0/static"), 0);
    assert_int_equal(parse_rc("bind:0/relative"), 0);
    assert_int_equal(parse_rc("bind:0/static/relative"), NH_ERR_FLAGS_EXCLUSIVE);
    assert_int_equal(oci_rc("MPOL_BIND", "0", "MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"),
                     NH_ERR_FLAGS_EXCLUSIVE);
}

static void rule_default_local_take_no_nodes(void **s) {
    assert_int_equal(parse_rc("default"), 0);
    assert_int_equal(parse_rc("local"), 0);
    assert_int_equal(parse_rc("default:0"), NH_ERR_NODES_FORBIDDEN);
    assert_int_equal(parse_rc("local:1"), NH_ERR_NODES_FORBIDDEN);
    assert_int_equal(oci_rc("MPOL_LOCAL", "0", NULL, NULL), NH_ERR_NODES_FORBIDDEN);
    assert_int_equal(oci_rc("MPOL_DEFAULT", "", NULL, NULL), 0);
}

static void rule_default_local_take_no_flags(void **s) {
    assert_int_equal(parse_rc("local/static"), NH_ERR_FLAGS_FORBIDDEN);
    assert_int_equal(parse_rc("default/relative"), NH_ERR_FLAGS_FORBIDDEN);
    assert_int_equal(oci_rc("MPOL_DEFAULT", NULL, "MPOL_F_STATIC_NODES", NULL),
                     NH_ERR_FLAGS_FORBIDDEN);
    assert_int_equal(oci_rc("MPOL_LOCAL", NULL, NULL, NULL), 0);
}

static void rule_preferred_local_no_static_relative(void **s) {
    assert_int_equal(parse_rc("preferred"), 0);
    assert_int_equal(parse_rc("preferred:1/static"), 0);
    assert_int_equal(parse_rc("preferred:1/relative"), 0);
    assert_int_equal(parse_rc("preferred/static"), NH_ERR_FLAGS_FORBIDDEN);
    assert_int_equal(parse_rc("preferred/relative"), NH_ERR_FLAGS_FORBIDDEN);
    assert_int_equal(oci_rc("MPOL_PREFERRED", "", "MPOL_F_RELATIVE_NODES", NULL),
                     NH_ERR_FLAGS_FORBIDDEN);
}

static void rule_modes_need_nodes(void **s) {
    const char *modes[] = {"bind", "interleave", "preferred-many", "weighted"};
    for (size_t i = 0; i < 4; i++) {
        char with[64];
        snprintf(with, sizeof with, "%s:1", modes[i]);
        assert_int_equal(parse_rc(modes[i]), NH_ERR_NODES_REQUIRED);
        assert_int_equal(parse_rc(with), 0);
    }
    assert_int_equal(oci_rc("MPOL_BIND", "", NULL, NULL), NH_ERR_NODES_REQUIRED);
    assert_int_equal(parse_rc("interleave:!0-3"),
                     NH_ERR_NODES_REQUIRED); /* empty after inversion */
}

static void rule_nodes_must_exist(void **s) {
    assert_int_equal(parse_rc("bind:3"), 0);
    assert_int_equal(parse_rc("bind:5"), NH_ERR_NODE_MISSING); /* possible, not online */
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("interleave:0,6", &topo, &p, &err), NH_ERR_NODE_MISSING);
    assert_non_null(strstr(err.msg, "node 6"));
}

static void rule_nodes_must_be_allowed(void **s) {
    topo_t t = topo;
    nh_nodemask_clear(&t.allowed, 2);
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("bind:1", &t, &p, &err), 0);
    assert_int_equal(policy_parse("bind:2", &t, &p, &err), NH_ERR_NODE_NOT_ALLOWED);
    assert_non_null(strstr(err.msg, "node 2"));
    /* RELATIVE_NODES numbers nodes within the cpuset: node ids need not be allowed */
    assert_int_equal(policy_parse("bind:2/relative", &t, &p, &err), 0);
    assert_int_equal(policy_parse("bind:5/relative", &t, &p, &err), 0);
}

/* What the kernel's mpol_set_nodemask computes: plain and static nodes intersected with the
 * usable ones, relative nodes folded modulo their count and mapped onto them in order. */
static void effective_nodes_static_relative(void **s) {
    nh_nodemask_t usable, out, want;
    nh_error_t err;
    nh_policy_t p;
    mask_zero(&usable);
    nh_nodemask_set(&usable, 1);
    nh_nodemask_set(&usable, 3);
    assert_int_equal(policy_parse("bind:0-1", &topo, &p, &err), 0);
    policy_effective_nodes(&p, &usable, &out);
    mask_zero(&want);
    nh_nodemask_set(&want, 1);
    assert_true(mask_equal(&out, &want));
    assert_int_equal(policy_parse("bind:0,2/static", &topo, &p, &err), 0);
    policy_effective_nodes(&p, &usable, &out);
    assert_true(mask_empty(&out));
    assert_int_equal(policy_parse("bind:0/relative", &topo, &p, &err), 0);
    policy_effective_nodes(&p, &usable, &out); /* the first usable node */
    assert_true(mask_equal(&out, &want));
    assert_int_equal(policy_parse("interleave:1-2/relative", &topo, &p, &err), 0);
    policy_effective_nodes(&p, &usable, &out); /* 1 -> node 3, 2 folds onto 0 -> node 1 */
    nh_nodemask_set(&want, 3);
    assert_true(mask_equal(&out, &want));
    mask_zero(&usable);
    policy_effective_nodes(&p, &usable, &out);
    assert_true(mask_empty(&out));
}

/* Static nodes name physical nodes, which may be allowed later (set_mempolicy(2)): some may be
 * outside the cpuset now, but not all (the kernel's EINVAL for an empty effective mask). */
static void rule_static_nodes_may_wait_for_the_cpuset(void **s) {
    topo_t t = topo;
    nh_nodemask_clear(&t.allowed, 2);
    nh_nodemask_clear(&t.allowed, 3);
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("bind:1-2/static", &t, &p, &err), 0);
    assert_int_equal(policy_parse("interleave:0,3/static", &t, &p, &err), 0);
    assert_int_equal(policy_parse("bind:2-3/static", &t, &p, &err), NH_ERR_NODE_NOT_ALLOWED);
    assert_non_null(strstr(err.msg, "none of the static nodes is allowed"));
    assert_non_null(strstr(err.msg, "node 2"));
    assert_int_equal(policy_parse("bind:1-2", &t, &p, &err), NH_ERR_NODE_NOT_ALLOWED);
    const char *f[] = {"MPOL_F_STATIC_NODES"};
    assert_int_equal(policy_from_oci("MPOL_BIND", "1-2", f, 1, &t, &p, &err), 0);
    assert_int_equal(policy_from_oci("MPOL_BIND", "3", f, 1, &t, &p, &err),
                     NH_ERR_NODE_NOT_ALLOWED);
    /* still online and with memory, static or not */
    assert_int_equal(policy_parse("bind:1,5/static", &t, &p, &err), NH_ERR_NODE_MISSING);
    nh_nodemask_clear(&t.memory, 2);
    assert_int_equal(policy_parse("bind:1-2/static", &t, &p, &err), NH_ERR_NODE_NO_MEMORY);
}

static nh_nodemask_t nodes_of(const char *list) {
    nh_nodemask_t m;
    int bad;
    mask_zero(&m);
    if (list_parse(list, strlen(list), m.bits, NH_MAX_NODES, NH_MAX_NODES - 1, &bad)) abort();
    return m;
}

/* p (parsed over the whole fake machine) resolved over `first`, then rebound over each later
 * set in turn, as the kernel does when the cpuset's mems change: the nodes after each step. */
static void rebinds(const char *policy, const char *first, const char *const *sets,
                    const char *const *want) {
    nh_policy_t p;
    nh_error_t err;
    topo_t t = topo;
    t.allowed = nodes_of(first); /* policy_parse checks against the nodes allowed at start */
    t.possible = t.online = t.memory = nodes_of("0-9");
    t.max_node = 9;
    if (policy_parse(policy, &t, &p, &err)) fail_msg("%s: %s", policy, err.msg);
    nh_nodemask_t from = nodes_of(first), cur, next;
    uint8_t w[NH_MAX_NODES], w_next[NH_MAX_NODES];
    policy_resolve(&p, &from, &cur, w);
    for (int i = 0; sets[i]; i++) {
        nh_nodemask_t to = nodes_of(sets[i]);
        policy_rebind(&p, &cur, w, &from, &to, &next, w_next);
        char got[64];
        nh_nodemask_format(&next, got, sizeof got);
        if (strcmp(got, want[i]))
            fail_msg("%s over %s, then %s: got '%s', want '%s'", policy, first, sets[i], got,
                     want[i]);
        cur = next, from = to;
        memcpy(w, w_next, sizeof w);
    }
}

/* numa_memory_policy.rst's own examples, and shrinking and growing with each flag. */
static void rebind_follows_the_kernel(void **s) {
    /* mems 1-3 change to 3-5: plain interleave over 3-5; static only over 3; none allowed:
     * the default policy (empty) */
    rebinds("interleave:1-3", "1-3", (const char *[]){"3-5", NULL}, (const char *[]){"3-5"});
    rebinds("interleave:1-3/static", "1-3", (const char *[]){"3-5", "5-7", "1-3", NULL},
            (const char *[]){"3", "", "1-3"});
    /* relative 2-5 set over mems 2-5: over 3-7 it is 3,5-7, then over 0,2-3,5 it is 0,2-3,5 */
    rebinds("interleave:2-5/relative", "2-5", (const char *[]){"3-7", "0,2-3,5", NULL},
            (const char *[]){"3,5-7", "0,2-3,5"});
    /* plain masks do not keep their relative shape: 1,3,5 over 1-6 goes to 7-9, then to 1-3 */
    rebinds("interleave:1,3,5", "1-6", (const char *[]){"7-9", "1-6", NULL},
            (const char *[]){"7-9", "1-3"});
    /* one bound node, the cpuset shrinking to two of four and growing back */
    const char *shrink_grow[] = {"0,2", "0-3", NULL};
    rebinds("bind:3", "0-3", shrink_grow, (const char *[]){"2", "1"});
    rebinds("bind:3/static", "0-3", shrink_grow, (const char *[]){"", "3"});
    rebinds("bind:3/relative", "0-3", shrink_grow, (const char *[]){"2", "3"});
    rebinds("preferred:1", "0-1", (const char *[]){"0", "0-1", NULL}, (const char *[]){"0", "0"});
    rebinds("preferred-many:0-1", "0-3", (const char *[]){"2-3", NULL}, (const char *[]){"2-3"});
    /* growing past where it started */
    rebinds("interleave:0-3/relative", "0-1", (const char *[]){"0-3", NULL},
            (const char *[]){"0-3"});
    rebinds("bind:0-1", "0-1", (const char *[]){"0-3", NULL}, (const char *[]){"0-1"});
    rebinds("bind:1,3/static", "0-1", (const char *[]){"0-3", NULL}, (const char *[]){"1,3"});
    /* no nodes: nothing to map */
    rebinds("local", "0-3", (const char *[]){"1", NULL}, (const char *[]){""});
}

/* Per-policy weights go with their nodes; nodes that land together add theirs. */
static void rebind_carries_weights(void **s) {
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("weighted:0=3,2=1", &topo, &p, &err), 0);
    nh_nodemask_t all = nodes_of("0-3"), out, next;
    uint8_t w[NH_MAX_NODES], w2[NH_MAX_NODES];
    policy_resolve(&p, &all, &out, w);
    assert_int_equal(w[0], 3);
    assert_int_equal(w[2], 1);
    nh_nodemask_t to = nodes_of("2-3");
    policy_rebind(&p, &out, w, &all, &to, &next, w2); /* 0 -> 2, 2 -> 2 (2 mod 2 = 0) */
    assert_true(mask_equal(&next, &(nh_nodemask_t){{1u << 2}}));
    assert_int_equal(w2[2], 4);
    assert_int_equal(w2[0], 0);
    assert_int_equal(policy_parse("weighted:0=200,1=100/relative", &topo, &p, &err), 0);
    nh_nodemask_t one = nodes_of("3");
    policy_resolve(&p, &one, &out, w); /* both fold onto node 3: capped */
    assert_int_equal(w[3], 255);
    /* the kernel's own weights (none given) stay the kernel's */
    assert_int_equal(policy_parse("weighted:0-1", &topo, &p, &err), 0);
    policy_resolve(&p, &all, &out, w);
    policy_rebind(&p, &out, w, &all, &to, &next, w2);
    assert_int_equal(w2[2] + w2[3], 0);
}

/* Weights over a node without memory are refused like any node without memory, in every
 * weighted form; weighted:auto only takes nodes with memory. */
static void rule_weights_over_memoryless_nodes(void **s) {
    topo_t t = topo;
    nh_nodemask_clear(&t.memory, 3);
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("weighted:0=1,3=2", &t, &p, &err), NH_ERR_NODE_NO_MEMORY);
    assert_non_null(strstr(err.msg, "node 3 has no memory"));
    assert_int_equal(policy_parse("weighted:3", &t, &p, &err), NH_ERR_NODE_NO_MEMORY);
    assert_int_equal(policy_parse("weighted:2-3=4", &t, &p, &err), NH_ERR_NODE_NO_MEMORY);
    assert_int_equal(policy_parse("weighted:0=1,2=2", &t, &p, &err), 0);
    assert_int_equal(policy_parse("weighted:auto", &t, &p, &err), 0);
    assert_false(nh_nodemask_isset(&p.nodes, 3));
    assert_true(nh_nodemask_isset(&p.nodes, 2));
    policy_init(&p, NH_MPOL_WEIGHTED_INTERLEAVE); /* the struct form too */
    nh_nodemask_set(&p.nodes, 3);
    p.weights[3] = 5;
    assert_int_equal(policy_validate(&p, &t, &err), NH_ERR_NODE_NO_MEMORY);
}

/* weighted:auto: the kernel's weights where it computes them, else HMAT bandwidth (min of read
 * and write, scaled and reduced), else equal. Fake sysfs trees. */
static void auto_weights_sources(void **s) {
    char dir[64] = "/tmp/nh-weights-XXXXXX", wi[128], nodes_dir[128];
    assert_non_null(mkdtemp(dir));
    snprintf(wi, sizeof wi, "%s/wi", dir);
    snprintf(nodes_dir, sizeof nodes_dir, "%s/node", dir);
    fake_topo_write(dir, "wi/node0", "1\n");
    fake_topo_write(dir, "node/node0/access0/initiators/read_bandwidth", "30000\n");
    fake_topo_write(dir, "node/node0/access0/initiators/write_bandwidth", "40000\n");
    fake_topo_write(dir, "node/node1/access0/initiators/read_bandwidth", "10000\n");
    fake_topo_write(dir, "node/node1/access0/initiators/write_bandwidth", "10000\n");
    nh_nodemask_t two, three;
    mask_zero(&two);
    nh_nodemask_set(&two, 0);
    nh_nodemask_set(&two, 1);
    three = two;
    nh_nodemask_set(&three, 2);
    uint8_t w[NH_MAX_NODES] = {0};
    assert_int_equal(weights_auto(wi, nodes_dir, &two, w), NH_WEIGHTS_HMAT);
    assert_int_equal(w[0], 3); /* 30000 : 10000 */
    assert_int_equal(w[1], 1);
    assert_int_equal(weights_auto(wi, nodes_dir, &three, w), NH_WEIGHTS_EQUAL); /* no node 2 */
    assert_int_equal(w[0], 1);
    assert_int_equal(w[2], 1);
    fake_topo_write(dir, "wi/auto", "true\n");
    assert_int_equal(weights_auto(wi, nodes_dir, &two, w), NH_WEIGHTS_KERNEL);
    assert_int_equal(w[0], 0); /* the kernel's system-wide weights */
    assert_int_equal(w[1], 0);
    fake_topo_remove(dir);
    /* the compact form: every usable node of the (fake) machine */
    nh_policy_t p;
    nh_error_t err;
    assert_int_equal(policy_parse("weighted:auto", &topo, &p, &err), 0);
    assert_int_equal(p.mode, NH_MPOL_WEIGHTED_INTERLEAVE);
    nh_nodemask_t usable;
    topo_usable(&topo, &usable);
    assert_true(mask_equal(&p.nodes, &usable));
    assert_int_equal(policy_parse("bind:auto", &topo, &p, &err), NH_ERR_SYNTAX);
}

static void rule_node_beyond_maximum(void **s) {
    assert_int_equal(parse_rc("bind:8"), NH_ERR_NODE_RANGE);
    nh_policy_t p;
    policy_init(&p, NH_MPOL_BIND);
    nh_nodemask_set(&p.nodes, 900);
    assert_int_equal(policy_validate(&p, &topo, NULL), NH_ERR_NODE_RANGE);
    assert_int_equal(parse_rc("bind:9/relative"), NH_ERR_NODE_RANGE); /* relative: still <= max */
}

static void rule_node_without_memory(void **s) {
    topo_t t = topo;
    nh_nodemask_clear(&t.memory, 3);
    nh_policy_t p;
    nh_error_t err;
    nh_nodemask_t one;
    memset(&one, 0, sizeof one);
    policy_init(&p, NH_MPOL_BIND);
    nh_nodemask_set(&p.nodes, 3);
    assert_int_equal(policy_validate(&p, &t, &err), NH_ERR_NODE_NO_MEMORY);
    assert_int_equal(policy_parse("bind:2", &t, &p, &err), 0);
}

static void rule_mode_and_flag_names_exact(void **s) {
    assert_int_equal(oci_rc("MPOL_BIND", "0", NULL, NULL), 0);
    assert_int_equal(oci_rc("MPOL_bind", "0", NULL, NULL), NH_ERR_MODE);
    assert_int_equal(oci_rc("bind", "0", NULL, NULL), NH_ERR_MODE);
    assert_int_equal(oci_rc("MPOL_BIND ", "0", NULL, NULL), NH_ERR_MODE);
    assert_int_equal(oci_rc(NULL, "0", NULL, NULL), NH_ERR_MODE);
    assert_int_equal(oci_rc("MPOL_BIND", "0", "MPOL_F_STATIC", NULL), NH_ERR_FLAG);
    assert_int_equal(oci_rc("MPOL_BIND", "0", "static", NULL), NH_ERR_FLAG);
    assert_int_equal(oci_rc("MPOL_BIND", "0", "", NULL), NH_ERR_FLAG);
    nh_policy_t p;
    nh_error_t err;
    const char *f[] = {"MPOL_F_BOGUS"};
    assert_int_equal(policy_from_oci("MPOL_BIND", "0", f, 1, &topo, &p, &err), NH_ERR_FLAG);
    assert_non_null(strstr(err.msg, "MPOL_F_BOGUS"));
    assert_int_equal(policy_from_oci("MPOL_BINDX", "0", NULL, 0, &topo, &p, &err), NH_ERR_MODE);
    assert_non_null(strstr(err.msg, "MPOL_BINDX"));
}

static void rule_weights(void **s) {
    assert_int_equal(parse_rc("weighted:0=1,1=255"), 0);
    assert_int_equal(parse_rc("weighted:0=0"), NH_ERR_WEIGHT);
    assert_int_equal(parse_rc("weighted:0=256"), NH_ERR_WEIGHT);
    assert_int_equal(parse_rc("weighted:0=-1"), NH_ERR_SYNTAX);
    nh_policy_t p;
    policy_init(&p, NH_MPOL_INTERLEAVE);
    nh_nodemask_set(&p.nodes, 0);
    p.weights[0] = 2;
    assert_int_equal(policy_validate(&p, &topo, NULL), NH_ERR_WEIGHT); /* weights on interleave */
    p.mode = NH_MPOL_WEIGHTED_INTERLEAVE;
    assert_int_equal(policy_validate(&p, &topo, NULL), 0);
    nh_nodemask_set(&p.nodes, 1); /* node 1 without a weight while others have one */
    assert_int_equal(policy_validate(&p, &topo, NULL), NH_ERR_WEIGHT);
}

static void rule_struct_mode_and_flag_bits(void **s) {
    nh_policy_t p;
    policy_init(&p, 77);
    assert_int_equal(policy_validate(&p, &topo, NULL), NH_ERR_MODE);
    policy_init(&p, -1);
    assert_int_equal(policy_validate(&p, &topo, NULL), NH_ERR_MODE);
    policy_init(&p, NH_MPOL_BIND);
    nh_nodemask_set(&p.nodes, 0);
    p.flags = 1;
    assert_int_equal(policy_validate(&p, &topo, NULL), NH_ERR_FLAG);
}

/* ---- OCI, formatting, robustness -------------------------------------------------------- */

static void oci_all_modes(void **s) {
    const char *kernel[] = {"MPOL_DEFAULT",
                            "MPOL_PREFERRED",
                            "MPOL_BIND",
                            "MPOL_INTERLEAVE",
                            "MPOL_LOCAL",
                            "MPOL_PREFERRED_MANY",
                            "MPOL_WEIGHTED_INTERLEAVE"};
    for (int m = 0; m < NH_MPOL_MODE_COUNT_; m++) {
        nh_policy_t p;
        bool nodeless = m == NH_MPOL_DEFAULT || m == NH_MPOL_LOCAL;
        assert_int_equal(
            policy_from_oci(kernel[m], nodeless ? "" : "0-1", NULL, 0, &topo, &p, NULL), 0);
        assert_int_equal(p.mode, m);
        assert_string_equal(policy_mode_kernel(m), kernel[m]);
    }
}

static void oci_matches_compact(void **s) {
    nh_policy_t a, b;
    const char *flags[] = {"MPOL_F_STATIC_NODES"};
    assert_int_equal(policy_from_oci("MPOL_INTERLEAVE", "0-1,3", flags, 1, &topo, &a, NULL), 0);
    assert_int_equal(policy_parse("interleave:0-1,3/static", &topo, &b, NULL), 0);
    assert_true(nh_policy_equal(&a, &b));
}

static void format_round_trip(void **s) {
    const char *cases[] = {"default",
                           "local",
                           "preferred",
                           "preferred:2",
                           "bind:0-3",
                           "bind:1/static",
                           "bind:0,2/relative",
                           "bind:0-1/balancing",
                           "interleave:0,3",
                           "preferred-many:1-2",
                           "weighted:0-3",
                           "weighted:0=9,2=1",
                           "weighted:0=255,1=1,2=2,3=3"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nh_policy_t a, b;
        char buf[512];
        assert_int_equal(policy_parse(cases[i], &topo, &a, NULL), 0);
        int n = policy_format(&a, buf, sizeof buf);
        assert_int_equal(n, strlen(buf));
        assert_string_equal(buf, cases[i]); /* these are already canonical */
        assert_int_equal(policy_parse(buf, &topo, &b, NULL), 0);
        assert_true(nh_policy_equal(&a, &b));
    }
}

static void format_reports_needed_length(void **s) {
    nh_policy_t p;
    assert_int_equal(policy_parse("interleave:0-3/static", &topo, &p, NULL), 0);
    char tiny[5];
    int need = policy_format(&p, tiny, sizeof tiny);
    assert_int_equal(need, strlen("interleave:0-3/static"));
    assert_string_equal(tiny, "inte");
}

static void equal_compares_weights_only_when_weighted(void **s) {
    nh_policy_t a, b;
    policy_parse("weighted:0=1,1=2", &topo, &a, NULL);
    policy_parse("weighted:0=1,1=3", &topo, &b, NULL);
    assert_false(nh_policy_equal(&a, &b));
    policy_parse("bind:0-1", &topo, &a, NULL);
    policy_parse("bind:0,1", &topo, &b, NULL);
    assert_true(nh_policy_equal(&a, &b));
}

static void random_input_never_crashes(void **s) {
    const char alphabet[] = "0123456789-,:/!+=abdefgilnprstvwy_ \xff";
    unsigned seed = 12345;
    char text[64];
    int accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(rand_r(&seed) % 24);
        for (size_t i = 0; i < n; i++)
            text[i] = alphabet[(size_t)rand_r(&seed) % (sizeof alphabet - 1)];
        text[n] = '\0';
        if (iter % 3 == 0 && n > 3) memcpy(text, "bind:", 5 < n ? 5 : n);
        nh_policy_t p, q;
        nh_error_t err;
        int rc = policy_parse(text, &topo, &p, &err);
        assert_true(rc >= 0 && rc < NH_ERR_COUNT_);
        if (rc == 0) {
            char buf[512];
            policy_format(&p, buf, sizeof buf);
            assert_int_equal(policy_parse(buf, &topo, &q, NULL), 0);
            assert_true(nh_policy_equal(&p, &q));
            accepted++;
        } else {
            assert_true(err.pos >= -1 && err.pos <= (int)n);
        }
    }
    assert_true(accepted > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_default_and_local),
        cmocka_unit_test(parse_preferred),
        cmocka_unit_test(parse_bind_interleave),
        cmocka_unit_test(parse_preferred_many),
        cmocka_unit_test(parse_weighted),
        cmocka_unit_test(parse_flags),
        cmocka_unit_test(parse_syntax_errors),
        cmocka_unit_test(parse_unknown_mode_names_token),
        cmocka_unit_test(parse_unknown_flag_names_token),
        cmocka_unit_test(parse_too_long),
        cmocka_unit_test(rule_balancing_only_with_bind),
        cmocka_unit_test(rule_static_relative_exclusive),
        cmocka_unit_test(rule_default_local_take_no_nodes),
        cmocka_unit_test(rule_default_local_take_no_flags),
        cmocka_unit_test(rule_preferred_local_no_static_relative),
        cmocka_unit_test(rule_modes_need_nodes),
        cmocka_unit_test(rule_nodes_must_exist),
        cmocka_unit_test(rule_nodes_must_be_allowed),
        cmocka_unit_test(effective_nodes_static_relative),
        cmocka_unit_test(rule_static_nodes_may_wait_for_the_cpuset),
        cmocka_unit_test(rebind_follows_the_kernel),
        cmocka_unit_test(rebind_carries_weights),
        cmocka_unit_test(rule_weights_over_memoryless_nodes),
        cmocka_unit_test(auto_weights_sources),
        cmocka_unit_test(rule_node_beyond_maximum),
        cmocka_unit_test(rule_node_without_memory),
        cmocka_unit_test(rule_mode_and_flag_names_exact),
        cmocka_unit_test(rule_weights),
        cmocka_unit_test(rule_struct_mode_and_flag_bits),
        cmocka_unit_test(oci_all_modes),
        cmocka_unit_test(oci_matches_compact),
        cmocka_unit_test(format_round_trip),
        cmocka_unit_test(format_reports_needed_length),
        cmocka_unit_test(equal_compares_weights_only_when_weighted),
        cmocka_unit_test(random_input_never_crashes),
    };
    return cmocka_run_group_tests_name("policy", tests, fake_topo_group_setup,
                                       fake_topo_group_teardown);
}
