#ifndef GATEHOUSE_USAGE_EXPORT_SLOTS_H_
#define GATEHOUSE_USAGE_EXPORT_SLOTS_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/error.h"

namespace gatehouse {

// Seconds a client refused for too many exports is told to wait (Retry-After).
inline constexpr int kExportRetryAfterSeconds = 5;

// Bounds the request exports streaming at once per token and per organization, so that clients
// that open exports and never read them cannot pin the server's memory or starve other
// organizations of the blocking pool. Thread-safe.
class ExportSlots {
 public:
  // One export's claim on a slot of its token and of its organization, given back when it is
  // destroyed (with the export's response, however its connection ends). Move-only; a
  // default-constructed or moved-from slot holds nothing. `slots` must outlive it.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    friend class ExportSlots;
    Slot(ExportSlots* slots, std::string token_id, std::string organization_id);
    void Release();

    ExportSlots* slots_ = nullptr;
    std::string token_id_;
    std::string organization_id_;
  };

  // Both bounds at least 1.
  ExportSlots(std::int64_t per_token, std::int64_t per_organization);
  ExportSlots(const ExportSlots&) = delete;
  ExportSlots& operator=(const ExportSlots&) = delete;

  // A slot for one more export by token `token_id` of `organization_id`, or 429 id 9002 (with
  // Retry-After kExportRetryAfterSeconds) when the token or the organization has its bound of
  // exports streaming already.
  Result<Slot> Acquire(const std::string& token_id, const std::string& organization_id);

  // Exports streaming for `organization_id` now.
  std::int64_t InUse(const std::string& organization_id) const;

 private:
  void Release(const std::string& token_id, const std::string& organization_id);

  const std::int64_t per_token_;
  const std::int64_t per_organization_;
  mutable std::mutex mutex_;
  // Exports streaming, by token id and by organization id; guarded by mutex_; entries at zero
  // are erased, so the maps hold only ids with exports in progress.
  std::unordered_map<std::string, std::int64_t> by_token_;
  std::unordered_map<std::string, std::int64_t> by_organization_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_EXPORT_SLOTS_H_
