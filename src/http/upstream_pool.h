#ifndef GATEHOUSE_HTTP_UPSTREAM_POOL_H_
#define GATEHOUSE_HTTP_UPSTREAM_POOL_H_

// The connections of AsioUpstreamClient and where they wait between calls: one TLS context per
// upstream host, the client's shared state (pool figures, TLS contexts, name lookups), one
// connection, and the idle connections of one event loop. Part of http/upstream_client.cc, which
// alone includes it; a header of its own so that the exchange reads apart from the pool.

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/dns_cache.h"
#include "http/draining_read.h"
#include "http/name_lookups.h"
#include "http/socket_deadline.h"
#include "http/upstream_client.h"

namespace gatehouse {
namespace upstream_pool {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Bounds one read (and so one piece handed to the gateway) and the response head.
inline constexpr std::size_t kReadBufferLimit = 64 * 1024;

// Threads that look names up (http/name_lookups.h): as many hosts whose name servers hang can be
// waited for at once before the lookups of other hosts wait too.
inline constexpr std::size_t kLookupThreads = 4;

// The SSL_CTX extra-data slot that points back to its TlsContext (Asio keeps its own verify
// callback in the app-data slot).
inline int TlsContextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// The CA certificates every upstream TLS context trusts: OpenSSL's default paths. The bundle
// file (the system's, or SSL_CERT_FILE) is read once, when the client is made: reading it parses
// every certificate in it, milliseconds that the first https call to each host would otherwise
// spend on its event loop. (A hashed directory, SSL_CERT_DIR, is looked up by OpenSSL as
// handshakes need it; Debian's bundle file holds the same certificates.) OpenSSL skips a bundle
// it cannot read: the calls then fail their verification (502).
class TrustStore {
 public:
  TrustStore() : store_(X509_STORE_new()) {
    if (!store_ || X509_STORE_set_default_paths(store_) != 1) {
      throw std::runtime_error("cannot set up the CA certificates for upstream TLS");
    }
  }
  ~TrustStore() { X509_STORE_free(store_); }
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  X509_STORE* get() const { return store_; }

 private:
  X509_STORE* store_;
};

// One TLS context per upstream host, made once; keeps the latest session for resumption.
struct TlsContext {
  explicit TlsContext(const TrustStore& trusted) : context(asio::ssl::context::tls_client) {
    SSL_CTX* native = context.native_handle();
    SSL_CTX_set1_cert_store(native, trusted.get());  // shared, counted by reference
    context.set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX_set_ex_data(native, TlsContextIndex(), this);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(native, [](SSL* ssl, SSL_SESSION* session) -> int {
      auto* self =
          static_cast<TlsContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TlsContextIndex()));
      std::lock_guard lock(self->mutex);
      if (self->session) SSL_SESSION_free(self->session);
      self->session = session;
      return 1;  // we keep the reference
    });
  }
  ~TlsContext() {
    if (session) SSL_SESSION_free(session);
  }
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Offers the latest session to `ssl` for resumption.
  void Resume(SSL* ssl) {
    std::lock_guard lock(mutex);
    if (session) SSL_set_session(ssl, session);
  }

  asio::ssl::context context;
  std::mutex mutex;
  SSL_SESSION* session = nullptr;  // guarded by mutex
};

}  // namespace upstream_pool

// What an AsioUpstreamClient shares with its exchanges and their connections, which may outlive
// it: the pool figures, one TLS context per host, the cached name lookups and the threads that
// look names up.
struct AsioUpstreamClient::Shared {
  using Endpoints = std::vector<boost::asio::ip::tcp::endpoint>;
  struct LookupAnswer {
    boost::system::error_code ec;
    Endpoints endpoints;
  };

