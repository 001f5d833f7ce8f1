#include "core/loop_scheduling.h"

#include <time.h>

#include <cerrno>

#include "core/thread_priority.h"

namespace gatehouse {
namespace {

// The calling loop's own part of a LoopSchedulingControl: set by Start on the loop's thread.
struct LoopState {
  const LoopSchedulingControl* control = nullptr;
  RequestRate rate;
  bool adapting = false;  // false once the kernel refused a change
};

thread_local LoopState loop_state;

// CLOCK_MONOTONIC at the resolution of the kernel's tick (a few ms): enough for windows of
// 20 ms, and cheaper than the precise clock on every request.
RequestRate::Clock::time_point CoarseNow() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return RequestRate::Clock::time_point(std::chrono::seconds(now.tv_sec) +
                                        std::chrono::nanoseconds(now.tv_nsec));
}

}  // namespace

std::optional<LoopScheduling> LoopSchedulingNamed(std::string_view name) {
  if (name == "normal") return LoopScheduling::kNormal;
  if (name == "batch") return LoopScheduling::kBatch;
  if (name == "adaptive") return LoopScheduling::kAdaptive;
  return std::nullopt;
}

std::string_view NameOf(LoopScheduling scheduling) {
  switch (scheduling) {
    case LoopScheduling::kNormal:
      return "normal";
    case LoopScheduling::kBatch:
      return "batch";
    case LoopScheduling::kAdaptive:
      return "adaptive";
  }
  return "normal";
}

std::optional<LoopScheduling> RequestRate::Count(Clock::time_point now) {
  if (!window_start_) {
    window_start_ = last_request_ = now;
    requests_ = 1;
    return std::nullopt;
  }
  const Clock::duration elapsed = now - *window_start_;
  const bool quiet = now - last_request_ >= bounds_.window;
  last_request_ = now;
  if (elapsed < bounds_.window) {
    ++requests_;
    return std::nullopt;
  }
  // requests_ / elapsed against a bound in requests a second, without a division.
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
  const auto scaled = requests_ * std::int64_t{1'000'000'000};
  const bool wants_batch = !quiet && (batch_ ? scaled >= bounds_.normal_below * nanoseconds
                                             : scaled >= bounds_.batch_from * nanoseconds);
  window_start_ = now;
  requests_ = 1;
  if (wants_batch == batch_) return std::nullopt;
  batch_ = wants_batch;
  return batch_ ? LoopScheduling::kBatch : LoopScheduling::kNormal;
}

void LoopSchedulingControl::Start() {
  loop_state = LoopState{this, RequestRate(bounds_), scheduling_ == LoopScheduling::kAdaptive};
  if (scheduling_ == LoopScheduling::kBatch) Apply(LoopScheduling::kBatch);
}

void LoopSchedulingControl::CountRequest() {
  LoopState& loop = loop_state;
  if (loop.control != this || !loop.adapting) return;
  const std::optional<LoopScheduling> change = loop.rate.Count(CoarseNow());
  if (!change) return;
  if (Apply(*change)) {
    changes_.fetch_add(1, std::memory_order_relaxed);
  } else {
    loop.adapting = false;
  }
}

bool LoopSchedulingControl::Apply(LoopScheduling scheduling) {
  const bool batch = scheduling == LoopScheduling::kBatch;
  if (!(batch ? UseBatchScheduling() : UseNormalScheduling())) {
    const int error = errno;
    refusals_.fetch_add(1, std::memory_order_relaxed);
    if (on_refusal_) on_refusal_(error);
    return false;
  }
  in_batch_.fetch_add(batch ? 1 : -1, std::memory_order_relaxed);
  return true;
}

}  // namespace gatehouse
