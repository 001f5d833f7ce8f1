#include "core/thread_priority.h"

#include <sys/resource.h>
#include <unistd.h>

namespace gatehouse {

void YieldToEventLoops() {
  thread_local const bool lowered =
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice) == 0;
  (void)lowered;
}

}  // namespace gatehouse
