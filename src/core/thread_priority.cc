#include "core/thread_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

namespace gatehouse {

void YieldToEventLoops() {
  thread_local const bool lowered =
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice) == 0;
  (void)lowered;
}

bool UseBatchScheduling() {
  const sched_param parameters{};  // SCHED_BATCH takes priority 0
  return ::sched_setscheduler(0, SCHED_BATCH, &parameters) == 0;
}

bool UseNormalScheduling() {
  const sched_param parameters{};
  return ::sched_setscheduler(0, SCHED_OTHER, &parameters) == 0;
}

}  // namespace gatehouse
