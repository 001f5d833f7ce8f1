#include "store/token_name_index.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gatehouse {

namespace {

// Changes stamped up to this long before the previous sync began are read again: a
// transaction may commit a little after it stamped its rows.
constexpr std::int64_t kSyncOverlapMs = 5000;
// Text of replaced names is dropped once it is half of an organization's text and this large.
constexpr std::size_t kCompactAtBytes = 64 * 1024;
// A page in name order walks the ranked order while at most this many tokens changed since it
// was made (each search sorts and places the changed ones among it).
constexpr std::size_t kMaxUnranked = 4096;

// SQLite's LIKE and NOCASE fold ASCII letters only.
void AppendLower(std::string& out, std::string_view text) {
  for (char c : text) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
}

// The largest k >= from with names[k].first <= at (names sorted by offset, names[from].first
// <= at): a gallop, since consecutive hits usually lie close together.
std::size_t NameAt(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& names,
                   std::size_t from, std::uint32_t at) {
  std::size_t step = 1;
  while (from + step < names.size() && names[from + step].first <= at) step *= 2;
  const auto first = names.begin() + static_cast<std::ptrdiff_t>(from + step / 2);
  const auto last =
      names.begin() + static_cast<std::ptrdiff_t>(std::min(from + step, names.size()));
  const auto after = std::upper_bound(
      first, last, at, [](std::uint32_t offset, const auto& name) { return offset < name.first; });
  return static_cast<std::size_t>(after - names.begin()) - 1;
}

// Where `needle` next occurs in `text` at or after `from` (npos if nowhere), comparing the
// needle's bytes at `first` and `second` sixteen positions at a time before the whole needle.
std::size_t NextHit(std::string_view text, std::size_t from, std::string_view needle,
                    std::size_t first, std::size_t second) {
  const std::size_t size = needle.size();
  if (text.size() < size) return std::string_view::npos;
  const std::size_t last = text.size() - size;  // the last possible start
#if defined(__SSE2__)
  const __m128i want_first = _mm_set1_epi8(needle[first]);
  const __m128i want_second = _mm_set1_epi8(needle[second]);
  for (; from + 16 <= last + 1; from += 16) {
    const __m128i at_first =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + from + first));
    const __m128i at_second =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + from + second));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(
        _mm_cmpeq_epi8(at_first, want_first), _mm_cmpeq_epi8(at_second, want_second))));
    for (; mask; mask &= mask - 1) {
      const std::size_t start = from + static_cast<std::size_t>(__builtin_ctz(mask));
      if (std::memcmp(text.data() + start, needle.data(), size) == 0) return start;
    }
  }
#endif
  for (; from <= last; ++from) {
    if (text[from + first] == needle[first] &&
        std::memcmp(text.data() + from, needle.data(), size) == 0) {
      return from;
    }
  }
  return std::string_view::npos;
}

}  // namespace

NameSearch NameSearchFor(const TokenQuery& query) {
  NameSearch search{.organization_id = query.organization_id, .text = query.name_contains};
  if (query.scope) search.scope = StoredCode(*query.scope);
  if (!query.project_id.empty()) search.project_id = query.project_id;
  for (TokenStatus status : query.statuses) search.statuses.push_back(StoredCode(status));
  return search;
}

bool TokenNameIndex::RowidBefore(const Entry& entry, std::int64_t rowid) {
  return entry.rowid < rowid;
}

struct TokenNameIndex::Filter {
  Filter(const Organization& organization, const NameSearch& search) : scope(search.scope) {
    // Which projects pass (index 0, no project, passes only without a project filter).
    if (search.project_id || search.project_ids) {
      project_passes.assign(organization.projects.size(), 1);
      project_passes[0] = 0;
      if (search.project_id) {
        auto at = organization.project_by_id.find(*search.project_id);
        for (std::size_t i = 1; i < project_passes.size(); ++i) {
          project_passes[i] = at != organization.project_by_id.end() && at->second == i;
        }
      }
      if (search.project_ids) {
        std::vector<char> listed(project_passes.size(), 0);
        for (const auto& id : *search.project_ids) {
          auto at = organization.project_by_id.find(id);
          if (at != organization.project_by_id.end()) listed[at->second] = 1;
        }
        for (std::size_t i = 0; i < listed.size(); ++i) project_passes[i] &= listed[i];
      }
    }
    status_passes.fill(search.statuses.empty() ? 1 : 0);
    for (std::int64_t status : search.statuses) {
      if (status >= 0 && status < 256) status_passes[static_cast<std::size_t>(status)] = 1;
    }
  }