  explicit Shared(UpstreamPoolOptions pool_options)
      : options(std::move(pool_options)),
        dns(std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.dns_ttl)),
        lookups(
            [before = options.before_lookup, addresses_of = options.addresses_of](
                const std::string& host, const std::string& port) {
              if (before) before(host);
              return addresses_of ? Addresses(addresses_of(host), port) : ResolveName(host, port);
            },
            upstream_pool::kLookupThreads, LookupAnswer{boost::asio::error::no_memory, {}}) {}

  // getaddrinfo through Asio's resolver (the same flags as its asynchronous lookups), on the
  // calling thread.
  static LookupAnswer ResolveName(const std::string& host, const std::string& port) {
    thread_local boost::asio::io_context io;  // a resolver needs one; it is never run
    boost::asio::ip::tcp::resolver resolver(io);
    LookupAnswer answer;
    const auto results = resolver.resolve(host, port, answer.ec);
    for (const auto& entry : results) answer.endpoints.push_back(entry.endpoint());
    if (!answer.ec && answer.endpoints.empty()) answer.ec = boost::asio::error::host_not_found;
    return answer;
  }

  // UpstreamPoolOptions::addresses_of's answer as a lookup's.
  static LookupAnswer Addresses(const std::vector<std::string>& addresses,
                                const std::string& port) {
    LookupAnswer answer;
    for (const auto& address : addresses) {
      answer.endpoints.emplace_back(boost::asio::ip::make_address(address),
                                    static_cast<unsigned short>(std::stoi(port)));
    }
    if (answer.endpoints.empty()) answer.ec = boost::asio::error::host_not_found;
    return answer;
  }

  UpstreamPoolOptions options;
  const upstream_pool::TrustStore trusted;
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> idle{0};
  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> reused{0};

  std::mutex mutex;
  std::map<std::string, std::shared_ptr<upstream_pool::TlsContext>> tls;  // by host:port; guarded
  DnsCache<Endpoints> dns;                                                // by host:port; guarded
  NameLookups<LookupAnswer> lookups;  // its callbacks hold this state weakly

  std::shared_ptr<upstream_pool::TlsContext> TlsFor(const std::string& key) {
    {
      std::lock_guard lock(mutex);
      if (auto found = tls.find(key); found != tls.end()) return found->second;
    }
    // Made outside the lock, which every call's name lookup takes; a context another loop made
    // meanwhile wins.
    auto made = std::make_shared<upstream_pool::TlsContext>(trusted);
    std::lock_guard lock(mutex);
    return tls.try_emplace(key, std::move(made)).first->second;
  }
  DnsCache<Endpoints>::Found CachedLookup(const std::string& key) {
    std::lock_guard lock(mutex);
    return dns.Find(key, std::chrono::steady_clock::now());
  }
  void StoreLookup(const std::string& key, Endpoints endpoints) {
    std::lock_guard lock(mutex);
    dns.Store(key, std::move(endpoints), std::chrono::steady_clock::now());
  }
  void LookupFailed(const std::string& key) {
    std::lock_guard lock(mutex);
    dns.RefreshFailed(key, std::chrono::steady_clock::now());
  }
};

