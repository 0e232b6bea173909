/* Reading an OCI runtime-spec config.json (json-c) for its linux.memoryPolicy: the JSON, the
 * types of the fields, the cpuset list format the spec requires for nodes, then numaheap's
 * policy validator. Every error names the field at fault. Only the CLI links json-c. */
#include "cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static const char *const oci_flags[] = {"MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES",
                                        "MPOL_F_NUMA_BALANCING"};
#define MAX_FLAGS 16

static const char *type_name(struct json_object *o) {
    switch (json_object_get_type(o)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
    case json_type_int:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "something else";
}

int cli_oci_fields(const char *prefix, const char *mode, const char *nodes,
                   const char *const *flags, size_t nflags, nh_policy_t *out, char *error,
                   size_t len) {
    uint64_t bits[NH_MAX_NODES / 64] = {0};
    int bad;
    int rc = cli_parse_list(nodes, bits, NH_MAX_NODES, &bad);
    if (rc) {
        if (rc == -2) {
            int lo = bad - 2; /* bad is the range's upper number: find its lower one */
            while (lo > 0 && nodes[lo - 1] >= '0' && nodes[lo - 1] <= '9')
                lo--;
            snprintf(error, len,
                     "%snodes: '%s': range %.*s is reversed (write the lower node first)", prefix,
                     nodes, (int)strcspn(nodes + lo, ","), nodes + lo);
        } else if (nodes[bad] >= '0' && nodes[bad] <= '9')
            snprintf(error, len, "%snodes: '%s': node out of range (the kernel's maximum is %d)",
                     prefix, nodes, NH_MAX_NODES - 1);
        else
            snprintf(error, len,
                     "%snodes: '%s' is not a cpuset list (numbers, ranges N-M and commas; "
                     "unexpected %s%.1s%s at position %d)",
                     prefix, nodes, nodes[bad] ? "'" : "end", nodes + bad, nodes[bad] ? "'" : "",
                     bad);
        return 1;
    }
    nh_error_t err;
    rc = nh_policy_from_oci(mode, nodes, flags, nflags, out, &err);
    if (!rc) return 0;
    char field[64] = "";
    switch (err.code) {
    case NH_ERR_MODE:
        snprintf(field, sizeof field, "mode");
        break;
    case NH_ERR_FLAG:
        for (size_t i = 0; i < nflags && !field[0]; i++) {
            int known = 0;
            for (size_t k = 0; k < sizeof oci_flags / sizeof *oci_flags; k++)
                known |= !strcmp(flags[i], oci_flags[k]);
            if (!known) snprintf(field, sizeof field, "flags[%zu]", i);
        }
        if (!field[0]) snprintf(field, sizeof field, "flags");
        break;
    case NH_ERR_FLAGS_EXCLUSIVE:
    case NH_ERR_BALANCING_MODE:
    case NH_ERR_FLAGS_FORBIDDEN:
        snprintf(field, sizeof field, "flags");
        break;
    case NH_ERR_UNSUPPORTED:
        snprintf(field, sizeof field, "%s", nflags ? "flags" : "mode");
        break;
    default:
        snprintf(field, sizeof field, "nodes");
        break;
    }
    snprintf(error, len, "%s%s: %s (%s)", prefix, field, err.msg, nh_strerror(rc));
    return 1;
}

/* The string member key of o into *out; absent leaves *out. 0, or 1 after an error report. */
static int get_string(struct json_object *o, const char *key, const char **out, char *error,
                      size_t len) {
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v)) return 0;
    if (!json_object_is_type(v, json_type_string)) {
        snprintf(error, len, "linux.memoryPolicy.%s: expected a string, got %s", key, type_name(v));
        return 1;
    }
    *out = json_object_get_string(v);
    return 0;
}

