#include "core/loop_scheduling.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace gatehouse {
namespace {

using namespace std::chrono_literals;
using TimePoint = RequestRate::Clock::time_point;

const RequestRate::Bounds kBounds{20ms, 5000, 2000};

// Feeds `rate` one request every `interval` from `start` for `span`; returns the changes asked
// for, with the time of the request that asked.
struct Change {
  RequestRate::Clock::duration at;
  LoopScheduling to;
};

std::vector<Change> Feed(RequestRate& rate, TimePoint start, RequestRate::Clock::duration interval,
                         RequestRate::Clock::duration span) {
  std::vector<Change> changes;
  for (auto at = RequestRate::Clock::duration::zero(); at < span; at += interval) {
    if (const auto change = rate.Count(start + at)) changes.push_back({at, *change});
  }
  return changes;
}

TEST(RequestRate, ALoopReadingRequestsBelowTheBatchRateStaysNormal) {
  RequestRate rate(kBounds);
  EXPECT_TRUE(Feed(rate, TimePoint{}, 250us, 1s).empty()) << "4,000 requests a second";
  EXPECT_FALSE(rate.batch());
}

TEST(RequestRate, TheFirstWindowAtTheBatchRateTurnsTheLoopBatchWhenItEnds) {
  RequestRate rate(kBounds);
  // 5,000 requests a second exactly: 100 requests in the first 20 ms.
  const auto changes = Feed(rate, TimePoint{}, 200us, 100ms);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].to, LoopScheduling::kBatch);
  EXPECT_EQ(changes[0].at, 20ms) << "decided by the first request after the window";
  EXPECT_TRUE(rate.batch());
}

TEST(RequestRate, ABatchLoopStaysBatchBetweenTheBoundsAndTurnsNormalBelowTheLower) {
  RequestRate rate(kBounds);
  ASSERT_EQ(Feed(rate, TimePoint{}, 100us, 30ms).size(), 1u);  // 10,000 a second: batch
  // 3,000 a second: under the batch rate, above the normal one; no flip at any window.
  EXPECT_TRUE(Feed(rate, TimePoint{} + 30ms, 333us, 500ms).empty());
  EXPECT_TRUE(rate.batch());
  // 1,000 a second: normal at the end of the first window that saw only that rate.
  const auto changes = Feed(rate, TimePoint{} + 530ms, 1ms, 200ms);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].to, LoopScheduling::kNormal);
  EXPECT_LE(changes[0].at, 45ms);
  EXPECT_FALSE(rate.batch());
}

TEST(RequestRate, AWholeWindowWithoutARequestTurnsABatchLoopNormalAtTheNextOne) {
  RequestRate rate(kBounds);
  // 100,000 requests a second: the window that follows holds 2,000 of them by 40 ms, which
  // over 60 ms would still be a high rate; but the loop has been quiet since.
  ASSERT_EQ(Feed(rate, TimePoint{}, 10us, 40ms).size(), 1u);
  ASSERT_TRUE(rate.batch());
  EXPECT_EQ(rate.Count(TimePoint{} + 40ms + 20ms), LoopScheduling::kNormal);
  EXPECT_FALSE(rate.batch());

  RequestRate paused(kBounds);
  ASSERT_EQ(Feed(paused, TimePoint{}, 10us, 40ms).size(), 1u);
  EXPECT_EQ(paused.Count(TimePoint{} + 40ms + 19ms), std::nullopt) << "less than a window";
  EXPECT_TRUE(paused.batch());
}

// The calling thread's policy after `work` ran on a thread of its own.
template <typename Work>
int PolicyAfter(Work work) {
  int policy = -1;
  std::thread thread([&] {
    work();
    policy = ::sched_getscheduler(0);
  });
  thread.join();
  return policy;
}

