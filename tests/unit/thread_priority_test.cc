#include "core/thread_priority.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <thread>

namespace gatehouse {
namespace {

// The policy and nice value a thread ends with after running `work`.
struct Scheduling {
  int policy = -1;
  int nice = 0;
};

template <typename Work>
Scheduling AfterRunning(Work work) {
  Scheduling seen;
  std::thread thread([&] {
    work();
    seen.policy = ::sched_getscheduler(0);
    seen.nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  });
  thread.join();
  return seen;
}

// The nice value new threads start with: the test runner's own (it may run under `nice`).
int InheritedNice() { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); }

TEST(ThreadPriority, BatchSchedulingAppliesToTheCallingThreadOnly) {
  const int before = ::sched_getscheduler(0);
  bool applied = false;
  const Scheduling loop = AfterRunning([&] { applied = UseBatchScheduling(); });
  if (!applied) GTEST_SKIP() << "the kernel refused SCHED_BATCH here";
  EXPECT_EQ(loop.policy, SCHED_BATCH);
  EXPECT_EQ(loop.nice, InheritedNice()) << "batch keeps the loops' weight";
  EXPECT_EQ(::sched_getscheduler(0), before) << "the calling thread only";
}

TEST(ThreadPriority, BackgroundThreadsYieldWithAHigherNiceValue) {
  // A sandbox may refuse setpriority (and a runner above nice 10 cannot come down to it); then
  // the thread keeps its priority, as documented, and there is nothing to check.
  bool permitted = false;
  AfterRunning([&] {
    permitted = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice) == 0;
  });
  if (!permitted) GTEST_SKIP() << "setpriority to " << kBackgroundNice << " is refused here";
  const Scheduling background = AfterRunning([] { YieldToEventLoops(); });
  EXPECT_EQ(background.policy, SCHED_OTHER);
  EXPECT_EQ(background.nice, kBackgroundNice);
}

}  // namespace
}  // namespace gatehouse
