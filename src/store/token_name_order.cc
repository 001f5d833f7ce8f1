#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "core/free_memory.h"
#include "store/token_name_index.h"

// The ranked name order of TokenNameIndex: made, merged and installed by the maintenance
// thread, and searched by binary search for the tokens changed since it was made.
namespace gatehouse {

namespace {

// An order with changes is made again once this many wait to be placed, or once the oldest has
// waited kRemakeAfter: a search places a few quickly, and last uses change every second on a
// busy gateway, which would otherwise copy and merge a whole order every second.
constexpr std::size_t kRemakeAt = 256;
constexpr auto kRemakeAfter = std::chrono::seconds(10);
// A Rank that copied this many entries (tens of megabytes) hands the freed memory back.
constexpr std::size_t kTrimAfterEntries = 250'000;

// SQLite's NOCASE: bytes compared with ASCII letters folded.
int CompareNoCase(std::string_view a, std::string_view b) {
  const std::size_t size = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < size; ++i) {
    auto fold = [](char c) {
      return static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    };
    if (fold(a[i]) != fold(b[i])) return fold(a[i]) < fold(b[i]) ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

}  // namespace

std::string_view TokenNameIndex::TextOf(const Organization& organization, RankedKey key,
                                        const Entry& entry) {
  if (key == RankedKey::kDescription) {
    return std::string_view(organization.descriptions)
        .substr(entry.description_at, entry.description_size);
  }
  return std::string_view(organization.text).substr(entry.name_at, entry.name_size);
}

bool TokenNameIndex::Before(const Organization& organization, RankedKey key, std::uint32_t a,
                            std::uint32_t b) {
  const Entry& x = organization.entries[a];
  const Entry& y = organization.entries[b];
  const std::string& x_project = organization.projects[x.project].name;
  const std::string& y_project = organization.projects[y.project].name;
  switch (key) {
    case RankedKey::kName:
    case RankedKey::kDescription: {  // lower-cased already
      const auto x_text = TextOf(organization, key, x);
      const auto y_text = TextOf(organization, key, y);
      if (x_text != y_text) return x_text < y_text;
      break;
    }
    case RankedKey::kCreated:
      if (x.created_at != y.created_at) return x.created_at < y.created_at;
      break;
    case RankedKey::kLastUsed:  // SQL sorts NULL (never used) first
      if (x.last_used_at != y.last_used_at) return x.last_used_at < y.last_used_at;
      break;
    case RankedKey::kProjectName:
      if (x.project != y.project) {
        if (int order = CompareNoCase(x_project, y_project); order != 0) return order < 0;
      }
      if (x.status != y.status) return x.status < y.status;
      if (x.scope != y.scope) return x.scope < y.scope;
      return x.rowid < y.rowid;
  }
  if (x.status != y.status) return x.status < y.status;
  if (x.scope != y.scope) return x.scope < y.scope;
  if (x.project != y.project && x_project != y_project) return x_project < y_project;
  return x.rowid < y.rowid;
}

std::vector<std::uint32_t> TokenNameIndex::PlacesAmongRanked(
    const Organization& organization, RankedKey key, const std::vector<std::uint32_t>& extra) {
  const auto& ranked = organization.orders[static_cast<std::size_t>(key)].ranked;
  // Dead entries have changed since they were ranked, so the search compares with the nearest
  // live one instead.
  auto live_at_or_after = [&](std::size_t at, std::size_t end) {
    while (at < end && ranked[at].dead) ++at;
    return at;
  };
  std::vector<std::uint32_t> places;
  places.reserve(extra.size());
  for (std::uint32_t entry : extra) {
    std::size_t low = places.empty() ? 0 : places.back();  // extra is sorted
    std::size_t high = ranked.size();
    while (low < high) {
      const std::size_t middle = low + (high - low) / 2;
      const std::size_t live = live_at_or_after(middle, high);
      if (live == high) {
        high = middle;
      } else if (Before(organization, key, ranked[live].entry, entry)) {
        low = live + 1;
      } else {
        high = middle;
      }
    }
    places.push_back(static_cast<std::uint32_t>(low));
  }
  return places;
}

TokenNameIndex::Order TokenNameIndex::RankAll(const Organization& organization, RankedKey key) {
  const std::size_t count = organization.entries.size();
  // In name or description order sorted first by the first eight bytes of the text, so that
  // most comparisons are one of two numbers; the whole order decides between equal prefixes.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> keys(count);
  const bool by_text = key == RankedKey::kName || key == RankedKey::kDescription;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t prefix = 0;
    if (by_text) {
      const auto text = TextOf(organization, key, organization.entries[i]);
      for (std::size_t k = 0; k < 8; ++k) {
        prefix = (prefix << 8) | (k < text.size() ? static_cast<unsigned char>(text[k]) : 0);
      }
    }
    keys[i] = {prefix, i};
  }
  std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return Before(organization, key, a.second, b.second);
  });
  Order order;
  order.ranked.reserve(count);
  order.rank_of.assign(count, kUnranked);
  for (const auto& key : keys) order.Add(organization, key.second);
  return order;
}

