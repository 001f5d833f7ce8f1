#include "usage/export_slots.h"

#include <utility>

namespace gatehouse {

ExportSlots::Slot::Slot(ExportSlots* slots, std::string token_id, std::string organization_id)
    : slots_(slots), token_id_(std::move(token_id)), organization_id_(std::move(organization_id)) {}

ExportSlots::Slot::Slot(Slot&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)),
      token_id_(std::move(other.token_id_)),
      organization_id_(std::move(other.organization_id_)) {}

ExportSlots::Slot& ExportSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    slots_ = std::exchange(other.slots_, nullptr);
    token_id_ = std::move(other.token_id_);
    organization_id_ = std::move(other.organization_id_);
  }
  return *this;
}

ExportSlots::Slot::~Slot() { Release(); }

void ExportSlots::Slot::Release() {
  if (slots_) std::exchange(slots_, nullptr)->Release(token_id_, organization_id_);
}

ExportSlots::ExportSlots(std::int64_t per_token, std::int64_t per_organization)
    : per_token_(per_token), per_organization_(per_organization) {}

Result<ExportSlots::Slot> ExportSlots::Acquire(const std::string& token_id,
                                               const std::string& organization_id) {
  std::lock_guard lock(mutex_);
  auto token = by_token_.find(token_id);
  auto organization = by_organization_.find(organization_id);
  const bool token_full = token != by_token_.end() && token->second >= per_token_;
  const bool organization_full =
      organization != by_organization_.end() && organization->second >= per_organization_;
  if (token_full || organization_full) {
    Error error(ErrorCode::kRateLimited, {},
                token_full ? "too many exports of this token"
                           : "too many exports of this "
                             "organization");
    error.retry_after_seconds = kExportRetryAfterSeconds;
    return std::unexpected(std::move(error));
  }
  ++by_token_[token_id];
  ++by_organization_[organization_id];
  return Slot(this, token_id, organization_id);
}

std::int64_t ExportSlots::InUse(const std::string& organization_id) const {
  std::lock_guard lock(mutex_);
  auto found = by_organization_.find(organization_id);
  return found == by_organization_.end() ? 0 : found->second;
}

void ExportSlots::Release(const std::string& token_id, const std::string& organization_id) {
  std::lock_guard lock(mutex_);
  if (auto found = by_token_.find(token_id); found != by_token_.end() && --found->second <= 0) {
    by_token_.erase(found);
  }
  if (auto found = by_organization_.find(organization_id);
      found != by_organization_.end() && --found->second <= 0) {
    by_organization_.erase(found);
  }
}

}  // namespace gatehouse
