#ifndef GATEHOUSE_USAGE_METRICS_H_
#define GATEHOUSE_USAGE_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace gatehouse {

// The counters behind GET /metrics (Prometheus text format 0.0.4): requests by route and
// status, a latency histogram, authentication failures by reason, and gauges read when
// rendered. Thread-safe. Recording a request takes a short lock on a small map; the latency
// histogram and failure counters are atomics.
class Metrics {
 public:
  enum class AuthFailure { kMissing, kInvalid, kOutOfScope };

  // `route` is the pattern that matched (e.g. "/v2/tokens/{id}"), not the raw path, so that
  // the number of series stays bounded.
  void RecordRequest(std::string_view method, std::string_view route, int status,
                     std::chrono::nanoseconds elapsed);
  void RecordAuthFailure(AuthFailure reason);
  // Adds a value sampled by `read` at every render ("gauge", or "counter" for a value that only
  // grows); call before serving.
  void AddSample(std::string name, std::string type, std::string help,
                 std::function<double()> read);

  std::string Render() const;

 private:
  static constexpr std::array<double, 14> kBucketsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  struct Sample {
    std::string name;
    std::string type;
    std::string help;
    std::function<double()> read;
  };

  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;  // guarded
  std::array<std::atomic<std::uint64_t>, kBucketsSeconds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> latency_count_{0};
  std::atomic<std::uint64_t> latency_sum_ns_{0};
  std::array<std::atomic<std::uint64_t>, 3> auth_failures_{};
  std::vector<Sample> samples_;  // written before serving only
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_METRICS_H_
