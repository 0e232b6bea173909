/* nh_ctl: numaheap's values by name, in the manner of jemalloc's mallctl. A table of names
 * with a kind and getter/setter, plus the stats.node.N.FIELD and stats.large.FIELD families,
 * whose fields are NH_STAT_FIELDS. Lengths are checked before anything is done, and values by
 * tune.c before anything changes, so a call that fails has changed no setting. */
#include "engine.h"

#include <errno.h>
#include <string.h>

typedef enum { K_STR, K_U64, K_I64 } kind_t;

typedef struct value {
    uint64_t u; /* K_U64 */
    int64_t i;  /* K_I64 */
    char str[8192];
} value_t;

typedef struct entry {
    const char *name;
    kind_t kind;
    bool needs_heap;              /* EAGAIN until the heap is initialised */
    int (*get)(value_t *v);       /* 0 or errno */
    int (*set)(const value_t *v); /* NULL: read-only */
    bool action;                  /* runs on every call (get performs it); takes no value */
} entry_t;

static int get_version(value_t *v) {
    int n = nh_version();
    fmt_buf(v->str, sizeof v->str, "%d.%d.%d", n / 10000, n / 100 % 100, n % 100);
    return 0;
}

static int get_engine(value_t *v) {
    fmt_buf(v->str, sizeof v->str, "%s", engine_name());
    return 0;
}

static int get_policy(value_t *v) {
    nh_policy_t p;
    mems_reported(&p, NULL);
    policy_format(&p, v->str, sizeof v->str);
    return 0;
}

static int get_large_policy(value_t *v) {
    nh_policy_t p;
    mems_reported(NULL, &p);
    policy_format(&p, v->str, sizeof v->str);
    return 0;
}

static int get_nodes(value_t *v) { /* the heap's nodes the cpuset allows now */
    nh_nodemask_format(&heap_allowed, v->str, sizeof v->str);
    return 0;
}

/* The threshold in force: SIZE_MAX (no object is large) after mallopt(M_MMAP_MAX, 0). */
static int get_large_threshold(value_t *v) {
    v->u = large_threshold();
    return 0;
}

/* numaheap's own knob, unlike M_MMAP_THRESHOLD: objects from this size are large, from now on
 * whatever M_MMAP_MAX said. */
static int set_large_threshold(const value_t *v) {
    int e = tune_large_threshold(v->u);
    return e ? e : tune_large_objects(true);
}

static int get_decay_ms(value_t *v) {
    v->u = __atomic_load_n(&heap_config.decay_ms, __ATOMIC_RELAXED);
    return 0;
}

static int set_decay_ms(const value_t *v) {
    return tune_decay_ms(v->u);
}

static int get_repair_ms(value_t *v) {
    v->u = __atomic_load_n(&heap_config.repair_ms, __ATOMIC_RELAXED);
    return 0;
}

static int set_repair_ms(const value_t *v) {
    return tune_repair_ms(v->u);
}

static int get_repair_pages(value_t *v) {
    v->u = __atomic_load_n(&heap_config.repair_pages, __ATOMIC_RELAXED);
    return 0;
}

static int set_repair_pages(const value_t *v) {
    return tune_repair_pages(v->u);
}

static int get_migrate_on_move(value_t *v) {
    v->u = __atomic_load_n(&heap_config.migrate_on_move, __ATOMIC_RELAXED);
    return 0;
}

static int set_migrate_on_move(const value_t *v) {
    return tune_migrate_on_move(v->u);
}

static int get_trim(value_t *v) {
    v->u = engine_trim() ? 1 : 0;
    return 0;
}

static int get_thread_node(value_t *v) {
    v->i = route_current_node();
    return 0;
}

static int set_thread_node(const value_t *v) {
    if (v->i == -1) return route_unbind();
    if (v->i < 0 || v->i >= NH_MAX_NODES) return EINVAL;
    return route_bind((int)v->i);
}

