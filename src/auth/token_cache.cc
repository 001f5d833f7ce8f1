#include "auth/token_cache.h"

#include <algorithm>

namespace gatehouse {

TokenCache::HashKey TokenCache::HashKey::Of(std::string_view hash) {
  HashKey key;
  key.size = static_cast<std::uint8_t>(std::min(hash.size(), key.bytes.size()));
  std::copy_n(hash.data(), key.size, key.bytes.data());
  return key;
}

const std::string& TokenCache::InternLocked(const std::string& id) {
  return *ids_.insert(id).first;
}

void TokenCache::Put(const ApiToken& token, const TokenCredential& credential) {
  std::unique_lock lock(mutex_);
  TimeMs last_used = token.last_used_at.value_or(0);
  if (auto it = by_id_.find(token.id); it != by_id_.end()) {
    last_used = std::max(last_used, it->second.token->last_used_at.load());
  }
  RemoveLocked(token.id);
  if (!token.project_id.empty() && !token.project_name.empty()) {
    if (auto& name = names_[token.project_id]; name != token.project_name) {
      name = token.project_name;
    }
  }
  if (!token.organization_name.empty()) {
    if (auto& name = names_[token.organization_id]; name != token.organization_name) {
      name = token.organization_name;
    }
  }
  if (token.status == TokenStatus::kRevoked) return;

  auto cached = std::make_shared<CachedToken>(token.id, InternLocked(token.organization_id),
                                              InternLocked(token.project_id));
  cached->name = token.name;
  cached->scope = token.scope;
  cached->status = token.status;
  cached->expires_at = token.expires_at;
  cached->rate_limit_per_minute = token.rate_limit_per_minute;
  cached->permissions = CompiledPermissions::Compile(token.permissions);
  cached->last_used_at.store(last_used);

  TokenEntry entry{cached, HashKey::Of(credential.secret_hash), std::nullopt};
  by_hash_[entry.hash] = HashEntry{cached, std::nullopt};
  if (credential.previous_hash && credential.previous_valid_until) {
    entry.previous_hash = HashKey::Of(*credential.previous_hash);
    by_hash_[*entry.previous_hash] = HashEntry{cached, credential.previous_valid_until};
  }
  by_id_.emplace(std::string_view(cached->id), std::move(entry));
}

void TokenCache::Remove(const std::string& token_id) {
  std::unique_lock lock(mutex_);
  RemoveLocked(token_id);
}

void TokenCache::RemoveLocked(const std::string& token_id) {
  auto it = by_id_.find(token_id);
  if (it == by_id_.end()) return;
  by_hash_.erase(it->second.hash);
  if (it->second.previous_hash) by_hash_.erase(*it->second.previous_hash);
  by_id_.erase(it);
}

std::shared_ptr<const CachedToken> TokenCache::FindByHash(std::string_view hash, TimeMs now) const {
  if (hash.size() > sizeof(HashKey::bytes)) return nullptr;
  std::shared_lock lock(mutex_);
  auto it = by_hash_.find(HashKey::Of(hash));
  if (it == by_hash_.end()) return nullptr;
  if (it->second.valid_until && *it->second.valid_until <= now) return nullptr;
  return it->second.token;
}

std::shared_ptr<const CachedToken> TokenCache::FindById(const std::string& token_id) const {
  std::shared_lock lock(mutex_);
  auto it = by_id_.find(token_id);
  return it == by_id_.end() ? nullptr : it->second.token;
}

std::string TokenCache::NameOf(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = names_.find(id);
  return it == names_.end() ? std::string() : it->second;
}

void TokenCache::MarkUsed(const CachedToken& token, TimeMs now) {
  token.last_used_at.store(now, std::memory_order_relaxed);
  if (!token.last_used_dirty.exchange(true, std::memory_order_acq_rel)) {
    std::lock_guard lock(used_mutex_);
    used_ids_.push_back(token.id);
  }
}

std::vector<std::pair<std::string, TimeMs>> TokenCache::TakeLastUsed() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(used_mutex_);
    ids.swap(used_ids_);
  }
  std::vector<std::pair<std::string, TimeMs>> out;
  out.reserve(ids.size());
  for (auto& id : ids) {
    if (auto token = FindById(id)) {
      token->last_used_dirty.store(false, std::memory_order_release);
      out.emplace_back(std::move(id), token->last_used_at.load(std::memory_order_relaxed));
    }
  }
  return out;
}

std::size_t TokenCache::size() const {
  std::shared_lock lock(mutex_);
  return by_id_.size();
}

}  // namespace gatehouse
