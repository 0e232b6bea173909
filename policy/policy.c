/* The policy value: (mode, flags, nodes, weights). Parsing from the compact form and from OCI
 * memoryPolicy fields, validation (the OCI runtime spec's rules plus node existence), and
 * formatting back so that parse(format(p)) == p. */
#include "policy_internal.h"

#include <errno.h>
#include <string.h>

#define POLICY_TEXT_MAX 8192

static const struct {
    const char *name;   /* compact form */
    const char *alias;  /* also accepted */
    const char *kernel; /* OCI / kernel name */
} modes[NH_MPOL_MODE_COUNT_] = {
    [NH_MPOL_DEFAULT] = {"default", NULL, "MPOL_DEFAULT"},
    [NH_MPOL_PREFERRED] = {"preferred", NULL, "MPOL_PREFERRED"},
    [NH_MPOL_BIND] = {"bind", NULL, "MPOL_BIND"},
    [NH_MPOL_INTERLEAVE] = {"interleave", NULL, "MPOL_INTERLEAVE"},
    [NH_MPOL_LOCAL] = {"local", NULL, "MPOL_LOCAL"},
    [NH_MPOL_PREFERRED_MANY] = {"preferred-many", "preferred_many", "MPOL_PREFERRED_MANY"},
    [NH_MPOL_WEIGHTED_INTERLEAVE] = {"weighted", "weighted-interleave", "MPOL_WEIGHTED_INTERLEAVE"},
};

static const struct {
    unsigned bit;
    const char *name;
    const char *kernel;
} flags_tab[] = {
    {NH_MPOL_F_STATIC_NODES, "static", "MPOL_F_STATIC_NODES"},
    {NH_MPOL_F_RELATIVE_NODES, "relative", "MPOL_F_RELATIVE_NODES"},
    {NH_MPOL_F_NUMA_BALANCING, "balancing", "MPOL_F_NUMA_BALANCING"},
};
#define NFLAGS (sizeof flags_tab / sizeof flags_tab[0])

static const char *const errtext[NH_ERR_COUNT_] = {
    [NH_OK] = "success",
    [NH_ERR_SYNTAX] = "syntax error",
    [NH_ERR_NODE_RANGE] = "node beyond the kernel's maximum",
    [NH_ERR_NODE_MISSING] = "node not online",
    [NH_ERR_NODE_NOT_ALLOWED] = "node not allowed for this process",
    [NH_ERR_NODE_NO_MEMORY] = "node has no memory",
    [NH_ERR_MODE] = "unknown policy mode",
    [NH_ERR_FLAG] = "unknown or repeated policy flag",
    [NH_ERR_FLAGS_EXCLUSIVE] = "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES are exclusive",
    [NH_ERR_BALANCING_MODE] = "MPOL_F_NUMA_BALANCING requires MPOL_BIND",
    [NH_ERR_NODES_REQUIRED] = "mode requires at least one node",
    [NH_ERR_NODES_FORBIDDEN] = "mode takes no nodes",
    [NH_ERR_FLAGS_FORBIDDEN] = "mode takes no flags",
    [NH_ERR_WEIGHT] = "bad interleave weight",
    [NH_ERR_UNSUPPORTED] = "not supported by this kernel",
    [NH_ERR_WEIGHTS_DIFFER] = "weights differ from the kernel's system-wide weights",
    [NH_ERR_TOO_LONG] = "input too long",
};

const char *nh_strerror(int code) {
    if (code < 0) code = -code;
    return code < NH_ERR_COUNT_ ? errtext[code] : "unknown error";
}

