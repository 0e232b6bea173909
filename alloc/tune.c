/* Settings changed while the program runs, for nh_ctl and mallopt: the large threshold and
 * whether any object is large at all (glibc's M_MMAP_MAX 0), the decay delay, the background
 * repairer's interval and budget, and whether re-routed threads bring their pages along. The
 * only writer of heap_config after init. Each value is checked against the bounds the options
 * table gives its NUMAHEAP_* variable, so nothing can be set here that the environment would
 * refuse, and a refused change changes nothing. */
#include "engine.h"

#include <errno.h>
#include <sched.h>

/* Below this, a request that has just become large could still be served by the jemalloc
 * engine's inline path: each thread's routing budget was reset from the old threshold, up to
 * ROUTE_CHECK_BYTES, and only a request beyond the budget reaches the large-object test. At
 * init every threshold the setting allows is safe, as no budget has been set yet. */
#define RUNTIME_THRESHOLD_MIN ROUTE_CHECK_BYTES

static int lock_word; /* one change at a time: the threshold and no_large go together */
static bool no_large;

static void lock(void) {
    while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void unlock(void) {
    __atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
}

static bool in_bounds(const char *setting, uint64_t v) {
    uint64_t min, max;
    return config_bounds(setting, &min, &max) == 0 && v >= min && v <= max;
}

/* The threshold the allocation paths test, from the two settings; under the lock. */
static void publish_threshold(void) {
    size_t t = no_large ? SIZE_MAX : heap_config.large_threshold;
    __atomic_store_n(&heap_large_threshold, t, __ATOMIC_RELAXED);
    engine_large_threshold_changed();
}

int tune_large_threshold(uint64_t bytes) {
    if (!heap_ready()) return EAGAIN;
    if (bytes < RUNTIME_THRESHOLD_MIN || !in_bounds("NUMAHEAP_LARGE_THRESHOLD", bytes))
        return EINVAL;
    lock();
    heap_config.large_threshold = (size_t)bytes;
    publish_threshold();
    unlock();
    return 0;
}

int tune_large_objects(bool on) {
    if (!heap_ready()) return EAGAIN;
    lock();
    no_large = !on;
    publish_threshold();
    unlock();
    return 0;
}

int tune_decay_ms(uint64_t ms) {
    if (!heap_ready()) return EAGAIN;
    if (!in_bounds("NUMAHEAP_DECAY_MS", ms)) return EINVAL;
    lock();
    int e = engine_set_decay((unsigned)ms);
    if (!e) __atomic_store_n(&heap_config.decay_ms, (unsigned)ms, __ATOMIC_RELAXED);
    unlock();
    return e;
}

int tune_repair_ms(uint64_t ms) {
    if (!heap_ready()) return EAGAIN;
    if (ms && !in_bounds("NUMAHEAP_REPAIR", ms)) return EINVAL; /* 0 is off, as for the setting */
    lock();
    int e = repair_set_interval((unsigned)ms);
    if (!e) __atomic_store_n(&heap_config.repair_ms, (unsigned)ms, __ATOMIC_RELAXED);
    unlock();
    return e;
}

int tune_repair_pages(uint64_t pages) {
    if (!heap_ready()) return EAGAIN;
    if (!in_bounds("NUMAHEAP_REPAIR_PAGES", pages)) return EINVAL;
    lock();
    repair_set_pages(pages);
    __atomic_store_n(&heap_config.repair_pages, (unsigned)pages, __ATOMIC_RELAXED);
    unlock();
    return 0;
}

int tune_migrate_on_move(uint64_t on) {
    if (!heap_ready()) return EAGAIN;
    if (on > 1) return EINVAL;
    __atomic_store_n(&heap_config.migrate_on_move, on == 1, __ATOMIC_RELAXED);
    return 0;
}
