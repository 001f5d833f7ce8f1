#include "auth/console_sessions.h"

#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "core/text.h"

namespace gatehouse {
namespace {

void EraseFrom(std::unordered_map<std::string, std::set<std::pair<TimeMs, std::string>>>& index,
               const std::string& key, const std::pair<TimeMs, std::string>& entry) {
  auto it = index.find(key);
  if (it == index.end()) return;
  it->second.erase(entry);
  if (it->second.empty()) index.erase(it);
}

}  // namespace

std::string RandomHex32() {
  std::array<unsigned char, 32> bytes;
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) std::abort();
  return ToHex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::optional<std::string> ConsoleSessions::Open(const std::string& token_id,
                                                 const std::string& organization_id,
                                                 const std::string& secret_hash, TimeMs now,
                                                 ConsoleSession& session) {
  std::string cookie = RandomHex32();
  ConsoleSession opened{token_id, organization_id, secret_hash, RandomHex32(), now + lifetime_ms_};
  std::lock_guard lock(mutex_);
  EndExpiredLocked(now);
  if (auto it = by_token_.find(token_id);
      it != by_token_.end() && it->second.size() >= limits_.per_token) {
    CloseLocked(it->second.begin()->second);
  }
  if (auto it = by_organization_.find(organization_id);
      it != by_organization_.end() && it->second.size() >= limits_.per_organization) {
    CloseLocked(it->second.begin()->second);
  }
  if (sessions_.size() >= limits_.total) return std::nullopt;
  const auto entry = std::make_pair(opened.expires_at, cookie);
  by_expiry_.insert(entry);
  by_token_[token_id].insert(entry);
  by_organization_[organization_id].insert(entry);
  session = opened;
  sessions_.emplace(cookie, std::move(opened));
  return cookie;
}

std::optional<ConsoleSession> ConsoleSessions::Find(const std::string& cookie_value, TimeMs now) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(cookie_value);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_at <= now) {
    CloseLocked(cookie_value);
    return std::nullopt;
  }
  return it->second;
}

void ConsoleSessions::Close(const std::string& cookie_value) {
  std::lock_guard lock(mutex_);
  CloseLocked(cookie_value);
}

std::size_t ConsoleSessions::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void ConsoleSessions::CloseLocked(const std::string& cookie_value) {
  auto it = sessions_.find(cookie_value);
  if (it == sessions_.end()) return;
  // A copy: `cookie_value` may be a key of the indexes erased below.
  const auto entry = std::make_pair(it->second.expires_at, std::string(cookie_value));
  by_expiry_.erase(entry);
  EraseFrom(by_token_, it->second.token_id, entry);
  EraseFrom(by_organization_, it->second.organization_id, entry);
  sessions_.erase(it);
}

void ConsoleSessions::EndExpiredLocked(TimeMs now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    CloseLocked(std::string(by_expiry_.begin()->second));
  }
}

}  // namespace gatehouse