TokenNameIndex::Order TokenNameIndex::MergeUnranked(const Organization& organization,
                                                    RankedKey key) {
  auto extra = organization.orders[static_cast<std::size_t>(key)].unranked;
  std::sort(extra.begin(), extra.end(),
            [&](std::uint32_t a, std::uint32_t b) { return Before(organization, key, a, b); });
  const auto places = PlacesAmongRanked(organization, key, extra);
  const auto& ranked = organization.orders[static_cast<std::size_t>(key)].ranked;
  Order order;
  order.ranked.reserve(ranked.size() + extra.size());
  order.rank_of.assign(organization.entries.size(), kUnranked);
  std::size_t next = 0;
  for (std::size_t at = 0; at <= ranked.size(); ++at) {
    while (next < extra.size() && places[next] == at) order.Add(organization, extra[next++]);
    if (at < ranked.size() && !ranked[at].dead) order.Add(organization, ranked[at].entry);
  }
  return order;
}

void TokenNameIndex::Order::Add(const Organization& organization, std::uint32_t index) {
  const Entry& entry = organization.entries[index];
  rank_of[index] = static_cast<std::uint32_t>(ranked.size());
  ranked.push_back(Ranked{index, entry.project, entry.status, entry.scope, false});
}

void TokenNameIndex::Order::AddUnranked(std::uint32_t entry) {
  if (unranked.empty()) unranked_since = std::chrono::steady_clock::now();
  unranked.push_back(entry);
}

void TokenNameIndex::Install(Organization& organization, MadeOrders orders, std::uint64_t since) {
  for (std::size_t key = 0; key < kRankedKeys; ++key) {
    if (!orders[key]) continue;
    Order& order = organization.orders[key] = std::move(*orders[key]);
    order.rank_of.resize(organization.entries.size(), kUnranked);
    order.unranked.clear();
    const bool by_last_use = key == static_cast<std::size_t>(RankedKey::kLastUsed);
    for (std::uint32_t index = 0; index < organization.entries.size(); ++index) {
      const Entry& entry = organization.entries[index];
      if (entry.changed <= since && (!by_last_use || entry.used_changed <= since)) continue;
      std::uint32_t& place = order.rank_of[index];
      if (place != kUnranked) order.ranked[place].dead = true;
      place = kUnranked;
      order.AddUnranked(index);
    }
  }
  organization.ranked_valid = true;
}

void TokenNameIndex::Rank() {
  std::lock_guard ranking(rank_mutex_);
  struct Job {
    std::string organization_id;
    Organization copy;
    std::uint64_t changes;
    std::uint64_t invalidations;
    std::array<bool, kRankedKeys> remake;
    std::size_t copied_entries = 0;
  };
  std::vector<Job> jobs;
  const auto now = std::chrono::steady_clock::now();
  {
    std::shared_lock lock(mutex_);
    for (const auto& [id, organization] : organizations_) {
      // Only the orders with changes are made again, from a copy of what Before reads.
      Job job{id, {}, organization.changes, organization.invalidations, {}};
      for (std::size_t key = 0; key < kRankedKeys; ++key) {
        const Order& order = organization.orders[key];
        job.remake[key] = !organization.ranked_valid ||
                          order.unranked.size() >= (merge_at_once_ ? 1 : kRemakeAt) ||
                          (!order.unranked.empty() && now - order.unranked_since >= kRemakeAfter);
      }
      if (std::find(job.remake.begin(), job.remake.end(), true) == job.remake.end()) continue;
      if (job.remake[static_cast<std::size_t>(RankedKey::kName)]) job.copy.text = organization.text;
      if (job.remake[static_cast<std::size_t>(RankedKey::kDescription)]) {
        job.copy.descriptions = organization.descriptions;
      }
      job.copied_entries = organization.entries.size();
      job.copy.entries = organization.entries;
      job.copy.projects = organization.projects;
      job.copy.ranked_valid = organization.ranked_valid;
      for (std::size_t key = 0; key < kRankedKeys; ++key) {
        if (organization.ranked_valid && job.remake[key]) {
          job.copy.orders[key] = organization.orders[key];
        }
      }
      jobs.push_back(std::move(job));
    }
  }
  for (auto& job : jobs) {
    MadeOrders orders;
    for (std::size_t key = 0; key < kRankedKeys; ++key) {
      if (!job.remake[key]) continue;
      const auto ranked_key = static_cast<RankedKey>(key);
      orders[key] = job.copy.ranked_valid ? MergeUnranked(job.copy, ranked_key)
                                          : RankAll(job.copy, ranked_key);
    }
    std::unique_lock lock(mutex_);
    auto found = organizations_.find(job.organization_id);
    // A project renamed meanwhile may have moved tokens that the order has in place.
    if (found == organizations_.end() || found->second.invalidations != job.invalidations) {
      continue;
    }
    Install(found->second, std::move(orders), job.changes);
    lock.unlock();
    job.copy = Organization{};
  }
  // At a million tokens the copies and the sort keys were hundreds of megabytes: give back
  // what the allocator keeps of them. Small ones are left to be reused (a purge also empties
  // every other thread's arena, which then grow again).
  std::size_t copied = 0;
  for (const auto& job : jobs) copied += job.copied_entries;
  if (copied >= kTrimAfterEntries) ReturnFreeMemory();
}

}  // namespace gatehouse