  bool Passes(std::uint32_t project, std::uint8_t status, std::uint8_t entry_scope) const {
    if (!status_passes[status]) return false;
    if (scope && entry_scope != *scope) return false;
    return project_passes.empty() || project_passes[project];
  }

  std::optional<std::int64_t> scope;
  std::vector<char> project_passes;  // by project; empty = any
  std::array<char, 256> status_passes{};
};

Result<bool> TokenNameIndex::Sync(NameIndexSource& source) {
  std::unique_lock sync(sync_mutex_, std::defer_lock);
  bool loaded;
  {
    std::shared_lock lock(mutex_);
    loaded = loaded_;
  }
  if (loaded) {
    sync.lock();
  } else if (!sync.try_lock()) {
    return false;  // another thread loads it
  }
  auto note = [this](const NameIndexRow& row) {
    max_updated_at_ = std::max(max_updated_at_, row.updated_at);
    max_rowid_ = std::max(max_rowid_, row.rowid);
  };
  {
    std::shared_lock lock(mutex_);
    loaded = loaded_;
  }
  if (!loaded) {
    auto started = source.NowMs();
    if (!started) return std::unexpected(started.error());
    {
      // Uses committed before the read below are in what it reads; only later ones are kept.
      std::unique_lock lock(mutex_);
      uses_while_loading_.clear();
    }
    Organizations fresh;
    auto read = source.ReadAll([&](const NameIndexRow& row) {
      note(row);
      Apply(fresh, row);
    });
    if (!read) return std::unexpected(read.error());
    for (auto& [id, organization] : fresh) {  // grown by doubling while loading
      organization.text.shrink_to_fit();
      organization.descriptions.shrink_to_fit();
      organization.names.shrink_to_fit();
      organization.entries.shrink_to_fit();
      for (Order& order : organization.orders) order.rank_of.shrink_to_fit();
    }
    std::unique_lock lock(mutex_);
    organizations_ = std::move(fresh);
    loaded_ = true;
    for (const LastUse& use : uses_while_loading_) {
      auto found = organizations_.find(use.organization_id);
      if (found != organizations_.end()) ApplyLastUse(found->second, use.rowid, use.at);
    }
    uses_while_loading_.clear();
    uses_while_loading_.shrink_to_fit();
    last_sync_ms_ = *started;
    return true;
  }
  // Rows stamped since the previous sync (less the overlap), and rows added since, whatever
  // their stamp (a clock set back).
  const std::int64_t since = std::min(max_updated_at_, last_sync_ms_ - kSyncOverlapMs);
  std::vector<NameIndexRow> rows;
  auto started =
      source.ReadChanged(since, max_rowid_, [&](const NameIndexRow& row) { rows.push_back(row); });
  if (!started) return std::unexpected(started.error());
  std::sort(rows.begin(), rows.end(),
            [](const NameIndexRow& a, const NameIndexRow& b) { return a.rowid < b.rowid; });
  if (!rows.empty()) {
    std::unique_lock lock(mutex_);
    for (const NameIndexRow& row : rows) {
      note(row);
      Apply(organizations_, row);
    }
  }
  last_sync_ms_ = *started;
  return true;
}

