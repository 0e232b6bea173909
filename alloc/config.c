/* NUMAHEAP_* settings: one table (name, default, doc), read by scanning environ because this
 * runs inside the first malloc, before libc may be ready for getenv. A bad value gets one
 * warning line naming the variable and value, and the default stays. Under secure execution
 * (setuid, AT_SECURE) every setting is ignored. */
#include "alloc_internal.h"

#include <stdarg.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

#define VALUE_MAX               4096
#define DEFAULT_LARGE_THRESHOLD (64ul << 20)
#define DEFAULT_REGION_SIZE     (1ul << 40)
#define DEFAULT_DECAY_MS        1000

typedef enum { T_BOOL, T_UINT, T_SIZE, T_POLICY } kind_t;

static const struct setting {
    const char *name;
    kind_t kind;
    uint64_t min, max;
    const char *doc;
} settings[] = {
    {"NUMAHEAP_POLICY", T_POLICY, 0, 0, "placement of small objects (default local)"},
    {"NUMAHEAP_ARENAS_PER_NODE", T_UINT, 0, NH_MAX_ARENAS_PER_NODE,
     "0 = four per CPU of the node, as jemalloc"},
    {"NUMAHEAP_STRICT", T_BOOL, 0, 1, "bind regions and populate commits: ENOMEM, not OOM"},
    {"NUMAHEAP_LARGE_THRESHOLD", T_SIZE, 4096, 1ull << 40, "objects from this size are large"},
    {"NUMAHEAP_LARGE_POLICY", T_POLICY, 0, 0,
     "spreading of large objects (default interleave:all)"},
    {"NUMAHEAP_STATS", T_BOOL, 0, 1, "print per-node statistics at exit"},
    {"NUMAHEAP_VERBOSE", T_BOOL, 0, 1, "report fallbacks and decisions on stderr"},
    {"NUMAHEAP_REROUTE_CHECKS", T_UINT, 1, 1000, "off-node sightings before a thread moves"},
    {"NUMAHEAP_REGION_SIZE", T_SIZE, 1ull << 30, 1ull << 44, "virtual bytes per node (power of 2)"},
    {"NUMAHEAP_DECAY_MS", T_UINT, 0, 3600000,
     "ms a freed span stays resident before it is purged (numaheap engine)"},
    {"NUMAHEAP_EXPLICIT_COMMIT", T_BOOL, 0, 1,
     "commit pieces with mprotect (forced by overcommit 2)"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static bool verbose;

static void vlog(const char *fmt, va_list ap) {
    char buf[512];
    int n = fmt_vbuf(buf, sizeof buf, fmt, ap);
    ssize_t w = write(2, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1));
    (void)w;
}

void log_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void log_verbose(const char *fmt, ...) {
    if (!verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

/* "64K", "2M", "1G", "4096": false on garbage or overflow. */
static bool config_parse_size(const char *s, size_t *out) {
    size_t n = strnlen(s, 32);
    if (n == 0 || n >= 32) return false;
    uint64_t mult = 1;
    char last = s[n - 1];
    if (last == 'k' || last == 'K') mult = 1ull << 10;
    if (last == 'm' || last == 'M') mult = 1ull << 20;
    if (last == 'g' || last == 'G') mult = 1ull << 30;
    if (last == 't' || last == 'T') mult = 1ull << 40;
    uint64_t v;
    if (!fmt_parse_u64(s, mult > 1 ? n - 1 : n, UINT64_MAX / mult, &v)) return false;
    *out = (size_t)(v * mult);
    return true;
}

static bool parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"1", "on", "yes", "true"}, *const no[] = {"0", "off", "no",
                                                                                "false"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, yes[i])) return *out = true, true;
        if (!strcmp(s, no[i])) return *out = false, true;
    }
    return false;
}

