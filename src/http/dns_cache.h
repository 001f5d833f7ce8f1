#ifndef GATEHOUSE_HTTP_DNS_CACHE_H_
#define GATEHOUSE_HTTP_DNS_CACHE_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace gatehouse {

// The upstream client's name lookups, by "host:port". An answer is fresh for `ttl` (getaddrinfo
// reports none); once it is stale a call still uses it at once and asks for one lookup in the
// background, so that a call never waits for the name server of a host it has reached before (a
// slow lookup of one host would otherwise hold up the lookups queued behind it). A failed
// refresh keeps the old answer and is tried again one `ttl` later. Not thread-safe: the caller
// locks. `Answer` is the lookup's result (endpoints); `Clock` gives the time types, and the
// caller passes the time, so that tests can choose it.
template <typename Answer, typename Clock = std::chrono::steady_clock>
class DnsCache {
 public:
  explicit DnsCache(typename Clock::duration ttl) : ttl_(ttl) {}

  struct Found {
    std::optional<Answer> answer;  // none: never looked up; resolve and wait
    bool refresh = false;          // the answer is stale: look it up again in the background
  };

  Found Find(const std::string& key, typename Clock::time_point now) {
    auto entry = entries_.find(key);
    if (entry == entries_.end()) return {};
    Entry& found = entry->second;
    const bool refresh = now >= found.fresh_until && !found.refreshing;
    if (refresh) found.refreshing = true;
    return {found.answer, refresh};
  }

  void Store(const std::string& key, Answer answer, typename Clock::time_point now) {
    entries_.insert_or_assign(key, Entry{std::move(answer), now + ttl_, false});
  }

  // A background lookup for `key` failed: its answer stays, to be looked up again later.
  void RefreshFailed(const std::string& key, typename Clock::time_point now) {
    auto entry = entries_.find(key);
    if (entry == entries_.end()) return;
    entry->second.fresh_until = now + ttl_;
    entry->second.refreshing = false;
  }

 private:
  struct Entry {
    Answer answer;
    typename Clock::time_point fresh_until;
    bool refreshing = false;  // a background lookup is under way
  };

  typename Clock::duration ttl_;
  std::map<std::string, Entry> entries_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_DNS_CACHE_H_