int policy_error(nh_error_t *err, int code, int pos, const char *fmt, ...) {
    if (err) {
        err->code = code;
        err->pos = pos;
        va_list ap;
        va_start(ap, fmt);
        fmt_vbuf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *policy_mode_name(int mode) {
    return mode >= 0 && mode < NH_MPOL_MODE_COUNT_ ? modes[mode].name : "?";
}

const char *policy_mode_kernel(int mode) {
    return mode >= 0 && mode < NH_MPOL_MODE_COUNT_ ? modes[mode].kernel : "?";
}

void policy_init(nh_policy_t *p, int mode) {
    memset(p, 0, sizeof *p);
    p->mode = mode;
}

static bool has_weights(const nh_policy_t *p) {
    for (int i = 0; i < NH_MAX_NODES; i++)
        if (p->weights[i]) return true;
    return false;
}

static bool token_is(const char *s, size_t n, const char *name) {
    return name && strlen(name) == n && memcmp(s, name, n) == 0;
}

static int validate_nodes(const nh_policy_t *p, const topo_t *t, nh_error_t *err) {
    /* Static nodes name physical nodes that may be allowed later (the policy then takes them
     * up, set_mempolicy(2)), but the kernel refuses a mask of which none is allowed now. */
    bool dormant_ok = p->flags & NH_MPOL_F_STATIC_NODES;
    int first_disallowed = -1;
    for (int v = mask_next(&p->nodes, 0); v >= 0; v = mask_next(&p->nodes, v + 1)) {
        if (v > t->max_node)
            return policy_error(err, NH_ERR_NODE_RANGE, -1,
                                "node %d is beyond the kernel's maximum node %d", v, t->max_node);
        if (p->flags & NH_MPOL_F_RELATIVE_NODES) continue; /* numbered within the cpuset */
        if (!nh_nodemask_isset(&t->online, v))
            return policy_error(err, NH_ERR_NODE_MISSING, -1, "node %d is not online", v);
        if (!nh_nodemask_isset(&t->memory, v))
            return policy_error(err, NH_ERR_NODE_NO_MEMORY, -1, "node %d has no memory", v);
        if (!nh_nodemask_isset(&t->allowed, v) && !dormant_ok)
            return policy_error(err, NH_ERR_NODE_NOT_ALLOWED, -1,
                                "node %d is not allowed for this process (mems_allowed)", v);
        if (!nh_nodemask_isset(&t->allowed, v) && first_disallowed < 0) first_disallowed = v;
    }
    nh_nodemask_t now;
    mask_and(&now, &p->nodes, &t->allowed);
    if (dormant_ok && !mask_empty(&p->nodes) && mask_empty(&now))
        return policy_error(err, NH_ERR_NODE_NOT_ALLOWED, -1,
                            "none of the static nodes is allowed for this process now "
                            "(mems_allowed; node %d is not)",
                            first_disallowed);
    return 0;
}

static int validate_weights(const nh_policy_t *p, nh_error_t *err) {
    if (!has_weights(p)) return 0;
    if (p->mode != NH_MPOL_WEIGHTED_INTERLEAVE)
        return policy_error(err, NH_ERR_WEIGHT, -1, "weights given for %s",
                            policy_mode_kernel(p->mode));
    for (int v = 0; v < NH_MAX_NODES; v++) {
        bool in = nh_nodemask_isset(&p->nodes, v);
        if (in && !p->weights[v])
            return policy_error(err, NH_ERR_WEIGHT, -1, "node %d has no weight", v);
        if (!in && p->weights[v])
            return policy_error(err, NH_ERR_WEIGHT, -1, "weight for node %d, not in the nodes", v);
    }
    return 0;
}

int policy_validate(const nh_policy_t *p, const topo_t *t, nh_error_t *err) {
    if (p->mode < 0 || p->mode >= NH_MPOL_MODE_COUNT_)
        return policy_error(err, NH_ERR_MODE, -1, "unknown mode %d", p->mode);
    if (p->flags & ~NH_MPOL_F_ALL)
        return policy_error(err, NH_ERR_FLAG, -1, "unknown flag bits 0x%x",
                            p->flags & ~NH_MPOL_F_ALL);
    const char *mk = modes[p->mode].kernel;
    if ((p->flags & NH_MPOL_F_STATIC_NODES) && (p->flags & NH_MPOL_F_RELATIVE_NODES))
        return policy_error(err, NH_ERR_FLAGS_EXCLUSIVE, -1,
                            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES are mutually exclusive");
    if ((p->flags & NH_MPOL_F_NUMA_BALANCING) && p->mode != NH_MPOL_BIND)
        return policy_error(err, NH_ERR_BALANCING_MODE, -1,
                            "MPOL_F_NUMA_BALANCING requires MPOL_BIND, not %s", mk);
    bool empty = mask_empty(&p->nodes);
    switch (p->mode) {
    case NH_MPOL_DEFAULT:
    case NH_MPOL_LOCAL:
        if (!empty) return policy_error(err, NH_ERR_NODES_FORBIDDEN, -1, "%s takes no nodes", mk);
        if (p->flags) return policy_error(err, NH_ERR_FLAGS_FORBIDDEN, -1, "%s takes no flags", mk);
        break;
    case NH_MPOL_PREFERRED:
        if (empty && (p->flags & (NH_MPOL_F_STATIC_NODES | NH_MPOL_F_RELATIVE_NODES)))
            return policy_error(err, NH_ERR_FLAGS_FORBIDDEN, -1,
                                "MPOL_PREFERRED without nodes (local allocation) takes no "
                                "MPOL_F_STATIC_NODES or MPOL_F_RELATIVE_NODES");
        break;
    default: /* BIND, INTERLEAVE, PREFERRED_MANY, WEIGHTED_INTERLEAVE */
        if (empty)
            return policy_error(err, NH_ERR_NODES_REQUIRED, -1, "%s needs at least one node", mk);
    }
    int rc = validate_weights(p, err);
    return rc ? rc : validate_nodes(p, t, err);
}

static int find_flag(const char *s, size_t n, bool kernel_names) {
    for (size_t i = 0; i < NFLAGS; i++)
        if (token_is(s, n, kernel_names ? flags_tab[i].kernel : flags_tab[i].name)) return (int)i;
    return -1;
}

static int add_flag(nh_policy_t *p, const char *s, size_t n, int pos, bool kernel_names,
                    nh_error_t *err) {
    char tok[64];
    size_t k = n < sizeof tok - 1 ? n : sizeof tok - 1;
    memcpy(tok, s, k);
    tok[k] = '\0';
    int f = find_flag(s, n, kernel_names);
    if (f < 0) return policy_error(err, NH_ERR_FLAG, pos, "unknown flag '%s'", tok);
    if (p->flags & flags_tab[f].bit)
        return policy_error(err, NH_ERR_FLAG, pos, "flag '%s' given twice", tok);
    p->flags |= flags_tab[f].bit;
    return 0;
}

int policy_parse(const char *s, const topo_t *t, nh_policy_t *out, nh_error_t *err) {
    policy_init(out, NH_MPOL_DEFAULT);
    if (!s) return policy_error(err, NH_ERR_SYNTAX, 0, "no policy text");
    size_t n = strnlen(s, POLICY_TEXT_MAX + 1);
    if (n > POLICY_TEXT_MAX)
        return policy_error(err, NH_ERR_TOO_LONG, POLICY_TEXT_MAX, "policy longer than %d bytes",
                            POLICY_TEXT_MAX);
    size_t i = 0;
    while (i < n && s[i] != ':' && s[i] != '/')
        i++;
    int mode = -1;
    for (int m = 0; m < NH_MPOL_MODE_COUNT_ && mode < 0; m++)
        if (token_is(s, i, modes[m].name) || token_is(s, i, modes[m].alias)) mode = m;
    if (mode < 0) {
        char tok[48];
        size_t k = i < sizeof tok - 1 ? i : sizeof tok - 1;
        memcpy(tok, s, k);
        tok[k] = '\0';
        return policy_error(err, i ? NH_ERR_MODE : NH_ERR_SYNTAX, 0, "unknown mode '%s'", tok);
    }
    out->mode = mode;
    if (i < n && s[i] == ':') {
        size_t b = ++i;
        while (i < n && s[i] != '/')
            i++;
        if (i == b)
            return policy_error(err, NH_ERR_SYNTAX, (int)b, "node list expected at position %d",
                                (int)b);
        int rc = 0;
        if (mode == NH_MPOL_WEIGHTED_INTERLEAVE && token_is(s + b, i - b, "auto")) {
            /* every usable node, weighted by the machine (weights.c) */
            topo_usable(t, &out->nodes);
            weights_auto(NH_SYSFS_WEIGHTED, NH_SYSFS_NODES, &out->nodes, out->weights);
        } else {
            rc = mode == NH_MPOL_WEIGHTED_INTERLEAVE && memchr(s + b, '=', i - b)
                     ? weights_parse(s, b, i, t, &out->nodes, out->weights, err)
                     : nodemask_parse(s, b, i, t, &out->nodes, err);
        }
        if (rc) return rc;
    }
    while (i < n) { /* s[i] == '/' here */
        size_t b = ++i;
        while (i < n && s[i] != '/')
            i++;
        int rc = add_flag(out, s + b, i - b, (int)b, false, err);
        if (rc) return rc;
    }
    return policy_validate(out, t, err);
}

int policy_from_oci(const char *mode, const char *nodes, const char *const *flags, size_t nflags,
                    const topo_t *t, nh_policy_t *out, nh_error_t *err) {
    policy_init(out, NH_MPOL_DEFAULT);
    if (!mode) return policy_error(err, NH_ERR_MODE, -1, "mode is required");
    int m = -1;
    for (int k = 0; k < NH_MPOL_MODE_COUNT_ && m < 0; k++)
        if (strcmp(mode, modes[k].kernel) == 0) m = k;
    if (m < 0) {
        char tok[64];
        fmt_buf(tok, sizeof tok, "%s", mode);
        return policy_error(err, NH_ERR_MODE, -1, "unknown mode '%s'", tok);
    }
    out->mode = m;
    if (nodes) {
        size_t n = strnlen(nodes, POLICY_TEXT_MAX + 1);
        int rc = nodemask_parse(nodes, 0, n, t, &out->nodes, err);
        if (rc) return rc;
    }
    if (nflags && !flags) return policy_error(err, NH_ERR_FLAG, -1, "flags missing");
    for (size_t k = 0; k < nflags; k++) {
        const char *f = flags[k] ? flags[k] : "";
        int rc = add_flag(out, f, strnlen(f, 64), -1, true, err);
        if (rc) return rc;
    }
    return policy_validate(out, t, err);
}

int policy_format(const nh_policy_t *p, char *buf, size_t len) {
    char nodes[NH_MAX_NODES * 6];
    size_t pos = 0;
    if (p->mode == NH_MPOL_WEIGHTED_INTERLEAVE && has_weights(p)) {
        for (int v = mask_next(&p->nodes, 0); v >= 0; v = mask_next(&p->nodes, v + 1))
            pos += (size_t)fmt_buf(nodes + pos, sizeof nodes - pos, "%s%d=%u", pos ? "," : "", v,
                                   p->weights[v]);
    } else {
        nh_nodemask_format(&p->nodes, nodes, sizeof nodes);
    }
    char flags[64] = "";
    size_t fpos = 0;
    for (size_t i = 0; i < NFLAGS; i++)
        if (p->flags & flags_tab[i].bit)
            fpos += (size_t)fmt_buf(flags + fpos, sizeof flags - fpos, "/%s", flags_tab[i].name);
    return fmt_buf(buf, len, "%s%s%s%s", policy_mode_name(p->mode), nodes[0] ? ":" : "", nodes,
                   flags);
}

/* ---- public API ----------------------------------------------------------------------- */

static int public_rc(int rc) {
    if (!rc) return 0;
    errno = rc == NH_ERR_UNSUPPORTED ? EOPNOTSUPP : EINVAL;
    return -rc;
}

int nh_nodemask_parse(const char *text, nh_nodemask_t *out, nh_error_t *err) {
    if (!text || !out) return public_rc(policy_error(err, NH_ERR_SYNTAX, -1, "NULL argument"));
    return public_rc(
        nodemask_parse(text, 0, strnlen(text, POLICY_TEXT_MAX + 1), topo_get(), out, err));
}

int nh_policy_parse(const char *text, nh_policy_t *out, nh_error_t *err) {
    if (!out) return public_rc(policy_error(err, NH_ERR_SYNTAX, -1, "NULL argument"));
    return public_rc(policy_parse(text, topo_get(), out, err));
}

int nh_policy_from_oci(const char *mode, const char *nodes, const char *const *flags, size_t nflags,
                       nh_policy_t *out, nh_error_t *err) {
    if (!out) return public_rc(policy_error(err, NH_ERR_SYNTAX, -1, "NULL argument"));
    return public_rc(policy_from_oci(mode, nodes, flags, nflags, topo_get(), out, err));
}

int nh_policy_validate(const nh_policy_t *p, nh_error_t *err) {
    if (!p) return public_rc(policy_error(err, NH_ERR_SYNTAX, -1, "NULL argument"));
    return public_rc(policy_validate(p, topo_get(), err));
}

int nh_policy_format(const nh_policy_t *p, char *buf, size_t len) {
    if (!p || (!buf && len)) return errno = EINVAL, -EINVAL;
    return policy_format(p, buf, len);
}

int nh_policy_equal(const nh_policy_t *a, const nh_policy_t *b) {
    if (a->mode != b->mode || a->flags != b->flags || !mask_equal(&a->nodes, &b->nodes)) return 0;
    return a->mode != NH_MPOL_WEIGHTED_INTERLEAVE ||
           memcmp(a->weights, b->weights, sizeof a->weights) == 0;
}