/* Applies one value; returns why it was refused, NULL if accepted. */
static const char *apply(config_t *c, const struct setting *st, const char *v, const topo_t *t,
                         nh_error_t *err) {
    char *why = err->msg;
    bool b;
    size_t sz;
    uint64_t u;
    switch (st->kind) {
    case T_BOOL:
        if (!parse_bool(v, &b)) return "expected 0/1/on/off/yes/no/true/false";
        if (!strcmp(st->name, "NUMAHEAP_STRICT"))
            c->strict = b;
        else if (!strcmp(st->name, "NUMAHEAP_STATS"))
            c->stats_at_exit = b;
        else if (!strcmp(st->name, "NUMAHEAP_VERBOSE"))
            c->verbose = b;
        else
            c->explicit_commit = b;
        return NULL;
    case T_UINT:
        if (!fmt_parse_u64(v, strlen(v), UINT32_MAX, &u) || u < st->min || u > st->max)
            return fmt_buf(why, sizeof err->msg, "expected a whole number from %llu to %llu",
                           (unsigned long long)st->min, (unsigned long long)st->max),
                   why;
        if (!strcmp(st->name, "NUMAHEAP_ARENAS_PER_NODE"))
            c->arenas_per_node = (unsigned)u;
        else if (!strcmp(st->name, "NUMAHEAP_DECAY_MS"))
            c->decay_ms = (unsigned)u;
        else
            c->reroute_checks = (unsigned)u;
        return NULL;
    case T_SIZE:
        if (!config_parse_size(v, &sz) || sz < st->min || sz > st->max)
            return fmt_buf(why, sizeof err->msg,
                           "expected a size (bytes, or with K/M/G/T) from %llu to %llu",
                           (unsigned long long)st->min, (unsigned long long)st->max),
                   why;
        if (!strcmp(st->name, "NUMAHEAP_REGION_SIZE")) {
            if (sz & (sz - 1)) return "expected a power of two";
            c->region_size = sz;
        } else {
            c->large_threshold = sz;
        }
        return NULL;
    case T_POLICY: {
        bool large = !strcmp(st->name, "NUMAHEAP_LARGE_POLICY");
        nh_policy_t p;
        if (policy_parse(v, t, &p, err)) return err->msg;
        if (large && p.mode != NH_MPOL_INTERLEAVE && p.mode != NH_MPOL_WEIGHTED_INTERLEAVE)
            return "expected an interleave or weighted policy";
        if (large) {
            c->large_policy = p;
        } else {
            c->policy = p;
            c->policy_set = true;
        }
        return NULL;
    }
    }
    return "?";
}

static void defaults(config_t *c) {
    memset(c, 0, sizeof *c);
    policy_init(&c->policy, NH_MPOL_LOCAL);
    policy_init(&c->large_policy, NH_MPOL_INTERLEAVE); /* nodes filled in: all of the heap's */
    c->large_threshold = DEFAULT_LARGE_THRESHOLD;
    c->reroute_checks = 4;
    c->decay_ms = DEFAULT_DECAY_MS;
    c->region_size = DEFAULT_REGION_SIZE;
}

void config_load(config_t *c, char *const *envp, const topo_t *t) {
    defaults(c);
    if (!envp) envp = environ;
    c->secure = getauxval(AT_SECURE) != 0;
    for (; envp && *envp && !c->secure; envp++) {
        const char *e = *envp;
        if (strncmp(e, "NUMAHEAP_", 9) != 0) continue;
        const char *eq = strchr(e, '=');
        if (!eq) continue;
        size_t nlen = (size_t)(eq - e);
        const char *v = eq + 1;
        if (nlen == 11 && !strncmp(e, "NUMAHEAP_JE", 11)) continue; /* embedded jemalloc's own */
        const struct setting *st = NULL;
        for (size_t i = 0; i < NSETTINGS && !st; i++)
            if (strlen(settings[i].name) == nlen && !strncmp(settings[i].name, e, nlen))
                st = &settings[i];
        size_t vlen = strnlen(v, VALUE_MAX + 1);
        char shown[72]; /* long values are shown cut, ending in "..." */
        fmt_buf(shown, sizeof shown, "%s", v);
        if (vlen > 64) fmt_buf(shown + 61, sizeof shown - 61, "...");
        if (!st) {
            char name[64];
            fmt_buf(name, nlen < sizeof name ? nlen + 1 : sizeof name, "%s", e);
            log_warn("numaheap: warning: %s='%s' ignored (no such setting)\n", name, shown);
            continue;
        }
        nh_error_t err = {0};
        const char *why = vlen > VALUE_MAX ? "longer than 4096 bytes"
                          : !*v            ? "empty"
                                           : apply(c, st, v, t, &err);
        if (why)
            log_warn("numaheap: warning: %s='%s' ignored (%s); using the default\n", st->name,
                     shown, why);
    }
    /* The policy the process inherited (numactl, a container) is the default's default. */
    if (!c->policy_set &&
        (t->inherited_mode == NH_MPOL_BIND || t->inherited_mode == NH_MPOL_INTERLEAVE ||
         t->inherited_mode == NH_MPOL_WEIGHTED_INTERLEAVE ||
         t->inherited_mode == NH_MPOL_PREFERRED_MANY ||
         (t->inherited_mode == NH_MPOL_PREFERRED && !mask_empty(&t->inherited_nodes)))) {
        c->policy.mode = t->inherited_mode;
        c->policy.nodes = t->inherited_nodes;
    }
    if (c->strict || os_overcommit_mode() == 2) c->explicit_commit = true;
    verbose = c->verbose;
}
