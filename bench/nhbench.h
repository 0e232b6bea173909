/* Benchmarks written in C on google-benchmark: a workload is a C function taking an opaque
 * state, looping while nhb_keep_running(), registered by a constructor with NHB_REGISTER.
 * Each iteration should do a batch of operations (nhb_set_items reports their rate). */
#ifndef NHBENCH_H
#define NHBENCH_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nhb_state nhb_state;
typedef void (*nhb_fn)(nhb_state *);

bool nhb_keep_running(nhb_state *s);
int64_t nhb_arg(nhb_state *s, int i);
int nhb_thread_index(nhb_state *s);
int nhb_threads(nhb_state *s);
void nhb_set_items(nhb_state *s, int64_t items);
void nhb_counter(nhb_state *s, const char *name, double value);
void nhb_pause(nhb_state *s);
void nhb_resume(nhb_state *s);
/* threads: 1..N; args: up to 2 values, nargs of them used. */
void nhb_register(const char *name, nhb_fn fn, int threads, int nargs, int64_t a0, int64_t a1);

#define NHB_REGISTER(id, ...)                                                                      \
    __attribute__((constructor)) static void nhb_reg_##id(void) {                                  \
        nhb_register(__VA_ARGS__);                                                                 \
    }

#ifdef __cplusplus
}
#endif
#endif
