#ifndef GATEHOUSE_CORE_LOOP_SCHEDULING_H_
#define GATEHOUSE_CORE_LOOP_SCHEDULING_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>

namespace gatehouse {

// How the kernel schedules the event loops ([server] loop_scheduling; README, Configuration;
// docs/architecture.md explains the pattern and docs/BENCHMARKS.md measures it).
enum class LoopScheduling {
  kNormal,    // ordinary threads: a loop woken by a request preempts the task on its core
  kBatch,     // SCHED_BATCH from the start (UseBatchScheduling, core/thread_priority.h)
  kAdaptive,  // SCHED_BATCH while the loop reads requests at a high rate, ordinary otherwise
};

// "normal", "batch" or "adaptive"; nullopt for any other name.
std::optional<LoopScheduling> LoopSchedulingNamed(std::string_view name);
std::string_view NameOf(LoopScheduling scheduling);

// Tells, from how often an event loop reads requests, whether it is busy enough to run under
// SCHED_BATCH. Time is cut into windows of at least `window`: at the first request after a
// window has run out, the requests counted since it began give the rate. From `batch_from`
// requests a second the loop should run batch, below `normal_below` it should run normal, and
// between the two it keeps what it has, so that a rate near one bound does not flip it at every
// window. A request that comes a whole window or more after the one before finds the loop
// quiet: it should run normal, however busy it was before the pause. (Nothing happens between
// requests: a loop that goes idle under batch is put back at its next request.)
class RequestRate {
 public:
  using Clock = std::chrono::steady_clock;

  struct Bounds {
    Clock::duration window = std::chrono::milliseconds(20);
    std::int64_t batch_from = 20000;  // requests a second ([server] loop_batch_rate)
    std::int64_t normal_below = 10000;
  };

  // `window` is short (milliseconds): the rate is computed over at most two of them.
  constexpr RequestRate() : RequestRate(Bounds{}) {}
  constexpr explicit RequestRate(Bounds bounds) : bounds_(bounds) {}

  // Counts one request read at `now` (never earlier than the previous one's). Returns the
  // scheduling the loop should change to (kNormal or kBatch) when a window ends and the rate
  // calls for the other one; nullopt otherwise.
  std::optional<LoopScheduling> Count(Clock::time_point now);

  bool batch() const { return batch_; }

 private:
  Bounds bounds_;
  std::optional<Clock::time_point> window_start_;
  Clock::time_point last_request_;
  std::int64_t requests_ = 0;  // in the current window
  bool batch_ = false;
};

// Applies a LoopScheduling to the event loops of one server. Each loop calls Start once as it
// begins and OnRequest for each request it reads, on its own thread (the policy is a property
// of the calling thread). Under kAdaptive, OnRequest reads the clock and counts; it changes the
// thread's policy (one system call) only when its RequestRate says so. A change the kernel
// refuses leaves that loop with the policy it has, for good, counted in refusals().
class LoopSchedulingControl {
 public:
  // `on_refusal`, optional, runs on the loop whose change the kernel refused, with the policy
  // asked for (kBatch or kNormal) and errno.
  using RefusalObserver = std::function<void(LoopScheduling wanted, int error)>;

  explicit LoopSchedulingControl(LoopScheduling scheduling,
                                 RequestRate::Bounds bounds = RequestRate::Bounds{},
                                 RefusalObserver on_refusal = nullptr);
  LoopSchedulingControl(const LoopSchedulingControl&) = delete;
  LoopSchedulingControl& operator=(const LoopSchedulingControl&) = delete;

  void Start();
  void OnRequest() {
    if (scheduling_ == LoopScheduling::kAdaptive) CountRequest();
  }

  LoopScheduling scheduling() const { return scheduling_; }
  // Loops under SCHED_BATCH now; changes of policy made by kAdaptive; refusals by the kernel.
  int loops_in_batch() const { return in_batch_.load(std::memory_order_relaxed); }
  std::uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }
  int refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  void CountRequest();
  // Puts the calling thread under batch or normal scheduling; false when the kernel refuses.
  bool Apply(LoopScheduling scheduling);

  const LoopScheduling scheduling_;
  const RequestRate::Bounds bounds_;
  const RefusalObserver on_refusal_;
  const std::uint64_t id_;  // tells this control's loops from those of an earlier one
  std::atomic<int> in_batch_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<int> refusals_{0};
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_LOOP_SCHEDULING_H_
