#ifndef GATEHOUSE_CORE_THREAD_PRIORITY_H_
#define GATEHOUSE_CORE_THREAD_PRIORITY_H_

namespace gatehouse {

// The nice value of threads whose work can wait while the event loops have theirs: the blocking
// pool (store calls, exports) and the search index's upkeep. The loops keep 0.
inline constexpr int kBackgroundNice = 10;

// Lowers the calling thread's scheduling priority to kBackgroundNice, once per thread, so that
// it gives the cores to the event loops whenever those have work: on two cores, answers that
// need no store (validate, gateway relays) otherwise wait their turn behind it. A refusal (a
// sandbox without setpriority) leaves the priority as it was.
void YieldToEventLoops();

// Puts the calling thread (an event loop) under SCHED_BATCH, for [server] loop_scheduling =
// "batch" and, while the loop is busy, "adaptive" (core/loop_scheduling.h). A batch thread woken by
// a socket does not preempt the task running on its core; it runs at that task's next scheduling
// point (within its time slice) or on a core that is idle. Where a client or an upstream shares the
// cores with the server, a loop otherwise preempts the peer that sent it one request, answers that
// one request, sleeps, and is woken again by the next: batch lets requests gather and be answered
// together (docs/BENCHMARKS.md measures it). The cost is that a loop woken on a busy core waits up
// to a time slice (milliseconds) for it. Returns false, with the reason in errno, when the kernel
// refuses.
bool UseBatchScheduling();

// Puts the calling thread back under ordinary scheduling (SCHED_OTHER), keeping its nice value.
// Returns false, with the reason in errno, when the kernel refuses.
bool UseNormalScheduling();

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_THREAD_PRIORITY_H_
