/* NUMAHEAP_* settings: one table (name, default, doc), read by scanning environ because this
 * runs inside the first malloc, before libc may be ready for getenv. A bad value gets one
 * warning line naming the variable and value, and the default stays. Under secure execution
 * (setuid, AT_SECURE) every setting is ignored. Also the library's log: every line carries
 * "numaheap[PROG:PID]: ", goes to a duplicate of stderr taken at init (programs like sort close
 * fd 2 before exit), and each distinct warning is printed once per process. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define VALUE_MAX               4096
#define DEFAULT_LARGE_THRESHOLD (64ul << 20)
#define DEFAULT_REGION_SIZE     (1ul << 40)
#define DEFAULT_DECAY_MS        1000

#define DEFAULT_REPAIR_PAGES 16384 /* 64 MiB of addresses audited per interval */
/* A get_mempolicy every 100 ms of allocating costs nothing measurable, and a program sees its
 * new cpuset well within the time an administrator takes to notice it. */
#define DEFAULT_CPUSET_CHECK_MS 100

typedef enum { T_BOOL, T_UINT, T_SIZE, T_POLICY, T_STATS, T_DURATION } kind_t;

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
    {"NUMAHEAP_STATS", T_STATS, 0, 1,
     "per-node statistics at exit: 1 on stderr, or a path containing '/' ('%p': the PID)"},
    {"NUMAHEAP_VERBOSE", T_BOOL, 0, 1, "report fallbacks and decisions on stderr"},
    {"NUMAHEAP_REROUTE_CHECKS", T_UINT, 1, 1000, "off-node sightings before a thread moves"},
    {"NUMAHEAP_REGION_SIZE", T_SIZE, 1ull << 30, 1ull << 44, "virtual bytes per node (power of 2)"},
    {"NUMAHEAP_DECAY_MS", T_UINT, 0, 3600000,
     "ms a freed span stays resident before it is purged (numaheap engine)"},
    {"NUMAHEAP_EXPLICIT_COMMIT", T_BOOL, 0, 1,
     "commit pieces with mprotect (forced by overcommit 2)"},
    {"NUMAHEAP_REPAIR", T_DURATION, 10, 3600000,
     "interval of the background repairer: ms, or with ms/s (default 0: off)"},
    {"NUMAHEAP_REPAIR_PAGES", T_UINT, 1, 1u << 24,
     "pages the repairer audits per interval (default 16384)"},
    {"NUMAHEAP_MIGRATE_ON_MOVE", T_BOOL, 0, 1, "a re-routed thread brings its current pages along"},
    {"NUMAHEAP_CPUSET_CHECK", T_DURATION, 1, 3600000,
     "at most how often a change of the cpuset's memory nodes is looked for (default 100ms)"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static bool verbose;

int config_bounds(const char *name, uint64_t *min, uint64_t *max) {
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].name, name)) continue;
        *min = settings[i].min;
        *max = settings[i].max;
        return 0;
    }
    return ENOENT;
}

/* ---- the log ---------------------------------------------------------------------------- */
#define LOG_FD_MIN    100 /* above the descriptors programs juggle by number */
#define WARNINGS_SEEN 64

static int log_fd = -1; /* duplicate of stderr, close-on-exec; -1: use fd 2 */
static dev_t log_dev;   /* what log_fd was, to notice a program dup2()ing onto it */
static ino_t log_ino;
static char prog_name[64] = "?"; /* basename of argv[0] (else /proc/self/comm), at init */
static uint64_t warnings_seen[WARNINGS_SEEN]; /* hashes of the warnings printed, 0 = free */

extern char *program_invocation_short_name;

static void read_comm(void) {
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, prog_name, sizeof prog_name - 1);
    close(fd);
    if (n <= 0) return (void)fmt_buf(prog_name, sizeof prog_name, "?");
    prog_name[n] = '\0';
    if (prog_name[n - 1] == '\n') prog_name[n - 1] = '\0';
}

