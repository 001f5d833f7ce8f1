#include "auth/console_sessions.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <vector>

#include "core/text.h"

namespace gatehouse {

std::string RandomHex32() {
  std::array<unsigned char, 32> bytes;
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) std::abort();
  return ToHex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string ConsoleSessions::Open(const std::string& token_id, TimeMs now,
                                  ConsoleSession& session) {
  session = ConsoleSession{token_id, RandomHex32(), now + lifetime_ms_};
  std::string cookie = RandomHex32();
  std::lock_guard lock(mutex_);
  // Forget expired sessions so the map cannot grow without bound.
  std::erase_if(sessions_, [now](const auto& entry) { return entry.second.expires_at <= now; });
  if (sessions_.size() >= kMaxConsoleSessions) {
    sessions_.erase(std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires_at < b.second.expires_at;
    }));
  }
  sessions_[cookie] = session;
  return cookie;
}

std::optional<ConsoleSession> ConsoleSessions::Find(const std::string& cookie_value, TimeMs now) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(cookie_value);
  if (it == sessions_.end() || it->second.expires_at <= now) return std::nullopt;
  return it->second;
}

void ConsoleSessions::Close(const std::string& cookie_value) {
  std::lock_guard lock(mutex_);
  sessions_.erase(cookie_value);
}

}  // namespace gatehouse
