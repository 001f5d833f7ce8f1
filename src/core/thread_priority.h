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

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_THREAD_PRIORITY_H_
