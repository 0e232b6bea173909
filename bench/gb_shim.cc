// The only C++ of the benchmarks: adapts google-benchmark's State to the C interface of
// nhbench.h and runs whatever the C files registered.
#include <benchmark/benchmark.h>

#include "nhbench.h"

struct nhb_state {
    benchmark::State *st;
};

extern "C" {
bool nhb_keep_running(nhb_state *s) {
    return s->st->KeepRunning();
}
int64_t nhb_arg(nhb_state *s, int i) {
    return s->st->range(i);
}
int nhb_thread_index(nhb_state *s) {
    return s->st->thread_index();
}
int nhb_threads(nhb_state *s) {
    return s->st->threads();
}
void nhb_set_items(nhb_state *s, int64_t items) {
    s->st->SetItemsProcessed(items);
}
void nhb_counter(nhb_state *s, const char *name, double v) {
    s->st->counters[name] = v;
}
void nhb_pause(nhb_state *s) {
    s->st->PauseTiming();
}
void nhb_resume(nhb_state *s) {
    s->st->ResumeTiming();
}

void nhb_register(const char *name, nhb_fn fn, int threads, int nargs, int64_t a0, int64_t a1) {
    auto *b = benchmark::RegisterBenchmark(name, [fn](benchmark::State &st) {
        nhb_state s{&st};
        fn(&s);
    });
    if (nargs == 1) b->Arg(a0);
    if (nargs == 2) b->Args({a0, a1});
    b->Threads(threads)->UseRealTime()->MeasureProcessCPUTime();
}
}

int main(int argc, char **argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
