/* The background repairer's step against a fake kernel (os_hooks' where and move): on the
 * one-node host, pages of an object are reported on node 1, and repair_step must audit no
 * more than its budget per call, resume where it stopped, move each misplaced page home once,
 * count what the kernel refuses as still misplaced, and publish it all in nh_stats. The
 * repairer thread is not started (NUMAHEAP_REPAIR unset): steps are called directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_internal.h"

#define OBJ_PAGES 1024

static struct fake {
    uintptr_t first, end;         /* the object's pages, reported on node 1 until moved */
    uint8_t moved[OBJ_PAGES];     /* times each was moved */
    bool refuse;                  /* the home node is full: every move gets -ENOMEM */
    unsigned long queried, calls; /* pages asked about, and where calls, since the reset */
} fk;

static os_hooks_t real;

static bool in_obj(const void *p) {
    return (uintptr_t)p >= fk.first && (uintptr_t)p < fk.end;
}

static int fake_where(unsigned long count, void **pages, int *status) {
    int e = real.where(count, pages, status);
    fk.queried += count;
    fk.calls++;
    for (unsigned long i = 0; !e && i < count; i++)
        if (in_obj(pages[i]) && !fk.moved[((uintptr_t)pages[i] - fk.first) / NH_PAGE])
            status[i] = 1;
    return e;
}

static int fake_move(unsigned long count, void **pages, const int *nodes, int *status) {
    for (unsigned long i = 0; i < count; i++) {
        if (!in_obj(pages[i])) return EINVAL; /* only the object's pages were ever misplaced */
        if (fk.refuse) {
            status[i] = -ENOMEM;
            continue;
        }
        fk.moved[((uintptr_t)pages[i] - fk.first) / NH_PAGE]++;
        status[i] = nodes[i];
    }
    return 0;
}

static char *obj;

static int setup(void **s) {
    if (!heap_ready()) return -1;
    obj = nh_malloc_onnode(OBJ_PAGES * NH_PAGE, 0);
    if (!obj) return -1;
    memset(obj, 1, OBJ_PAGES * NH_PAGE);
    fk.first = ((uintptr_t)obj + NH_PAGE - 1) & ~(NH_PAGE - 1);
    fk.end = fk.first + (OBJ_PAGES - 1) * NH_PAGE; /* whole pages inside the object */
    real = os_hooks;
    os_hooks.where = fake_where;
    os_hooks.move = fake_move;
    return 0;
}

static int teardown(void **s) {
    os_hooks = real;
    free(obj);
    return 0;
}

static uint64_t used_pages(void) {
    region_t *r = region_of_node(0);
    return (__atomic_load_n(&r->next, __ATOMIC_ACQUIRE) - r->base) / NH_PAGE;
}

/* Steps of budget pages until a whole pass over the regions has been made; returns how many
 * steps it took. */
static int steps_for_a_pass(uint64_t budget) {
    int steps = 0;
    for (bool done = false; !done; steps++) {
        fk.queried = 0;
        assert_int_equal(repair_step(budget, &done), 0);
        assert_true(fk.queried <= budget); /* the budget is the interval's bound */
        assert_true(steps < 100000);
    }
    return steps;
}

static void refused_moves_stay_misplaced(void **s) {
    fk.refuse = true;
    steps_for_a_pass(300);
    nh_stats_t st;
    assert_int_equal(nh_stats(0, &st), 0);
    assert_int_equal(st.pages_moved, 0);
    assert_int_equal(st.pages_misplaced, OBJ_PAGES - 1);
    assert_true(st.pages_audited >= OBJ_PAGES - 1);
    for (int i = 0; i < OBJ_PAGES - 1; i++)
        assert_int_equal(fk.moved[i], 0);
    fk.refuse = false;
}

static void budget_resumes_and_moves_each_page_once(void **s) {
    nh_stats_t before, after;
    assert_int_equal(nh_stats(0, &before), 0);
    int steps = steps_for_a_pass(100);
    assert_true(steps >= (int)(used_pages() / 100)); /* no step did more than its share */
    assert_int_equal(steps_for_a_pass(used_pages() + 1000), 1); /* a pass at most per step */
    assert_int_equal(nh_stats(0, &after), 0);
    for (int i = 0; i < OBJ_PAGES - 1; i++)
        assert_int_equal(fk.moved[i], 1);
    assert_int_equal(after.pages_moved - before.pages_moved, OBJ_PAGES - 1);
    assert_int_equal(after.pages_misplaced, 0); /* the pass that moved them found no others */
    assert_true(after.pages_audited - before.pages_audited >= OBJ_PAGES - 1);
    /* the passes after it: nothing left to move */
    assert_int_equal(nh_stats(0, &after), 0);
    assert_int_equal(after.pages_moved - before.pages_moved, OBJ_PAGES - 1);
    for (int i = 0; i < OBJ_PAGES - 1; i++)
        assert_int_equal(fk.moved[i], 1);
}

static void no_thread_without_the_setting(void **s) {
    assert_int_equal(__atomic_load_n(&repair_state, __ATOMIC_ACQUIRE), REPAIR_OFF);
    nh_stats_t st;
    assert_int_equal(nh_stats(NH_NODE_INTERLEAVED, &st), 0); /* the large region: never */
    assert_int_equal(st.pages_audited, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_thread_without_the_setting),
        cmocka_unit_test(refused_moves_stay_misplaced),
        cmocka_unit_test(budget_resumes_and_moves_each_page_once),
    };
    return cmocka_run_group_tests_name("repair", tests, setup, teardown);
}
