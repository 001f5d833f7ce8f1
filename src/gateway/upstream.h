#ifndef GATEHOUSE_GATEWAY_UPSTREAM_H_
#define GATEHOUSE_GATEWAY_UPSTREAM_H_

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace gatehouse {

// The seam between the gateway and the network: the gateway talks to providers only through
// these interfaces. The Beast/Asio implementation is http/upstream_client.h; unit tests use a
// double that answers without a socket.

// One POST to a provider.
struct UpstreamRequest {
  const ProviderConfig* provider = nullptr;  // outlives the call
  std::string path;                          // appended to the provider's base_url
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // From Start() to the response head: the name lookup, connect, TLS handshake, send and the
  // wait for the first byte together.
  std::chrono::milliseconds first_byte_timeout{60000};
  // Each wait between body reads.
  std::chrono::milliseconds read_timeout{60000};
  // The whole call, from Start() to the end of the body, less the time the caller holds the
  // head or a piece before it asks for the next (a slow client is not the provider's delay).
  std::chrono::milliseconds total_timeout{60000};
};

enum class UpstreamFailure {
  kTimeout,    // a wait or the whole call took longer than allowed
  kNetwork,    // cannot resolve or connect, or the connection broke
  kProtocol,   // the answer is not valid HTTP, or too large
  kCancelled,  // Cancel() was called
};

struct UpstreamError {
  UpstreamFailure failure = UpstreamFailure::kNetwork;
  std::string detail;  // for the log; never contains request headers
};

struct UpstreamHead {
  int status = 0;
  std::string content_type;
  std::string retry_after;  // the Retry-After header, empty when absent
};

// Body bytes as they arrive; `end` when the body is complete (`bytes` may still hold its last
// piece).
struct UpstreamBodyPiece {
  std::string bytes;
  bool end = false;
  // With `end`: the body had neither a length nor chunks, so the provider's close ended it,
  // which a provider that dies mid-answer does too.
  bool ended_by_close = false;
};

// One call to a provider. Every callback runs on the event loop that started the call, exactly
// once per Start()/Read(), and may run before Start()/Read() returns. Keep the exchange alive
// (shared_ptr) until the last callback has run.
class UpstreamExchange {
 public:
  using HeadCallback = std::function<void(std::expected<UpstreamHead, UpstreamError>)>;
  using BodyCallback = std::function<void(std::expected<UpstreamBodyPiece, UpstreamError>)>;

  virtual ~UpstreamExchange() = default;
  // Connects (or reuses a pooled connection), sends the request and reads the response head.
  virtual void Start(UpstreamRequest request, HeadCallback done) = 0;
  // After a head: the next body bytes (at most one buffer, 64 KiB). One Read() at a time.
  virtual void Read(BodyCallback done) = 0;
  // Ends the call at once; an outstanding callback gets kCancelled. The connection is closed,
  // never pooled. Safe to call at any time, also twice.
  virtual void Cancel() = 0;
  // Whether the whole request has been written to the provider: from then on it has the prompt.
  virtual bool RequestSent() const = 0;
};

// Opens exchanges. Thread-safe; an exchange belongs to the event loop that opened it.
class UpstreamClient {
 public:
  virtual ~UpstreamClient() = default;
  virtual std::shared_ptr<UpstreamExchange> Open() = 0;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_UPSTREAM_H_