void log_init(void) {
    int saved = errno;
    const char *p = program_invocation_short_name;
    if (p && *p)
        fmt_buf(prog_name, sizeof prog_name, "%s", p);
    else
        read_comm();
    if (log_fd >= 0) close(log_fd);
    log_fd = fcntl(2, F_DUPFD_CLOEXEC, LOG_FD_MIN);
    struct rlimit rl; /* a descriptor limit at or below 100: just under the limit */
    if (log_fd < 0 && errno == EINVAL && !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur > 16)
        log_fd = fcntl(2, F_DUPFD_CLOEXEC, (int)rl.rlim_cur - 4);
    struct stat st;
    if (log_fd >= 0 && fstat(log_fd, &st) == 0) {
        log_dev = st.st_dev;
        log_ino = st.st_ino;
    } else if (log_fd >= 0) {
        close(log_fd);
        log_fd = -1;
    }
    errno = saved;
}

int log_fd_get(void) {
    struct stat st;
    if (log_fd >= 0 && fstat(log_fd, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino)
        return log_fd;
    return 2; /* never taken, or the program replaced it: its stderr is all there is */
}

const char *log_prog_name(void) {
    return prog_name;
}

/* True the first time text is seen in this process (a table of FNV-1a hashes; when full,
 * everything counts as new). */
static bool first_time(const char *text) {
    uint64_t h = 1469598103934665603ull;
    for (const char *c = text; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    if (!h) h = 1;
    for (int i = 0; i < WARNINGS_SEEN; i++) {
        uint64_t cur = __atomic_load_n(&warnings_seen[i], __ATOMIC_ACQUIRE);
        if (cur == h) return false;
        if (cur) continue;
        if (__atomic_compare_exchange_n(&warnings_seen[i], &cur, h, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return true;
        if (cur == h) return false; /* another thread just recorded the same text */
    }
    return true;
}

static void vlog(bool once, const char *fmt, va_list ap) {
    int saved = errno;
    char text[512], line[600];
    fmt_vbuf(text, sizeof text, fmt, ap);
    const char *body = text;
    if (!strncmp(body, "numaheap: ", 10)) body += 10; /* the prefix below replaces it */
    if (!once || first_time(body)) {
        int n = fmt_buf(line, sizeof line, "numaheap[%s:%d]: %s", prog_name, (int)getpid(), body);
        if (n >= (int)sizeof line) n = (int)sizeof line - 1;
        ssize_t w = write(log_fd_get(), line, (size_t)n);
        (void)w;
    }
    errno = saved;
}

void log_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(true, fmt, ap);
    va_end(ap);
}

void log_verbose(const char *fmt, ...) {
    if (!verbose) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(false, fmt, ap);
    va_end(ap);
}

/* ---- settings --------------------------------------------------------------------------- */
/* "250", "250ms", "2s" (milliseconds unless told), "0" or "off": false on garbage or overflow. */
static bool parse_duration_ms(const char *s, uint64_t *out) {
    if (!strcmp(s, "off")) return *out = 0, true;
    size_t n = strnlen(s, 32);
    uint64_t mult = 1;
    if (n > 2 && !strcmp(s + n - 2, "ms"))
        n -= 2;
    else if (n > 1 && s[n - 1] == 's')
        n -= 1, mult = 1000;
    if (n >= 32 || !fmt_parse_u64(s, n, UINT32_MAX / mult, out)) return false;
    *out *= mult;
    return true;
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
        else if (!strcmp(st->name, "NUMAHEAP_VERBOSE"))
            c->verbose = b;
        else if (!strcmp(st->name, "NUMAHEAP_MIGRATE_ON_MOVE"))
            c->migrate_on_move = b;
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
        else if (!strcmp(st->name, "NUMAHEAP_REPAIR_PAGES"))
            c->repair_pages = (unsigned)u;
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
    case T_DURATION:
        if (!parse_duration_ms(v, &u) || (u && (u < st->min || u > st->max)))
            return fmt_buf(why, sizeof err->msg,
                           "expected 0/off or a number of ms (or with ms/s) from %llu to %llu",
                           (unsigned long long)st->min, (unsigned long long)st->max),
                   why;
        if (!strcmp(st->name, "NUMAHEAP_CPUSET_CHECK"))
            c->cpuset_check_ms = (unsigned)u;
        else
            c->repair_ms = (unsigned)u;
        return NULL;
    case T_STATS: /* a switch, or a path: a value with a '/' in it ("./stats", "/tmp/s.%p") */
        if (parse_bool(v, &b)) {
            c->stats_at_exit = b;
            c->stats_path[0] = '\0';
            return NULL;
        }
        if (!strchr(v, '/')) return "expected 0/1/on/off/yes/no/true/false or a path with a '/'";
        if (strlen(v) >= sizeof c->stats_path)
            return fmt_buf(why, sizeof err->msg, "a path longer than %zu bytes",
                           sizeof c->stats_path - 1),
                   why;
        fmt_buf(c->stats_path, sizeof c->stats_path, "%s", v);
        c->stats_at_exit = true;
        return NULL;
    case T_POLICY: {
        bool large = !strcmp(st->name, "NUMAHEAP_LARGE_POLICY");
        nh_policy_t p;
        if (policy_parse(v, t, &p, err)) return err->msg;
        /* the flag is the kernel's to act on: a kernel without it cannot honour the policy */
        if ((p.flags & NH_MPOL_F_NUMA_BALANCING) && !kernel_caps()->numa_balancing)
            return "MPOL_F_NUMA_BALANCING is not supported by this kernel";
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

/* A bind policy: commits of the bound regions are explicit (populated and verified, region.c),
 * and large objects may only be spread over the bound nodes. */
static void bind_settings(config_t *c, const topo_t *t) {
    c->explicit_commit = true;
    nh_nodemask_t usable, bound;
    topo_usable(t, &usable);
    policy_effective_nodes(&c->policy, &usable, &bound);
    const nh_nodemask_t *large = &c->large_policy.nodes;
    for (int n = mask_next(large, 0); n >= 0; n = mask_next(large, n + 1)) {
        if (nh_nodemask_isset(&bound, n)) continue;
        char lp[128], sp[128];
        policy_format(&c->large_policy, lp, sizeof lp);
        policy_format(&c->policy, sp, sizeof sp);
        log_warn("warning: NUMAHEAP_LARGE_POLICY='%s' ignored (node %d is outside the bound nodes "
                 "of NUMAHEAP_POLICY='%s'); using the default\n",
                 lp, n, sp);
        policy_init(&c->large_policy, NH_MPOL_INTERLEAVE); /* nodes: the bound ones (heap.c) */
        return;
    }
}

/* ---- NUMAHEAP_JE ------------------------------------------------------------------------ */
/* The embedded jemalloc (5.3)'s conf keys and what their values must be. The whole of
 * NUMAHEAP_JE is checked here so that jemalloc, which would print its own unprefixed lines
 * naming neither the variable nor the program, only ever sees text it accepts. */
typedef enum { JE_BOOL, JE_UNSIGNED, JE_SIGNED, JE_TEXT, JE_CHOICE } je_kind_t;

static const struct je_key {
    const char *name;
    je_kind_t kind;
    const char
        *choices; /* JE_CHOICE: '|'-separated; JE_UNSIGNED: NULL, or "1" for a minimum of 1 */
} je_keys[] = {
    {"abort", JE_BOOL, NULL},
    {"abort_conf", JE_BOOL, NULL},
    {"background_thread", JE_BOOL, NULL},
    {"bin_shards", JE_TEXT, NULL},
    {"cache_oblivious", JE_BOOL, NULL},
    {"confirm_conf", JE_BOOL, NULL},
    {"dirty_decay_ms", JE_SIGNED, NULL},
    {"dss", JE_CHOICE, "disabled|primary|secondary"},
    {"experimental_infallible_new", JE_BOOL, NULL},
    {"hpa", JE_BOOL, NULL},
    {"junk", JE_CHOICE, "true|false|alloc|free"},
    {"lg_extent_max_active_fit", JE_UNSIGNED, NULL},
    {"lg_prof_interval", JE_SIGNED, NULL},
    {"lg_prof_sample", JE_UNSIGNED, NULL},
    {"lg_tcache_max", JE_UNSIGNED, NULL},
    {"max_background_threads", JE_UNSIGNED, NULL},
    {"metadata_thp", JE_CHOICE, "disabled|auto|always"},
    {"muzzy_decay_ms", JE_SIGNED, NULL},
    {"narenas", JE_UNSIGNED, "1"},
    {"oversize_threshold", JE_UNSIGNED, NULL},
    {"percpu_arena", JE_CHOICE, "disabled|percpu|phycpu"},
    {"prof", JE_BOOL, NULL},
    {"prof_accum", JE_BOOL, NULL},
    {"prof_active", JE_BOOL, NULL},
    {"prof_final", JE_BOOL, NULL},
    {"prof_gdump", JE_BOOL, NULL},
    {"prof_leak", JE_BOOL, NULL},
    {"prof_leak_error", JE_BOOL, NULL},
    {"prof_prefix", JE_TEXT, NULL},
    {"prof_thread_active_init", JE_BOOL, NULL},
    {"retain", JE_BOOL, NULL},
    {"slab_sizes", JE_TEXT, NULL},
    {"stats_interval", JE_SIGNED, NULL},
    {"stats_interval_opts", JE_TEXT, NULL},
    {"stats_print", JE_BOOL, NULL},
    {"stats_print_opts", JE_TEXT, NULL},
    {"tcache", JE_BOOL, NULL},
    {"tcache_max", JE_UNSIGNED, NULL},
    {"thp", JE_CHOICE, "default|always|never"},
    {"trust_madvise", JE_BOOL, NULL},
    {"utrace", JE_BOOL, NULL},
    {"xmalloc", JE_BOOL, NULL},
    {"zero", JE_BOOL, NULL},
    {"zero_realloc", JE_CHOICE, "alloc|free|abort"},
};

/* jemalloc reads integers in base 8, 10 or 16 by prefix, as strtoumax with base 0. */
static bool je_number(const char *v, size_t n, bool is_signed, bool min1) {
    if (is_signed && n == 2 && !strncmp(v, "-1", 2)) return true; /* -1: "never" */
    size_t i = 0;
    int base = 10;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
        base = 16, i = 2;
    else if (n > 1 && v[0] == '0')
        base = 8, i = 1;
    if (i >= n) return false;
    bool nonzero = false;
    for (; i < n; i++) {
        char ch = v[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : 99;
        if (d >= base) return false;
        nonzero |= d != 0;
    }
    return n <= 20 && (!min1 || nonzero);
}

static bool je_choice(const char *choices, const char *v, size_t n) {
    for (const char *c = choices; *c;) {
        size_t len = strcspn(c, "|");
        if (len == n && !strncmp(c, v, n)) return true;
        c += len + (c[len] == '|');
    }
    return false;
}

/* The first n bytes of s, cut to fit a message. */
static const char *je_piece(char *out, size_t len, const char *s, size_t n) {
    fmt_buf(out, n + 1 < len ? n + 1 : len, "%s", s);
    return out;
}

/* NULL if jemalloc takes s as it is; else why not, in why_buf. */
static const char *je_check(const char *s, char *why_buf, size_t why_len) {
    char key[41], val[25];
    for (const char *p = s;;) {
        size_t klen = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (!klen) {
            if (!*p) return "it ends with a comma";
            fmt_buf(why_buf, why_len, "expected a key at '%s'",
                    je_piece(val, sizeof val, p, strlen(p)));
            return why_buf;
        }
        if (p[klen] != ':') {
            fmt_buf(why_buf, why_len, "'%s' has no ':value'", je_piece(key, sizeof key, p, klen));
            return why_buf;
        }
        const char *v = p + klen + 1;
        size_t vlen = strcspn(v, ",");
        const struct je_key *k = NULL;
        for (size_t i = 0; i < sizeof je_keys / sizeof je_keys[0] && !k; i++)
            if (strlen(je_keys[i].name) == klen && !strncmp(je_keys[i].name, p, klen))
                k = &je_keys[i];
        bool ok = false;
        const char *want = "";
        if (!k) {
            fmt_buf(why_buf, why_len, "jemalloc has no option '%s'",
                    je_piece(key, sizeof key, p, klen));
            return why_buf;
        }
        switch (k->kind) {
        case JE_BOOL:
            ok = je_choice("true|false", v, vlen), want = "true or false";
            break;
        case JE_UNSIGNED:
            ok = je_number(v, vlen, false, k->choices != NULL);
            want = k->choices ? "a number from 1" : "a number";
            break;
        case JE_SIGNED:
            ok = je_number(v, vlen, true, false), want = "a number or -1";
            break;
        case JE_TEXT:
            ok = vlen > 0, want = "a value";
            break;
        case JE_CHOICE:
            ok = je_choice(k->choices, v, vlen), want = k->choices;
            break;
        }
        if (!ok) {
            fmt_buf(why_buf, why_len, "%s:%s: expected %s", k->name,
                    je_piece(val, sizeof val, v, vlen), want);
            return why_buf;
        }
        if (!v[vlen]) return NULL;
        p = v + vlen + 1;
    }
}

static void defaults(config_t *c) {
    memset(c, 0, sizeof *c);
    policy_init(&c->policy, NH_MPOL_LOCAL);
    policy_init(&c->large_policy, NH_MPOL_INTERLEAVE); /* nodes filled in: all of the heap's */
    c->large_threshold = DEFAULT_LARGE_THRESHOLD;
    c->reroute_checks = 4;
    c->decay_ms = DEFAULT_DECAY_MS;
    c->repair_pages = DEFAULT_REPAIR_PAGES;
    c->region_size = DEFAULT_REGION_SIZE;
    c->cpuset_check_ms = DEFAULT_CPUSET_CHECK_MS;
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
        size_t vlen = strnlen(v, VALUE_MAX + 1);
        char shown[72]; /* long values are shown cut, ending in "..." */
        fmt_buf(shown, sizeof shown, "%s", v);
        if (vlen > 64) fmt_buf(shown + 61, sizeof shown - 61, "...");
        if (nlen == 11 && !strncmp(e, "NUMAHEAP_JE", 11)) {
            /* The embedded jemalloc's own MALLOC_CONF, which it parses (and reports on) itself;
             * any other engine would ignore it silently. */
            char why_buf[128];
            const char *why = NULL;
            if (strcmp(engine_name(), "jemalloc") != 0)
                log_warn("warning: NUMAHEAP_JE='%s' ignored (it applies only to the jemalloc "
                         "engine; this library's engine is %s)\n",
                         shown, engine_name());
            else if (vlen > VALUE_MAX)
                why = "longer than 4096 bytes";
            else if (!*v)
                why = "empty";
            else
                why = je_check(v, why_buf, sizeof why_buf);
            if (why)
                log_warn("warning: NUMAHEAP_JE='%s' ignored (%s); using the default\n", shown, why);
            else if (strcmp(engine_name(), "jemalloc") == 0)
                c->je_conf = v; /* environ outlives the engine's init, which copies it */
            continue;
        }
        const struct setting *st = NULL;
        for (size_t i = 0; i < NSETTINGS && !st; i++)
            if (strlen(settings[i].name) == nlen && !strncmp(settings[i].name, e, nlen))
                st = &settings[i];
        if (!st) {
            char name[64];
            fmt_buf(name, nlen < sizeof name ? nlen + 1 : sizeof name, "%s", e);
            log_warn("warning: %s='%s' ignored (no such setting)\n", name, shown);
            continue;
        }
        nh_error_t err = {0};
        const char *why = vlen > VALUE_MAX ? "longer than 4096 bytes"
                          : !*v            ? "empty"
                                           : apply(c, st, v, t, &err);
        if (why)
            log_warn("warning: %s='%s' ignored (%s); using the default\n", st->name, shown, why);
    }
    /* The policy the process inherited (numactl, a container) is the default's default. */
    if (!c->policy_set &&
        (t->inherited_mode == NH_MPOL_BIND || t->inherited_mode == NH_MPOL_INTERLEAVE ||
         t->inherited_mode == NH_MPOL_WEIGHTED_INTERLEAVE ||
         t->inherited_mode == NH_MPOL_PREFERRED_MANY ||
         (t->inherited_mode == NH_MPOL_PREFERRED && !mask_empty(&t->inherited_nodes)))) {
        c->policy.mode = t->inherited_mode;
        c->policy.nodes = t->inherited_nodes;
        c->policy.flags = t->inherited_flags; /* static, relative: the nodes are as given */
    }
    if (c->policy.mode == NH_MPOL_BIND) bind_settings(c, t);
    if (c->strict || os_overcommit_mode() == 2) c->explicit_commit = true;
    verbose = c->verbose;
}
