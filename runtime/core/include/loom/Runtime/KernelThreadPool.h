// The thread pool that runs the parallel loops of a kernel library (Halide's halide_do_par_for,
// installed with halide_set_custom_do_par_for). Its workers spin for a while after each loop
// before they sleep, so that the next kernel of a decode step (hundreds per token, each a few
// hundred microseconds) finds them awake; Halide's own pool puts its workers to sleep almost at
// once and wakes them through a condition variable for every loop.
//
// One pool per process; one loop at a time runs on it (a loop started while another runs, or
// from inside a loop's task, runs on its caller's thread alone, as does every loop of a child
// forked after the workers started).
#pragma once

#include <cstdint>

namespace loom::kernel_pool {

// halide_task_t.
using Task = int (*)(void *userContext, int index, uint8_t *closure);

// halide_do_par_for's contract: runs task(userContext, i, closure) for every i in
// [min, min + size), returns 0 or the first nonzero result of a task.
int parallelFor(void *userContext, Task task, int min, int size, uint8_t *closure);

// Threads that run a loop, the caller included. The default: HL_NUM_THREADS when set (as for
// Halide's pool), else the cores this process may use. Values below 1 mean 1.
void setThreads(int threads);
int threads();

// Makes the dlopen'ed kernel library `handle` run its parallel loops here; false when it
// exports no halide_set_custom_do_par_for.
bool install(void *handle);

} // namespace loom::kernel_pool
