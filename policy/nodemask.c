/* Node masks: bit operations, the kernel's list format ("0-3,5") and libnuma's node-string
 * grammar ("all", "!" inversion, "+" relative), with errors that name the bad position. */
#include "policy_internal.h"

#include <string.h>

#define NODESTRING_MAX 4096

void mask_zero(nh_nodemask_t *m) {
    memset(m, 0, sizeof *m);
}

bool mask_empty(const nh_nodemask_t *m) {
    for (size_t i = 0; i < NH_MAX_NODES / 64; i++)
        if (m->bits[i]) return false;
    return true;
}

int mask_count(const nh_nodemask_t *m) {
    int n = 0;
    for (size_t i = 0; i < NH_MAX_NODES / 64; i++)
        n += __builtin_popcountll(m->bits[i]);
    return n;
}

bool mask_equal(const nh_nodemask_t *a, const nh_nodemask_t *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

void mask_and(nh_nodemask_t *out, const nh_nodemask_t *a, const nh_nodemask_t *b) {
    for (size_t i = 0; i < NH_MAX_NODES / 64; i++)
        out->bits[i] = a->bits[i] & b->bits[i];
}

static int bits_next(const uint64_t *bits, int nbits, int from) {
    if (from < 0) from = 0;
    for (int w = from / 64; w < nbits / 64; w++) {
        uint64_t v = bits[w];
        if (w == from / 64) v &= ~0ull << (from % 64);
        if (v) return w * 64 + __builtin_ctzll(v);
    }
    return -1;
}

int mask_next(const nh_nodemask_t *m, int from) {
    return bits_next(m->bits, NH_MAX_NODES, from);
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* One "N" or "N-M" at s[*i]; advances *i. Values above max give NH_ERR_NODE_RANGE. */
static int parse_range(const char *s, size_t n, size_t *i, int max, int *lo, int *hi, int *bad) {
    size_t start = *i, j = *i;
    while (j < n && is_digit(s[j]))
        j++;
    uint64_t a, b;
    if (j == start) return *bad = (int)start, NH_ERR_SYNTAX;
    if (!fmt_parse_u64(s + start, j - start, UINT32_MAX, &a) || a > (uint64_t)max)
        return *bad = (int)start, NH_ERR_NODE_RANGE;
    b = a;
    if (j < n && s[j] == '-') {
        size_t k = ++j;
        while (j < n && is_digit(s[j]))
            j++;
        if (j == k) return *bad = (int)k, NH_ERR_SYNTAX;
        if (!fmt_parse_u64(s + k, j - k, UINT32_MAX, &b) || b > (uint64_t)max)
            return *bad = (int)k, NH_ERR_NODE_RANGE;
        if (b < a) return *bad = (int)k, NH_ERR_SYNTAX;
    }
    *lo = (int)a;
    *hi = (int)b;
    *i = j;
    return 0;
}

int list_parse(const char *s, size_t n, uint64_t *bits, int nbits, int max_value, int *bad_pos) {
    memset(bits, 0, (size_t)nbits / 8);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    if (max_value >= nbits) max_value = nbits - 1;
    size_t i = 0;
    while (i < n) {
        int lo, hi, rc = parse_range(s, n, &i, max_value, &lo, &hi, bad_pos);
        if (rc) return rc;
        for (int v = lo; v <= hi; v++)
            bits[v / 64] |= 1ull << (v % 64);
        if (i < n) {
            if (s[i] != ',' || i + 1 == n)
                return *bad_pos = (int)(i + (s[i] == ',')), NH_ERR_SYNTAX;
            i++;
        }
    }
    return 0;
}

int list_format(const uint64_t *bits, int nbits, char *buf, size_t len) {
    size_t pos = 0;
    if (len) buf[0] = '\0';
    for (int v = bits_next(bits, nbits, 0); v >= 0;) {
        int end = v;
        while (end + 1 < nbits && ((bits[(end + 1) / 64] >> ((end + 1) % 64)) & 1))
            end++;
        char tmp[32];
        int k = end == v ? fmt_buf(tmp, sizeof tmp, "%s%d", pos ? "," : "", v)
                         : fmt_buf(tmp, sizeof tmp, "%s%d-%d", pos ? "," : "", v, end);
        if (pos + (size_t)k < len)
            memcpy(buf + pos, tmp, (size_t)k + 1);
        else if (len)
            buf[pos < len ? pos : len - 1] = '\0';
        pos += (size_t)k;
        v = end + 1 < nbits ? bits_next(bits, nbits, end + 1) : -1;
    }
    return (int)pos;
}

static int nth_set(const nh_nodemask_t *m, int k) {
    for (int v = mask_next(m, 0); v >= 0; v = mask_next(m, v + 1))
        if (k-- == 0) return v;
    return -1;
}

int nodemask_parse(const char *s, size_t off, size_t n, const topo_t *t, nh_nodemask_t *out,
                   nh_error_t *err) {
    mask_zero(out);
    if (n - off > NODESTRING_MAX)
        return policy_error(err, NH_ERR_TOO_LONG, NODESTRING_MAX, "node list longer than %d bytes",
                            NODESTRING_MAX);
    nh_nodemask_t usable;
    topo_usable(t, &usable);
    size_t i = off;
    bool invert = false, relative = false;
    if (i < n && s[i] == '!') invert = true, i++;
    if (i < n && s[i] == '+') relative = true, i++;
    if ((invert || relative) && i == n)
        return policy_error(err, NH_ERR_SYNTAX, (int)i, "node list expected after '%c'", s[i - 1]);
    int max = relative ? NH_MAX_NODES - 1 : t->max_node;
    while (i < n) {
        if (n - i >= 3 && memcmp(s + i, "all", 3) == 0 && (n - i == 3 || s[i + 3] == ',')) {
            for (size_t w = 0; w < NH_MAX_NODES / 64; w++)
                out->bits[w] |= usable.bits[w];
            i += 3;
        } else {
            int lo, hi, bad = 0, rc = parse_range(s, n, &i, max, &lo, &hi, &bad);
            if (rc == NH_ERR_SYNTAX && bad >= (int)n) /* "0-": no character to show */
                return policy_error(
                    err, rc, bad, "node list ended at position %d where a node was expected", bad);
            if (rc == NH_ERR_SYNTAX)
                return policy_error(err, rc, bad, "unexpected '%c' at position %d in node list",
                                    s[bad], bad);
            if (rc) {
                char tok[24];
                size_t k = 0;
                while (bad + (int)k < (int)n && is_digit(s[bad + k]) && k + 1 < sizeof tok)
                    tok[k] = s[bad + k], k++;
                tok[k] = '\0';
                return policy_error(err, rc, bad,
                                    "node %s at position %d is beyond the maximum node %d", tok,
                                    bad, max);
            }
            for (int v = lo; v <= hi; v++) {
                int node = v;
                if (relative && (node = nth_set(&usable, v)) < 0)
                    return policy_error(err, NH_ERR_NODE_RANGE, (int)i,
                                        "relative node +%d: only %d nodes are allowed", v,
                                        mask_count(&usable));
                nh_nodemask_set(out, node);
            }
        }
        if (i < n) {
            if (s[i] != ',')
                return policy_error(err, NH_ERR_SYNTAX, (int)i,
                                    "unexpected '%c' at position %d in node list", s[i], (int)i);
            if (++i == n)
                return policy_error(err, NH_ERR_SYNTAX, (int)i,
                                    "node list ends with ',' at position %d", (int)i - 1);
        }
    }
    if (invert)
        for (size_t w = 0; w < NH_MAX_NODES / 64; w++)
            out->bits[w] = usable.bits[w] & ~out->bits[w];
    return 0;
}

int nh_nodemask_format(const nh_nodemask_t *m, char *buf, size_t len) {
    if (!m || (!buf && len)) return -1;
    return list_format(m->bits, NH_MAX_NODES, buf, len);
}

int weights_parse(const char *s, size_t i, size_t n, const topo_t *t, nh_nodemask_t *nodes,
                  uint8_t *weights, nh_error_t *err) {
    mask_zero(nodes);
    memset(weights, 0, NH_MAX_NODES);
    if (n - i > NODESTRING_MAX)
        return policy_error(err, NH_ERR_TOO_LONG, (int)(i + NODESTRING_MAX),
                            "weight list longer than %d bytes", NODESTRING_MAX);
    while (i < n) {
        int lo, hi, bad = 0, rc = parse_range(s, n, &i, t->max_node, &lo, &hi, &bad);
        if (rc == NH_ERR_NODE_RANGE)
            return policy_error(err, rc, bad, "node at position %d is beyond the maximum node %d",
                                bad, t->max_node);
        if (rc || i >= n || s[i] != '=')
            return policy_error(err, NH_ERR_SYNTAX, rc ? bad : (int)i,
                                "expected NODE=WEIGHT at position %d", rc ? bad : (int)i);
        size_t w0 = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        uint64_t w;
        if (i == w0)
            return policy_error(err, NH_ERR_SYNTAX, (int)w0, "weight expected at position %d",
                                (int)w0);
        if (!fmt_parse_u64(s + w0, i - w0, 1000, &w) || w < 1 || w > 255)
            return policy_error(err, NH_ERR_WEIGHT, (int)w0, "weight at position %d must be 1..255",
                                (int)w0);
        for (int v = lo; v <= hi; v++) {
            if (nh_nodemask_isset(nodes, v))
                return policy_error(err, NH_ERR_SYNTAX, bad, "node %d given two weights", v);
            nh_nodemask_set(nodes, v);
            weights[v] = (uint8_t)w;
        }
        if (i < n) {
            if (s[i] != ',' || i + 1 == n)
                return policy_error(err, NH_ERR_SYNTAX, (int)i,
                                    "unexpected '%c' at position %d in weight list", s[i], (int)i);
            i++;
        }
    }
    return 0;
}
