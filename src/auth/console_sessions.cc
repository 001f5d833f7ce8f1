#include "auth/console_sessions.h"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
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

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    std::abort();
  }
  return ToHex(raw);
}

}  // namespace

std::string RandomHex32() { return RandomHex(32); }

std::optional<std::string> ConsoleSessions::Open(const std::string& token_id,
                                                 const std::string& organization_id,
                                                 const std::string& secret_hash, TimeMs now,
                                                 ConsoleSession& session) {
  ConsoleSession opened{RandomHex(16), token_id,      organization_id,
                        secret_hash,   RandomHex32(), now + lifetime_ms_};
  std::string cookie = SealSessionCookie(keyring_, opened);
  std::lock_guard lock(mutex_);
  EndExpiredLocked(now);
  if (auto it = by_token_.find(token_id);
      it != by_token_.end() && it->second.size() >= limits_.per_token) {
    const auto oldest = *it->second.begin();
    EndLocked(oldest.second, oldest.first);
  }
  if (auto it = by_organization_.find(organization_id);
      it != by_organization_.end() && it->second.size() >= limits_.per_organization) {
    const auto oldest = *it->second.begin();
    EndLocked(oldest.second, oldest.first);
  }
  if (sessions_.size() >= limits_.total) return std::nullopt;
  const auto entry = std::make_pair(opened.expires_at, opened.session_id);
  by_expiry_.insert(entry);
  by_token_[token_id].insert(entry);
  by_organization_[organization_id].insert(entry);
  session = opened;
  sessions_.emplace(opened.session_id, std::move(opened));
  return cookie;
}

std::optional<ConsoleSession> ConsoleSessions::Find(std::string_view cookie_value, TimeMs now) {
  auto session = OpenSessionCookie(keyring_, cookie_value);
  if (!session) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (session->expires_at <= now) {
    CloseLocked(session->session_id);
    return std::nullopt;
  }
  if (signed_out_.contains(session->session_id)) return std::nullopt;
  // Opened at its expiry less the lifetime, which is the same on every node.
  if (auto end = token_ends_.find(session->token_id);
      end != token_ends_.end() && session->expires_at - lifetime_ms_ <= end->second) {
    return std::nullopt;
  }
  return session;
}

void ConsoleSessions::End(const ConsoleSession& session) {
  std::lock_guard lock(mutex_);
  EndLocked(session.session_id, session.expires_at);
}

void ConsoleSessions::EndIfOpenedHere(const ConsoleSession& session) {
  std::lock_guard lock(mutex_);
  if (sessions_.contains(session.session_id)) EndLocked(session.session_id, session.expires_at);
}

void ConsoleSessions::AddSignedOut(const std::string& session_id, TimeMs expires_at, TimeMs now) {
  if (expires_at <= now) return;
  if (session_id.starts_with(kTokenSessionsPrefix)) {
    // "token:<token id>:<time>" (TokenSessionsEnd).
    const std::size_t colon = session_id.rfind(':');
    const std::size_t id = kTokenSessionsPrefix.size();
    TimeMs at = 0;
    const char* digits = session_id.data() + colon + 1;
    const char* last = session_id.data() + session_id.size();
    if (colon > id && digits < last && std::from_chars(digits, last, at).ptr == last) {
      EndTokenSessions(session_id.substr(id, colon - id), at);
    }
    return;
  }
  std::lock_guard lock(mutex_);
  AddSignedOutLocked(session_id, expires_at);
  CloseLocked(session_id);
}

void ConsoleSessions::EndTokenSessions(const std::string& token_id, TimeMs at) {
  std::lock_guard lock(mutex_);
  TimeMs& end = token_ends_[token_id];
  end = std::max(end, at);
  if (auto opened = by_token_.find(token_id); opened != by_token_.end()) {
    std::vector<std::string> ids;
    for (const auto& [expires_at, session_id] : opened->second) {
      if (expires_at - lifetime_ms_ <= at) ids.push_back(session_id);
    }
    for (const std::string& session_id : ids) CloseLocked(session_id);
  }
}

EndedSession TokenSessionsEnd(const std::string& token_id, TimeMs at) {
  return EndedSession{std::string(kTokenSessionsPrefix) + token_id + ":" + std::to_string(at),
                      at + kConsoleSessionLifetimeMs};
}

std::vector<EndedSession> ConsoleSessions::TakeEnded() {
  std::lock_guard lock(mutex_);
  return std::exchange(ended_, {});
}

void ConsoleSessions::Requeue(std::vector<EndedSession> ended) {
  std::lock_guard lock(mutex_);
  ended_.insert(ended_.end(), std::make_move_iterator(ended.begin()),
                std::make_move_iterator(ended.end()));
}

void ConsoleSessions::Prune(TimeMs now) {
  std::lock_guard lock(mutex_);
  EndExpiredLocked(now);
  while (!signed_out_by_expiry_.empty() && signed_out_by_expiry_.begin()->first <= now) {
    signed_out_.erase(signed_out_by_expiry_.begin()->second);
    signed_out_by_expiry_.erase(signed_out_by_expiry_.begin());
  }
  // Every session a token's end covers has expired a lifetime after it (a few per day at most).
  std::erase_if(token_ends_, [&](const auto& end) { return end.second + lifetime_ms_ <= now; });
}

std::size_t ConsoleSessions::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

std::size_t ConsoleSessions::signed_out_size() const {
  std::lock_guard lock(mutex_);
  return signed_out_.size();
}

void ConsoleSessions::CloseLocked(const std::string& session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  // A copy: `session_id` may be a key of the indexes erased below.
  const auto entry = std::make_pair(it->second.expires_at, std::string(session_id));
  by_expiry_.erase(entry);
  EraseFrom(by_token_, it->second.token_id, entry);
  EraseFrom(by_organization_, it->second.organization_id, entry);
  sessions_.erase(it);
}

void ConsoleSessions::EndLocked(const std::string& session_id, TimeMs expires_at) {
  // A copy: `session_id` may be a key of the indexes CloseLocked erases.
  const std::string id = session_id;
  CloseLocked(id);
  if (signed_out_.contains(id)) return;
  AddSignedOutLocked(id, expires_at);
  ended_.push_back(EndedSession{id, expires_at});
}

void ConsoleSessions::AddSignedOutLocked(const std::string& session_id, TimeMs expires_at) {
  if (signed_out_.insert(session_id).second) {
    signed_out_by_expiry_.emplace(expires_at, session_id);
  }
}

void ConsoleSessions::EndExpiredLocked(TimeMs now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    CloseLocked(std::string(by_expiry_.begin()->second));
  }
}

}  // namespace gatehouse
