#include "gateway/concurrency_caps.h"

namespace gatehouse {

class ConcurrencyCaps::Slot {
 public:
  Slot() = default;  // a call no cap counts
  Slot(ConcurrencyCaps& caps, std::string provider, std::string token)
      : caps_(&caps), provider_(std::move(provider)), token_(std::move(token)) {}
  ~Slot() {
    if (!caps_) return;
    std::lock_guard lock(caps_->mutex_);
    if (--caps_->per_provider_[provider_] == 0) caps_->per_provider_.erase(provider_);
    const auto key = std::make_pair(provider_, token_);
    if (--caps_->per_token_[key] == 0) caps_->per_token_.erase(key);
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  ConcurrencyCaps* caps_ = nullptr;
  std::string provider_;
  std::string token_;
};

std::shared_ptr<ConcurrencyCaps::Slot> ConcurrencyCaps::Acquire(const ProviderConfig& provider,
                                                                const std::string& token_id) {
  if (provider.max_concurrent <= 0 && provider.max_concurrent_per_token <= 0) {
    // A provider without caps counts nothing: no lock shared by the loops, no allocation. A
    // provider's caps are read from the configuration at start and never change, so no capped
    // call can miss the uncapped calls it would have to count.
    static Slot uncapped;
    return std::shared_ptr<Slot>(std::shared_ptr<Slot>(), &uncapped);  // owns nothing
  }
  std::lock_guard lock(mutex_);
  auto& per_provider = per_provider_[provider.name];
  auto& per_token = per_token_[std::make_pair(provider.name, token_id)];
  if ((provider.max_concurrent > 0 && per_provider >= provider.max_concurrent) ||
      (provider.max_concurrent_per_token > 0 && per_token >= provider.max_concurrent_per_token)) {
    if (per_provider == 0) per_provider_.erase(provider.name);
    if (per_token == 0) per_token_.erase(std::make_pair(provider.name, token_id));
    return nullptr;
  }
  ++per_provider;
  ++per_token;
  return std::make_shared<Slot>(*this, provider.name, token_id);
}

}  // namespace gatehouse