namespace upstream_pool {

using Shared = AsioUpstreamClient::Shared;

// Its reads wait for epoll once the socket is empty (http/draining_read.h).
using UpstreamSocket = DrainingSocket<tcp::socket>;

// One connection to an upstream host; counted in the pool figures for as long as it lives.
struct Connection {
  Connection(asio::io_context& io, std::shared_ptr<Shared> shared_state,
             std::shared_ptr<TlsContext> tls_context)
      : shared(std::move(shared_state)), tls(std::move(tls_context)), buffer(kReadBufferLimit) {
    if (tls) {
      secure.emplace(io, tls->context);
    } else {
      plain.emplace(io);
    }
    deadline.emplace(Tcp());
    ++shared->open;
  }
  ~Connection() { --shared->open; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  UpstreamSocket& Tcp() { return secure ? secure->next_layer() : *plain; }

  // Marks a connection whose exchanges all completed, or that is closed because its caller left,
  // as closed cleanly, so that OpenSSL keeps its session resumable (closing without a shutdown
  // would mark the session bad). Not after a TLS or transport failure.
  void EndedCleanly() {
    if (secure)
      SSL_set_shutdown(secure->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }

  // True when bytes of the peer have been read from the socket and not yet taken by a call:
  // in the read buffer or, on https, inside the TLS layer (SSL_has_pending: a record read and
  // not yet taken, decrypted or not; BIO_pending: bytes Asio handed to OpenSSL's BIO pair). The
  // health peek sees only the socket, so such bytes would become the start of the next call's
  // answer.
  bool HoldsUnreadBytes() {
    if (buffer.size() > 0) return true;
    if (!secure) return false;
    SSL* ssl = secure->native_handle();
    return SSL_has_pending(ssl) == 1 || BIO_pending(SSL_get_rbio(ssl)) > 0;
  }

  // True when the peer has neither closed the connection nor sent anything unasked.
  bool LooksReusable() {
    char byte;
    const ssize_t peeked = ::recv(Tcp().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::shared_ptr<Shared> shared;
  std::shared_ptr<TlsContext> tls;  // outlives the ssl stream
  std::optional<UpstreamSocket> plain;
  std::optional<beast::ssl_stream<UpstreamSocket>> secure;
  std::optional<SocketDeadline> deadline;  // of the socket above: each wait, the idle timeout
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;
};

// The idle connections of one event loop, by client and upstream host. Lives as long as the
// loop (an Asio service), so pooled sockets never outlive their io_context.
class LoopPool final : public asio::execution_context::service {
 public:
  using key_type = LoopPool;
  static inline asio::execution_context::id id;

  // `context` is the loop's io_context: the pool is only ever made through use_service on one.
  explicit LoopPool(asio::execution_context& context)
      : service(context),
        io_(static_cast<asio::io_context&>(context)),
        inbox_(std::make_shared<Inbox>(io_)) {}
  void shutdown() override {
    inbox_->Close();
    Clear();
  }
  ~LoopPool() override { Clear(); }

  // Where other threads (the name lookups) hand the loop work. Closed when the loop's io_context
  // goes, before its queue does: work handed in later is dropped.
  class Inbox {
   public:
    explicit Inbox(asio::io_context& io) : io_(&io) {}
    void Post(std::function<void()> work) {
      const std::lock_guard lock(mutex_);
      if (io_) asio::post(*io_, std::move(work));
    }
    void Close() {
      const std::lock_guard lock(mutex_);
      io_ = nullptr;
    }

   private:
    std::mutex mutex_;
    asio::io_context* io_;  // guarded by mutex_; null once closed
  };
  const std::shared_ptr<Inbox>& inbox() const { return inbox_; }

  // A healthy idle connection for `key`, or null.
  std::unique_ptr<Connection> Take(const std::string& key) {
    auto found = idle_.find(key);
    if (found == idle_.end()) return nullptr;
    auto& list = found->second;
    while (!list.empty()) {
      std::unique_ptr<Connection> connection = std::move(list.back());
      list.pop_back();
      --connection->shared->idle;
      connection->deadline->OnExpire(nullptr);
      const auto idle = SteadyClock::now() - connection->idle_since;
      const UpstreamPoolOptions& options = connection->shared->options;
      if (!connection->deadline->expired() && idle <= options.idle_timeout &&
          (idle < options.peek_after_idle || connection->LooksReusable())) {
        return connection;
      }
      connection->EndedCleanly();
    }
    return nullptr;
  }

  void Put(const std::string& key, std::unique_ptr<Connection> connection) {
    auto& list = idle_[key];
    if (list.size() >= connection->shared->options.max_idle_per_host) {
      connection->EndedCleanly();
      return;
    }
    // Closed by the loop's deadline sweep once idle for the idle timeout, and then let go of.
    const auto now = SteadyClock::now();
    connection->idle_since = now;
    connection->deadline->ExpireAt(now + connection->shared->options.idle_timeout);
    connection->deadline->OnExpire([this] { ScheduleDrop(); });
    ++connection->shared->idle;
    list.push_back(std::move(connection));
  }

 private:
  // Connections that expire together (one sweep closes them all) share one pass over the pool:
  // the pass is posted behind their callbacks, which the sweep has queued already.
  void ScheduleDrop() {
    if (drop_scheduled_) return;
    drop_scheduled_ = true;
    asio::post(io_, [this] { DropExpired(); });
  }

  // Lets go of the idle connections whose idle timeout has closed them.
  void DropExpired() {
    drop_scheduled_ = false;
    for (auto entry = idle_.begin(); entry != idle_.end();) {
      auto& list = entry->second;
      for (auto it = list.begin(); it != list.end();) {
        if ((*it)->deadline->expired()) {
          --(*it)->shared->idle;
          (*it)->EndedCleanly();
          it = list.erase(it);
        } else {
          ++it;
        }
      }
      entry = list.empty() ? idle_.erase(entry) : std::next(entry);
    }
  }

  void Clear() {
    for (auto& [key, list] : idle_) {
      for (auto& connection : list) --connection->shared->idle;
    }
    idle_.clear();
  }

  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
  asio::io_context& io_;
  std::shared_ptr<Inbox> inbox_;
  bool drop_scheduled_ = false;
};

}  // namespace upstream_pool
}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_UPSTREAM_POOL_H_