void TokenNameIndex::Apply(Organizations& organizations, const NameIndexRow& row) {
  Organization& organization = organizations[row.organization_id];
  std::uint32_t project = 0;
  if (!row.project_id.empty()) {
    auto [at, added] = organization.project_by_id.try_emplace(
        row.project_id, static_cast<std::uint32_t>(organization.projects.size()));
    if (added) {
      organization.projects.push_back(Project{row.project_id, row.project_name});
    } else if (organization.projects[at->second].name != row.project_name) {
      organization.projects[at->second].name = row.project_name;
      organization.ranked_valid = false;  // the project's tokens may move in the name order
      ++organization.invalidations;
    }
    project = at->second;
  }
  auto& entries = organization.entries;
  auto at = std::lower_bound(entries.begin(), entries.end(), row.rowid, RowidBefore);
  const bool known = at != entries.end() && at->rowid == row.rowid;
  if (!known) {
    const bool last = at == entries.end();
    at = entries.insert(at, Entry{.rowid = row.rowid,
                                  .changed = ++organization.changes,
                                  .created_at = row.created_at,
                                  .last_used_at = row.last_used_at.value_or(kNeverUsed)});
    const auto index = static_cast<std::uint32_t>(at - entries.begin());
    SetDescription(organization, index, row.description);
    if (!last) {
      // A row committed after one with a larger rowid: on SQLite rowids grow, but PostgreSQL's
      // nodes draw seqs concurrently. The entries after it moved up one place; so do their
      // names (one pass over 8 bytes a name), and the orders are made again.
      for (auto& [offset, named] : organization.names) {
        if (named >= index) ++named;
      }
      at->project = project;
      at->status = static_cast<std::uint8_t>(row.status);
      at->scope = static_cast<std::uint8_t>(row.scope);
      AppendName(organization, index, row.name);
      organization.ranked_valid = false;
      ++organization.invalidations;
      for (Order& order : organization.orders) {
        order.rank_of.assign(entries.size(), kUnranked);
        order.unranked.clear();
      }
      return;
    }
  }
  Entry& entry = *at;
  const bool moved =
      !known || entry.project != project || entry.status != row.status || entry.scope != row.scope;
  entry.project = project;
  entry.status = static_cast<std::uint8_t>(row.status);
  entry.scope = static_cast<std::uint8_t>(row.scope);
  const auto index = static_cast<std::uint32_t>(at - entries.begin());
  if (!known) {
    for (Order& order : organization.orders) {
      order.rank_of.push_back(kUnranked);
      if (organization.ranked_valid) order.AddUnranked(index);
    }
    AppendName(organization, index, row.name);
    return;
  }
  const bool described = SetDescription(organization, index, row.description);
  std::string lower;
  AppendLower(lower, row.name);
  const bool renamed =
      std::string_view(organization.text).substr(entry.name_at, entry.name_size) != lower;
  if (moved || renamed || described) Unrank(organization, index);
  SetLastUse(organization, index, row.last_used_at.value_or(kNeverUsed));
  if (!renamed) return;
  for (std::uint32_t i = entry.name_at; i < entry.name_at + entry.name_size; ++i) {
    --organization.byte_counts[static_cast<unsigned char>(organization.text[i])];
  }
  std::memset(organization.text.data() + entry.name_at, 0, entry.name_size);
  organization.dead_bytes += entry.name_size + 1;
  AppendName(organization, index, row.name);
  if (organization.text.size() >= kCompactAtBytes &&
      organization.dead_bytes * 2 >= organization.text.size()) {
    Compact(organization);
  }
}

void TokenNameIndex::AppendName(Organization& organization, std::uint32_t entry,
                                const std::string& name) {
  const auto at = static_cast<std::uint32_t>(organization.text.size());
  AppendLower(organization.text, name);
  organization.text.push_back('\0');
  for (std::size_t i = at; i < organization.text.size(); ++i) {
    ++organization.byte_counts[static_cast<unsigned char>(organization.text[i])];
  }
  organization.entries[entry].name_at = at;
  organization.entries[entry].name_size = static_cast<std::uint32_t>(name.size());
  organization.names.emplace_back(at, entry);
}

void TokenNameIndex::Compact(Organization& organization) {
  std::string text;
  text.reserve(organization.text.size() - organization.dead_bytes);
  organization.names.clear();
  for (std::uint32_t i = 0; i < organization.entries.size(); ++i) {
    Entry& entry = organization.entries[i];
    const auto at = static_cast<std::uint32_t>(text.size());
    text.append(organization.text, entry.name_at, entry.name_size);
    text.push_back('\0');
    entry.name_at = at;
    organization.names.emplace_back(at, i);
  }
  organization.text = std::move(text);
  organization.dead_bytes = 0;
}

bool TokenNameIndex::SetDescription(Organization& organization, std::uint32_t index,
                                    const std::string& description) {
  Entry& entry = organization.entries[index];
  std::string lower;
  AppendLower(lower, description);
  if (std::string_view(organization.descriptions)
          .substr(entry.description_at, entry.description_size) == lower) {
    return false;
  }
  organization.dead_description_bytes += entry.description_size;
  entry.description_at = static_cast<std::uint32_t>(organization.descriptions.size());
  entry.description_size = static_cast<std::uint32_t>(lower.size());
  organization.descriptions += lower;
  if (organization.descriptions.size() >= kCompactAtBytes &&
      organization.dead_description_bytes * 2 >= organization.descriptions.size()) {
    CompactDescriptions(organization);
  }
  return true;
}

