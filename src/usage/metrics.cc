#include "usage/metrics.h"

#include <algorithm>
#include <charconv>

namespace gatehouse {
namespace {

std::string Number(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : "NaN";
}

// Label values here are route patterns and method names: no quotes or backslashes, but escape
// anyway so that the output stays valid whatever a route is called.
std::string Label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Metrics::RecordRequest(std::string_view method, std::string_view route, int status,
                            std::chrono::nanoseconds elapsed) {
  // Clients choose the method: only known ones become labels, so series stay bounded.
  static constexpr std::string_view kMethods[] = {"GET",   "POST", "PUT",    "DELETE",
                                                  "PATCH", "HEAD", "OPTIONS"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
    method = "OTHER";
  }
  {
    std::lock_guard lock(mutex_);
    ++requests_[{std::string(method), std::string(route), status}];
  }
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < kBucketsSeconds.size() && seconds > kBucketsSeconds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(static_cast<std::uint64_t>(elapsed.count()), std::memory_order_relaxed);
}

void Metrics::RecordAuthFailure(AuthFailure reason) {
  auth_failures_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::AddSample(std::string name, std::string type, std::string help,
                        std::function<double()> read) {
  samples_.push_back(Sample{std::move(name), std::move(type), std::move(help), std::move(read)});
}

std::string Metrics::Render() const {
  std::string out;
  out += "# HELP gatehouse_http_requests_total HTTP requests by method, route and status.\n";
  out += "# TYPE gatehouse_http_requests_total counter\n";
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, count] : requests_) {
      const auto& [method, route, status] = key;
      out += "gatehouse_http_requests_total{method=\"" + Label(method) + "\",route=\"" +
             Label(route) + "\",status=\"" + std::to_string(status) + "\"} " +
             std::to_string(count) + "\n";
    }
  }
  out += "# HELP gatehouse_http_request_duration_seconds Time to answer, handler included.\n";
  out += "# TYPE gatehouse_http_request_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBucketsSeconds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < kBucketsSeconds.size() ? Number(kBucketsSeconds[i]) : "+Inf";
    out += "gatehouse_http_request_duration_seconds_bucket{le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "gatehouse_http_request_duration_seconds_sum " +
         Number(static_cast<double>(latency_sum_ns_.load()) / 1e9) + "\n";
  out += "gatehouse_http_request_duration_seconds_count " + std::to_string(latency_count_.load()) +
         "\n";

  out += "# HELP gatehouse_auth_failures_total Rejected credentials by reason.\n";
  out += "# TYPE gatehouse_auth_failures_total counter\n";
  static constexpr std::string_view kReasons[] = {"missing", "invalid", "out_of_scope"};
  for (std::size_t i = 0; i < auth_failures_.size(); ++i) {
    out += "gatehouse_auth_failures_total{reason=\"" + std::string(kReasons[i]) + "\"} " +
           std::to_string(auth_failures_[i].load()) + "\n";
  }
  for (const auto& sample : samples_) {
    out += "# HELP " + sample.name + " " + sample.help + "\n";
    out += "# TYPE " + sample.name + " " + sample.type + "\n";
    out += sample.name + " " + Number(sample.read()) + "\n";
  }
  return out;
}

}  // namespace gatehouse
