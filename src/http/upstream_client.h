#ifndef GATEHOUSE_HTTP_UPSTREAM_CLIENT_H_
#define GATEHOUSE_HTTP_UPSTREAM_CLIENT_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse {

struct UpstreamRequest {
  std::string url;  // http://host[:port]/path or https://…
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with POST
  // Limit for connecting and for each wait on the upstream (the response head, then each read).
  std::chrono::milliseconds timeout{60000};
};

enum class UpstreamFailure {
  kTimeout,   // no answer within the timeout
  kNetwork,   // cannot resolve or connect, or the connection broke
  kProtocol,  // the answer is not valid HTTP
};

// One blocking HTTP/1.1 POST to an upstream (an LLM provider), with TLS for https URLs
// (certificates verified against the system store). The body can be read as it arrives, which
// is what relaying server-sent events needs. Not thread-safe; one call per object.
class UpstreamCall {
 public:
  UpstreamCall();
  ~UpstreamCall();
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;

  // Connects, sends the request and reads the response head. False on failure.
  bool Start(const UpstreamRequest& request);
  int status() const;
  std::string ContentType() const;

  // Appends the body bytes that have arrived (waiting for at least one) to `out`. False once
  // the body is complete or on failure; failure() tells which.
  bool Read(std::string& out);
  // Reads the whole remaining body into `out`. False on failure.
  bool ReadAll(std::string& out);

  const std::optional<UpstreamFailure>& failure() const;
  // What went wrong, for the log (never contains request headers).
  const std::string& failure_detail() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_UPSTREAM_CLIENT_H_