void TokenNameIndex::CompactDescriptions(Organization& organization) {
  std::string descriptions;
  descriptions.reserve(organization.descriptions.size() - organization.dead_description_bytes);
  for (Entry& entry : organization.entries) {
    const auto at = static_cast<std::uint32_t>(descriptions.size());
    descriptions.append(organization.descriptions, entry.description_at, entry.description_size);
    entry.description_at = at;
  }
  organization.descriptions = std::move(descriptions);
  organization.dead_description_bytes = 0;
}

void TokenNameIndex::ApplyLastUse(Organization& organization, std::int64_t rowid, std::int64_t at) {
  const auto& entries = organization.entries;
  auto found = std::lower_bound(entries.begin(), entries.end(), rowid, RowidBefore);
  if (found != entries.end() && found->rowid == rowid) {
    SetLastUse(organization, static_cast<std::uint32_t>(found - entries.begin()), at);
  }
}

void TokenNameIndex::SetLastUse(Organization& organization, std::uint32_t index, std::int64_t at) {
  // The store keeps the latest use (MAX), so an earlier one comes from an older read.
  if (organization.entries[index].last_used_at >= at) return;
  organization.entries[index].last_used_at = at;
  Unrank(organization, index, true);
}

void TokenNameIndex::NoteLastUsed(const std::vector<LastUse>& uses) {
  std::unique_lock lock(mutex_);
  if (!loaded_) {
    uses_while_loading_.insert(uses_while_loading_.end(), uses.begin(), uses.end());
    return;
  }
  for (const LastUse& use : uses) {
    auto found = organizations_.find(use.organization_id);
    if (found != organizations_.end()) ApplyLastUse(found->second, use.rowid, use.at);
  }
}

void TokenNameIndex::Unrank(Organization& organization, std::uint32_t entry, bool last_use_only) {
  (last_use_only ? organization.entries[entry].used_changed : organization.entries[entry].changed) =
      ++organization.changes;
  if (!organization.ranked_valid) return;  // every entry is ranked at the next Rank
  for (std::size_t key = 0; key < kRankedKeys; ++key) {
    if (last_use_only && key != static_cast<std::size_t>(RankedKey::kLastUsed)) continue;
    Order& order = organization.orders[key];
    std::uint32_t& place = order.rank_of[entry];
    if (place == kUnranked) continue;  // listed already
    order.ranked[place].dead = true;
    place = kUnranked;
    order.AddUnranked(entry);
  }
}

void TokenNameIndex::WalkRanked(const Organization& organization, RankedKey key,
                                const Filter& filter, const NamePage& page, NameMatches& matches) {
  const Order& order = organization.orders[static_cast<std::size_t>(key)];
  std::vector<std::uint32_t> extra;
  for (std::uint32_t index : order.unranked) {
    const Entry& entry = organization.entries[index];
    if (filter.Passes(entry.project, entry.status, entry.scope)) extra.push_back(index);
  }
  std::sort(extra.begin(), extra.end(),
            [&](std::uint32_t a, std::uint32_t b) { return Before(organization, key, a, b); });
  const auto places = PlacesAmongRanked(organization, key, extra);
  const std::int64_t begin = page.offset;
  const std::int64_t end =
      page.limit > 0 ? page.offset + page.limit : std::numeric_limits<std::int64_t>::max();
  // False once the page is full and nothing more is needed.
  auto emit = [&](std::uint32_t index) {
    if (matches.count >= begin && matches.count < end) {
      matches.rowids.push_back(organization.entries[index].rowid);
    }
    ++matches.count;
    return !page.count_known || matches.count < end;
  };
  const auto& ranked = order.ranked;
  const std::size_t size = ranked.size();
  auto emit_ranked = [&](std::size_t at) {
    const Ranked& item = ranked[at];
    return item.dead || !filter.Passes(item.project, item.status, item.scope) || emit(item.entry);
  };
  if (!page.descending) {
    std::size_t next = 0;
    for (std::size_t at = 0; at <= size; ++at) {
      while (next < extra.size() && places[next] == at) {
        if (!emit(extra[next++])) return;
      }
      if (at < size && !emit_ranked(at)) return;
    }
  } else {
    // The ascending sequence backwards.
    std::size_t next = extra.size();
    auto emit_placed_at = [&](std::size_t at) {
      while (next > 0 && places[next - 1] == at) {
        if (!emit(extra[--next])) return false;
      }
      return true;
    };
    if (!emit_placed_at(size)) return;
    for (std::size_t at = size; at-- > 0;) {
      if (!emit_ranked(at) || !emit_placed_at(at)) return;
    }
  }
}