// Calls OnRequest as fast as it can for `span`: millions of requests a second.
void RequestsFor(LoopSchedulingControl& control, std::chrono::milliseconds span) {
  const auto end = std::chrono::steady_clock::now() + span;
  while (std::chrono::steady_clock::now() < end) control.OnRequest();
}

TEST(LoopSchedulingControl, AnAdaptiveLoopRunsBatchWhileBusyAndNormalOnceQuiet) {
  ASSERT_EQ(::sched_getscheduler(0), SCHED_OTHER) << "the test expects to start normal";
  LoopSchedulingControl control(LoopScheduling::kAdaptive);
  int while_busy = -1;
  int in_batch_while_busy = -1;
  const int after_quiet = PolicyAfter([&] {
    control.Start();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER) << "an adaptive loop starts normal";
    // Busy until batch, within 10 s: a thread descheduled for a whole window on a loaded
    // machine finds itself quiet and starts over, which only delays it.
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (::sched_getscheduler(0) != SCHED_BATCH && control.refusals() == 0 &&
           std::chrono::steady_clock::now() < give_up) {
      RequestsFor(control, 30ms);
    }
    while_busy = ::sched_getscheduler(0);
    in_batch_while_busy = control.loops_in_batch();
    std::this_thread::sleep_for(50ms);
    control.OnRequest();
  });
  if (control.refusals() > 0) GTEST_SKIP() << "the kernel refused SCHED_BATCH here";
  EXPECT_EQ(while_busy, SCHED_BATCH);
  EXPECT_EQ(in_batch_while_busy, 1);
  EXPECT_EQ(after_quiet, SCHED_OTHER);
  EXPECT_EQ(control.loops_in_batch(), 0);
  EXPECT_GE(control.changes(), 2u);
  EXPECT_EQ(control.changes() % 2, 0u) << "each change to batch undone by one to normal";
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER) << "the loop's thread only";
}

TEST(LoopSchedulingControl, AControlStartsItsLoopsAfreshNotWithAnEarlierControlsState) {
  const int policy = PolicyAfter([] {
    {
      LoopSchedulingControl earlier(LoopScheduling::kAdaptive);
      earlier.Start();
    }
    // Never started on this thread: it must not take over what the earlier one left.
    LoopSchedulingControl later(LoopScheduling::kAdaptive);
    RequestsFor(later, 60ms);
    EXPECT_EQ(later.changes(), 0u);
  });
  EXPECT_EQ(policy, SCHED_OTHER);
}

TEST(LoopSchedulingControl, ABatchLoopStartsBatchAndANormalOneIsLeftAloneHoweverBusy) {
  LoopSchedulingControl batch(LoopScheduling::kBatch);
  const int batch_policy = PolicyAfter([&] {
    batch.Start();
    RequestsFor(batch, 30ms);
  });
  if (batch.refusals() > 0) GTEST_SKIP() << "the kernel refused SCHED_BATCH here";
  EXPECT_EQ(batch_policy, SCHED_BATCH);
  EXPECT_EQ(batch.loops_in_batch(), 1);
  EXPECT_EQ(batch.changes(), 0u) << "only adaptive scheduling changes a loop's policy";

  LoopSchedulingControl normal(LoopScheduling::kNormal);
  EXPECT_EQ(PolicyAfter([&] {
              normal.Start();
              RequestsFor(normal, 30ms);
            }),
            SCHED_OTHER);
  EXPECT_EQ(normal.loops_in_batch(), 0);
}

TEST(LoopScheduling, NamesReadBackAsThemselvesAndNothingElseIsOne) {
  for (const auto scheduling :
       {LoopScheduling::kNormal, LoopScheduling::kBatch, LoopScheduling::kAdaptive}) {
    EXPECT_EQ(LoopSchedulingNamed(NameOf(scheduling)), scheduling);
  }
  EXPECT_EQ(LoopSchedulingNamed("Batch"), std::nullopt);
  EXPECT_EQ(LoopSchedulingNamed(""), std::nullopt);
}

}  // namespace
}  // namespace gatehouse
