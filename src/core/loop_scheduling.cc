#include "core/loop_scheduling.h"

#include <cerrno>

#include "core/thread_priority.h"

namespace gatehouse {
namespace {

// The calling loop's own part of a LoopSchedulingControl: set by Start on the loop's thread.
struct LoopState {
  std::uint64_t control = 0;  // the id of the control that started this loop; 0 for none
  RequestRate rate;
  bool refused = false;  // the kernel refused a change: the loop keeps its policy for good
};

thread_local constinit LoopState loop_state;

std::atomic<std::uint64_t> next_control_id{1};

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
  if (elapsed < bounds_.window || elapsed <= Clock::duration::zero()) {
    ++requests_;
    return std::nullopt;
  }
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
  const std::int64_t per_second = requests_ * std::int64_t{1'000'000'000} / nanoseconds;
  const bool wants_batch =
      !quiet && per_second >= (batch_ ? bounds_.normal_below : bounds_.batch_from);
  window_start_ = now;
  requests_ = 1;
  if (wants_batch == batch_) return std::nullopt;
  batch_ = wants_batch;
  return batch_ ? LoopScheduling::kBatch : LoopScheduling::kNormal;
}

LoopSchedulingControl::LoopSchedulingControl(LoopScheduling scheduling, RequestRate::Bounds bounds,
                                             RefusalObserver on_refusal)
    : scheduling_(scheduling),
      bounds_(bounds),
      on_refusal_(std::move(on_refusal)),
      id_(next_control_id.fetch_add(1, std::memory_order_relaxed)) {}

void LoopSchedulingControl::Start() {
  loop_state = LoopState{id_, RequestRate(bounds_), false};
  if (scheduling_ == LoopScheduling::kBatch) Apply(LoopScheduling::kBatch);
}

void LoopSchedulingControl::CountRequest() {
  LoopState& loop = loop_state;
  if (loop.control != id_ || loop.refused) return;
  const std::optional<LoopScheduling> change = loop.rate.Count(RequestRate::Clock::now());
  if (!change) return;
  if (Apply(*change)) {
    changes_.fetch_add(1, std::memory_order_relaxed);
  } else {
    loop.refused = true;
  }
}

bool LoopSchedulingControl::Apply(LoopScheduling scheduling) {
  const bool batch = scheduling == LoopScheduling::kBatch;
  if (!(batch ? UseBatchScheduling() : UseNormalScheduling())) {
    const int error = errno;
    refusals_.fetch_add(1, std::memory_order_relaxed);
    if (on_refusal_) on_refusal_(scheduling, error);
    return false;
  }
  in_batch_.fetch_add(batch ? 1 : -1, std::memory_order_relaxed);
  return true;
}

}  // namespace gatehouse