bool TokenNameIndex::Loaded() const {
  std::shared_lock lock(mutex_);
  return loaded_;
}

bool TokenNameIndex::Ordered(const std::string& organization_id, RankedKey key) const {
  std::shared_lock lock(mutex_);
  auto found = organizations_.find(organization_id);
  return found != organizations_.end() && found->second.ranked_valid &&
         found->second.orders[static_cast<std::size_t>(key)].unranked.size() <= kMaxUnranked;
}

NameMatches TokenNameIndex::Find(const NameSearch& search, std::int64_t bound,
                                 const NamePage* page) const {
  NameMatches matches;
  std::string needle;
  AppendLower(needle, search.text);
  if (needle.find('\0') != std::string::npos) return matches;

  std::shared_lock lock(mutex_);
  auto found = organizations_.find(search.organization_id);
  if (found == organizations_.end()) return matches;
  const Organization& organization = found->second;

  const Filter filter(organization, search);
  auto passes = [&](const Entry& entry) {
    return filter.Passes(entry.project, entry.status, entry.scope);
  };
  if (needle.empty() && page && organization.ranked_valid &&
      organization.orders[static_cast<std::size_t>(page->key)].unranked.size() <= kMaxUnranked &&
      bound >= std::ssize(organization.entries)) {
    WalkRanked(organization, page->key, filter, *page, matches);
    matches.walked = true;
    return matches;
  }
  if (page && page->key != RankedKey::kName) return matches;  // no order to walk yet

  std::vector<std::uint32_t> hits;
  const char* text = organization.text.data();
  if (needle.empty()) {
    for (std::uint32_t index = 0; index < organization.entries.size(); ++index) {
      if (!passes(organization.entries[index])) continue;
      if (++matches.count > bound) break;
      hits.push_back(index);
    }
  } else {
    // Scan the text for the needle, probing its two bytes that are rarest in these names. A
    // hit lies within one name, since names end with '\0'.
    auto rarest = [&](std::size_t other) {
      std::size_t best = other == 0 && needle.size() > 1 ? 1 : 0;
      for (std::size_t i = 0; i < needle.size(); ++i) {
        if (i != other && organization.byte_counts[static_cast<unsigned char>(needle[i])] <
                              organization.byte_counts[static_cast<unsigned char>(needle[best])]) {
          best = i;
        }
      }
      return best;
    };
    const std::size_t first = rarest(needle.size());
    const std::size_t second = needle.size() > 1 ? rarest(first) : first;
    const std::string_view all(organization.text);
    std::size_t from = 0;
    std::size_t name = 0;
    for (;;) {
      const std::size_t start = NextHit(all, from, needle, first, second);
      if (start == std::string_view::npos) break;
      const auto at = static_cast<std::uint32_t>(start);
      name = NameAt(organization.names, name, at);
      const auto [name_at, index] = organization.names[name];
      const Entry& entry = organization.entries[index];
      from = static_cast<std::size_t>(name_at) + entry.name_size + 1;
      if (entry.name_at != name_at || !passes(entry)) continue;
      if (++matches.count > bound) break;
      hits.push_back(index);
    }
  }
  if (matches.count > bound) return matches;

  if (!page) {
    matches.rowids.reserve(hits.size());
    for (std::uint32_t index : hits) matches.rowids.push_back(organization.entries[index].rowid);
    return matches;
  }
  const auto total = static_cast<std::int64_t>(hits.size());
  const std::int64_t begin = std::min(page->offset, total);
  const std::int64_t end = page->limit > 0 ? std::min(begin + page->limit, total) : total;
  auto key = [&](std::uint32_t index) {
    const Entry& entry = organization.entries[index];
    return std::make_tuple(std::string_view(text + entry.name_at, entry.name_size), entry.status,
                           entry.scope, std::string_view(organization.projects[entry.project].name),
                           entry.rowid);
  };
  auto before = [&](std::uint32_t a, std::uint32_t b) {
    return page->descending ? key(b) < key(a) : key(a) < key(b);
  };
  if (begin > 0) std::nth_element(hits.begin(), hits.begin() + begin, hits.end(), before);
  std::partial_sort(hits.begin() + begin, hits.begin() + end, hits.end(), before);
  for (std::int64_t i = begin; i < end; ++i) {
    matches.rowids.push_back(organization.entries[hits[static_cast<std::size_t>(i)]].rowid);
  }
  return matches;
}

}  // namespace gatehouse