static const entry_t entries[] = {
    {"version", K_STR, false, get_version, NULL, false},
    {"engine", K_STR, false, get_engine, NULL, false},
    {"config.policy", K_STR, true, get_policy, NULL, false},
    {"config.large_policy", K_STR, true, get_large_policy, NULL, false},
    {"config.nodes", K_STR, true, get_nodes, NULL, false},
    {"config.large_threshold", K_U64, true, get_large_threshold, set_large_threshold, false},
    {"config.decay_ms", K_U64, true, get_decay_ms, set_decay_ms, false},
    {"config.repair_ms", K_U64, true, get_repair_ms, set_repair_ms, false},
    {"config.repair_pages", K_U64, true, get_repair_pages, set_repair_pages, false},
    {"config.migrate_on_move", K_U64, true, get_migrate_on_move, set_migrate_on_move, false},
    {"thread.node", K_I64, true, get_thread_node, set_thread_node, false},
    {"trim", K_U64, true, get_trim, NULL, true},
};
#define NENTRIES (sizeof entries / sizeof entries[0])

/* stats.node.N.FIELD / stats.large.FIELD: the field's value into v. 0, ENOENT or EAGAIN;
 * NOT_STATS when name is not of that family. */
#define NOT_STATS (-1)
static int get_stat(const char *name, value_t *v) {
    int node;
    const char *field;
    if (!strncmp(name, "stats.large.", 12)) {
        node = NH_NODE_INTERLEAVED;
        field = name + 12;
    } else if (!strncmp(name, "stats.node.", 11)) {
        const char *num = name + 11, *dot = strchr(num, '.');
        uint64_t n;
        if (!dot || !fmt_parse_u64(num, (size_t)(dot - num), NH_MAX_NODES - 1, &n)) return ENOENT;
        node = (int)n;
        field = dot + 1;
    } else {
        return NOT_STATS;
    }
    bool known = false;
#define X(f) known |= !strcmp(field, #f);
    NH_STAT_FIELDS(X)
#undef X
    if (!known) return ENOENT;
    if (!heap_ready()) return EAGAIN;
    if (node != NH_NODE_INTERLEAVED && heap_slot_of_node(node) < 0) return ENOENT;
    nh_stats_t s;
    int e = stats_node(node, &s);
    if (e) return e;
#define X(f)                                                                                       \
    if (!strcmp(field, #f)) v->u = s.f;
    NH_STAT_FIELDS(X)
#undef X
    return 0;
}

static int ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen) {
    if (!name || (oldp && !oldlenp) || (!newp && newlen)) return EINVAL;
    const entry_t *en = NULL;
    for (size_t i = 0; i < NENTRIES && !en; i++)
        if (!strcmp(entries[i].name, name)) en = &entries[i];
    value_t v;
    memset(&v, 0, sizeof v);
    bool stat = !en;
    if (stat) { /* read now (it has no side effect): an unknown name is ENOENT whatever else */
        int e = get_stat(name, &v);
        if (e) return e == NOT_STATS ? ENOENT : e;
    }
    kind_t kind = stat ? K_U64 : en->kind;
    size_t width = kind == K_STR ? 0 : sizeof(uint64_t);
    bool writing = newp != NULL;
    if (writing && (stat || !en->set)) return en && en->action ? EINVAL : EPERM;
    if (writing && newlen != width) return EINVAL; /* only numbers are writable */
    if (oldp && width && *oldlenp != width) return EINVAL;
    if (en && en->needs_heap && !heap_ready()) return EAGAIN;

    int e = 0;
    bool reading = oldlenp != NULL;
    if (!stat && (reading || en->action)) {
        e = en->get(&v);
    }
    size_t need = kind == K_STR ? strlen(v.str) + 1 : width;
    if (!e && oldp && kind == K_STR && *oldlenp < need) {
        *oldlenp = need; /* the size a second call needs */
        e = EINVAL;
    }
    if (!e && reading) { /* the old value first, as mallctl does */
        if (oldp && kind == K_STR) memcpy(oldp, v.str, need);
        if (oldp && kind == K_U64) memcpy(oldp, &v.u, width);
        if (oldp && kind == K_I64) memcpy(oldp, &v.i, width);
        *oldlenp = need;
    }
    if (!e && writing) {
        if (kind == K_U64) memcpy(&v.u, newp, width);
        if (kind == K_I64) memcpy(&v.i, newp, width);
        e = en->set(&v);
    }
    return e;
}

int nh_ctl(const char *name, void *oldp, size_t *oldlenp, const void *newp, size_t newlen) {
    int e = ctl(name, oldp, oldlenp, newp, newlen);
    return e ? (errno = e, -e) : 0;
}