static int check_policy(struct json_object *mp, cli_oci_result_t *r) {
    const size_t len = sizeof r->error;
    if (!json_object_is_type(mp, json_type_object))
        return snprintf(r->error, len, "linux.memoryPolicy: expected an object, got %s",
                        type_name(mp)),
               1;
    const char *mode = NULL, *nodes = "";
    if (get_string(mp, "mode", &mode, r->error, len) ||
        get_string(mp, "nodes", &nodes, r->error, len))
        return 1;
    if (!mode) return snprintf(r->error, len, "linux.memoryPolicy.mode: missing (required)"), 1;
    const char *flags[MAX_FLAGS];
    size_t nflags = 0;
    struct json_object *fl;
    if (json_object_object_get_ex(mp, "flags", &fl)) {
        if (!json_object_is_type(fl, json_type_array))
            return snprintf(r->error, len,
                            "linux.memoryPolicy.flags: expected an array of strings, got %s",
                            type_name(fl)),
                   1;
        nflags = json_object_array_length(fl);
        if (nflags > MAX_FLAGS)
            return snprintf(r->error, len, "linux.memoryPolicy.flags: %zu flags, at most %d",
                            nflags, MAX_FLAGS),
                   1;
        for (size_t i = 0; i < nflags; i++) {
            struct json_object *f = json_object_array_get_idx(fl, i);
            if (!json_object_is_type(f, json_type_string))
                return snprintf(r->error, len,
                                "linux.memoryPolicy.flags[%zu]: expected a string, got %s", i,
                                type_name(f)),
                       1;
            flags[i] = json_object_get_string(f);
        }
    }
    if (cli_oci_fields("linux.memoryPolicy.", mode, nodes, flags, nflags, &r->policy, r->error,
                       len))
        return 1;
    r->has_policy = 1;
    return 0;
}

/* The whole file into a NUL-terminated buffer (freed by the caller), or NULL with errno. */
static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f) || n < cap - 1) break;
        char *bigger = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
        if (!bigger) errno = EFBIG;
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    int bad = !buf || ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        errno = saved ? saved : EIO;
        return NULL;
    }
    buf[n] = 0;
    *size = n;
    return buf;
}

/* Line and column (from 1) of byte offset off in text. */
static void position(const char *text, size_t off, int *line, int *col) {
    *line = 1, *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n')
            ++*line, *col = 1;
        else
            ++*col;
    }
}

int cli_oci_read(const char *path, cli_oci_result_t *r) {
    memset(r, 0, sizeof *r);
    size_t size;
    char *text = slurp(path, &size);
    if (!text) return snprintf(r->error, sizeof r->error, "%s", strerror(errno)), -1;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = tok ? json_tokener_parse_ex(tok, text, (int)size) : NULL;
    size_t end = tok ? json_tokener_get_parse_end(tok) : 0;
    int rc = 0, line, col;
    if (!tok) {
        rc = -1;
        snprintf(r->error, sizeof r->error, "%s", strerror(ENOMEM));
    } else if (!root || text[end + strspn(text + end, " \t\r\n")]) {
        enum json_tokener_error e = json_tokener_get_error(tok);
        size_t at = end;
        position(text, at, &line, &col);
        if (root)
            snprintf(r->error, sizeof r->error,
                     "not valid JSON: text after the end at line %d, "
                     "column %d",
                     line, col);
        else if (e == json_tokener_continue || at >= size)
            snprintf(r->error, sizeof r->error,
                     "not valid JSON: unexpected end of file "
                     "(truncated?)");
        else
            snprintf(r->error, sizeof r->error, "not valid JSON: %s at line %d, column %d",
                     json_tokener_error_desc(e), line, col);
        rc = 1;
    } else if (!json_object_is_type(root, json_type_object)) {
        snprintf(r->error, sizeof r->error, "expected a JSON object at the top, got %s",
                 type_name(root));
        rc = 1;
    } else {
        struct json_object *linux_, *mp;
        if (json_object_object_get_ex(root, "linux", &linux_)) {
            if (!json_object_is_type(linux_, json_type_object)) {
                snprintf(r->error, sizeof r->error, "linux: expected an object, got %s",
                         type_name(linux_));
                rc = 1;
            } else if (json_object_object_get_ex(linux_, "memoryPolicy", &mp)) {
                rc = check_policy(mp, r);
            }
        }
    }
    json_object_put(root);
    if (tok) json_tokener_free(tok);
    free(text);
    return rc;
}
