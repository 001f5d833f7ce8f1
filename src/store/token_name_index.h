#ifndef GATEHOUSE_STORE_TOKEN_NAME_INDEX_H_
#define GATEHOUSE_STORE_TOKEN_NAME_INDEX_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "store/store.h"

namespace gatehouse {

// A name search of the console (API.md §6) as the index answers it. Codes are the stored ones.
struct NameSearch {
  std::string organization_id;
  std::string text;  // the name contains it, ASCII letters in any case (SQL LIKE's rule); any
                     // name when empty
  std::optional<std::int64_t> scope;
  std::optional<std::string> project_id;                // exactly this project
  std::optional<std::vector<std::string>> project_ids;  // one of these (a project name filter)
  std::vector<std::int64_t> statuses;                   // any when empty
};

// The NameSearch of `query`'s filters, without its project name filter, which the store
// resolves to project ids (NameSearch::project_ids).
NameSearch NameSearchFor(const TokenQuery& query);

// The orders the index keeps tokens ranked in (the SQL plans' orders of the same keys):
// name without case, status, scope, project name, rowid; creation time, status, scope, project
// name, rowid; project name without case, status, scope, rowid; description without case,
// status, scope, project name, rowid; last use (never used first), status, scope, project name,
// rowid.
enum class RankedKey : std::uint8_t { kName, kCreated, kProjectName, kDescription, kLastUsed };
inline constexpr std::size_t kRankedKeys = 5;

// A token as the index reads it from the store. `updated_at` is the row's change stamp, in the
// clock of NameIndexSource::NowMs; `rowid` its storage order (SQLite's rowid, PostgreSQL's seq).
struct NameIndexRow {
  std::int64_t rowid = 0;
  std::string organization_id;
  std::string name;
  std::string description;
  std::int64_t status = 0;
  std::int64_t scope = 0;
  std::string project_id;  // empty for an organization token
  std::string project_name;
  std::int64_t updated_at = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> last_used_at;
};

// Where a TokenNameIndex reads tokens from: a store's token table, through one of its
// connections.
class NameIndexSource {
 public:
  using Visit = std::function<void(const NameIndexRow&)>;
  virtual ~NameIndexSource() = default;
  // Now, in the clock of the rows' change stamps; earlier where a row stamped earlier may still
  // commit (PostgreSQL's kChangeMarkSql: a transaction still writing).
  virtual Result<std::int64_t> NowMs() = 0;
  // Every token.
  virtual Status ReadAll(const Visit& visit) = 0;
  // The tokens stamped at or after `since`, and those after `after_rowid` whatever their stamp.
  // Returns now (as NowMs), read before the rows' snapshot is taken (not in the same statement:
  // that reads the clock after the snapshot). A row committed later than the rows' snapshot
  // was stamped before its commit, so the next read's overlap (TokenNameIndex::Sync), or the
  // mark held back to its transaction's start, finds it.
  virtual Result<std::int64_t> ReadChanged(std::int64_t since, std::int64_t after_rowid,
                                           const Visit& visit) = 0;
};

// A token's last use as the store recorded it (see TokenNameIndex::NoteLastUsed).
struct LastUse {
  std::string organization_id;
  std::int64_t rowid = 0;
  std::int64_t at = 0;
};

// The part of an order that a page needs.
struct NamePage {
  bool descending = false;
  std::int64_t offset = 0;
  std::int64_t limit = 0;  // 0 = to the end
  // The caller knows the count: a walk of the ranked order may stop at the page's end (and
  // NameMatches::count is then not the number of matches).
  bool count_known = false;
  RankedKey key = RankedKey::kName;  // another than the name's: only from its ranked order
};

struct NameMatches {
  std::int64_t count = 0;            // matches, counted up to the bound + 1
  std::vector<std::int64_t> rowids;  // see TokenNameIndex::Find
  bool walked = false;               // the page came from a ranked order
};

// Every token's name in memory, per organization, so that a substring search counts and finds
// its matches by scanning contiguous text (~20 MB at a million tokens) instead of walking a
// million index entries in SQLite, which has no index for substrings of 1–2 characters and
// answers rare 3+ character ones through large trigram lists (docs/architecture.md).
//
// Kept up to date from the token table itself (Sync): every change of a token stamps it, so a
// sync reads the rows changed since the previous one (with an overlap of a few seconds for
// transactions stamped before they committed) and the rows added since (whatever their stamp).
// Both stores use it: SQLite stamps updated_at with the writer's clock; on PostgreSQL the stamp
// is the database's clock, so that nodes whose clocks differ read each other's changes.
// Thread-safe: finds share a lock, a sync applies its rows under an exclusive one.
class TokenNameIndex {
 public:
  // Brings the index up to date from `source`. The first call loads every token. False while
  // another thread is making that first load: the caller searches without the index.
  Result<bool> Sync(NameIndexSource& source);
  bool Loaded() const;
  // Makes Rank merge every change, however few and recent (for tests).
  void MergeAtOnce() { merge_at_once_ = true; }

  // Puts in each order the tokens added or changed since it was made (the first call sorts
  // them all), so that a page walks that order instead of selecting among its matches. An
  // order is made again once enough changes wait (see kRemakeAt) or the oldest has waited a
  // while; until then a walk places them itself. For the maintenance thread: it can take
  // seconds at a million tokens. It works on a copy, so searches and syncs go on meanwhile;
  // what changes meanwhile stays unranked.
  void Rank();

  // Whether a page in the order `key` of `organization_id` walks the ranked order (see Rank)
  // rather than selecting among its matches (the name order) or being left to SQL.
  bool Ordered(const std::string& organization_id, RankedKey key) const;

  // Last uses just committed by this process. They change no updated_at (the token cache
  // writes them in batches), so the store tells the index itself; a sync also reads them.
  void NoteLastUsed(const std::vector<LastUse>& uses);

  // The matches of `search`, counted up to `bound` + 1. Unless more than `bound` match, the
  // rowids of every match, or with `page` only those of that page, in the name order.
  NameMatches Find(const NameSearch& search, std::int64_t bound, const NamePage* page) const;

 private:
  struct Entry {
    std::int64_t rowid;
    std::uint32_t name_at;  // in the organization's text
    std::uint32_t name_size;
    std::uint32_t project;  // index into projects; 0 = organization token
    std::uint8_t status;
    std::uint8_t scope;
    std::uint64_t changed;  // the organization's change count when it last changed
    std::int64_t created_at;
    std::uint32_t description_at;  // in the organization's descriptions
    std::uint32_t description_size;
    std::int64_t last_used_at;   // kNeverUsed if never
    std::uint64_t used_changed;  // the change count when its last use last changed
  };
  static constexpr std::int64_t kNeverUsed = std::numeric_limits<std::int64_t>::min();
  struct Project {
    std::string id;
    std::string name;
  };
  // An entry in name order, with what the filters read, so that a walk reads 12 bytes a token.
  struct Ranked {
    std::uint32_t entry;
    std::uint32_t project;
    std::uint8_t status;
    std::uint8_t scope;
    bool dead;  // changed since it was ranked: the entry is among the unranked ones
  };
  static constexpr std::uint32_t kUnranked = 0xffffffff;
  struct Organization;
  // One ranked order of an organization's entries, as of the last Rank, and the entries added
  // or changed since (in no order), which a walk places among the ranked ones.
  struct Order {
    std::vector<Ranked> ranked;
    std::vector<std::uint32_t> rank_of;  // by entry: its place in ranked, or kUnranked
    std::vector<std::uint32_t> unranked;
    std::chrono::steady_clock::time_point unranked_since;  // when unranked last became non-empty
    void Add(const Organization& organization, std::uint32_t entry);  // next in order
    void AddUnranked(std::uint32_t entry);
  };
  using Orders = std::array<Order, kRankedKeys>;
  struct Organization {
    // Lower-cased names (ASCII letters only), each followed by '\0'. A replaced name's bytes
    // are zeroed, so no search text (never empty, never containing '\0') matches them.
    std::string text;
    std::size_t dead_bytes = 0;
    std::array<std::uint32_t, 256> byte_counts{};  // of the live names' bytes, to lead scans
    // (offset in text, entry) for each name ever appended, in text order.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> names;
    std::vector<Entry> entries;  // by rowid
    // Lower-cased descriptions (ASCII letters only), one after another; replaced ones stay
    // until compacted.
    std::string descriptions;
    std::size_t dead_description_bytes = 0;
    std::vector<Project> projects{Project{}};
    std::unordered_map<std::string, std::uint32_t> project_by_id;
    // Without `ranked_valid` the orders are to be built again from every entry.
    Orders orders;  // by RankedKey
    bool ranked_valid = false;
    std::uint64_t changes = 0;        // entries added or changed (last uses included)
    std::uint64_t invalidations = 0;  // times ranked_valid was cleared
  };
  using Organizations = std::unordered_map<std::string, Organization>;

  static void Apply(Organizations& organizations, const NameIndexRow& row);
  static void AppendName(Organization& organization, std::uint32_t entry, const std::string& name);
  static void Compact(Organization& organization);
  // Sets the entry's description; false if it was that already.
  static bool SetDescription(Organization& organization, std::uint32_t entry,
                             const std::string& description);
  static void CompactDescriptions(Organization& organization);
  // A last use of the entry at `rowid` (or at `index`), kept if later than the one it has.
  static void ApplyLastUse(Organization& organization, std::int64_t rowid, std::int64_t at);
  static void SetLastUse(Organization& organization, std::uint32_t index, std::int64_t at);
  // Orders entries by rowid, for lower_bound.
  static bool RowidBefore(const Entry& entry, std::int64_t rowid);
  // The entry's lower-cased description for kDescription, else its lower-cased name.
  static std::string_view TextOf(const Organization& organization, RankedKey key,
                                 const Entry& entry);
  // Whether entry a comes before entry b in the name order (name without case, status, scope,
  // project name, rowid), as the SQL plans order them.
  static bool Before(const Organization& organization, RankedKey key, std::uint32_t a,
                     std::uint32_t b);
  // Records that `entry` changed (or is new) since the last Rank; only its last use, if
  // `last_use_only`, which moves it in that order alone.
  static void Unrank(Organization& organization, std::uint32_t entry, bool last_use_only = false);
  // Where each of `extra` (sorted in the name order) goes among the live ranked entries: the
  // place of the first ranked entry after it.
  static std::vector<std::uint32_t> PlacesAmongRanked(const Organization& organization,
                                                      RankedKey key,
                                                      const std::vector<std::uint32_t>& extra);
  static Order RankAll(const Organization& organization, RankedKey key);
  // The ranked order with the unranked entries placed in it and the dead ones left out.
  static Order MergeUnranked(const Organization& organization, RankedKey key);
  // Makes the orders made from a copy taken at change count `since` (those the copy had
  // changes in) the organization's, with the entries changed after `since` marked as changed
  // since.
  using MadeOrders = std::array<std::optional<Order>, kRankedKeys>;
  static void Install(Organization& organization, MadeOrders orders, std::uint64_t since);
  // A page in name order of the entries that pass `passes`, walking the ranked order; the count
  // of every match in `matches`.
  struct Filter;  // a NameSearch's conditions other than the text, for one organization
  static void WalkRanked(const Organization& organization, RankedKey key, const Filter& filter,
                         const NamePage& page, NameMatches& matches);

  std::mutex sync_mutex_;  // one sync at a time
  std::mutex rank_mutex_;  // one Rank at a time
  std::atomic<bool> merge_at_once_ = false;
  mutable std::shared_mutex mutex_;
  bool loaded_ = false;          // guarded by mutex_
  Organizations organizations_;  // guarded by mutex_
  // Guarded by mutex_: last uses noted since the first load began, applied after it (it may
  // have read an older snapshot).
  std::vector<LastUse> uses_while_loading_;
  // Guarded by sync_mutex_: what the next sync reads from.
  std::int64_t max_updated_at_ = 0;
  std::int64_t max_rowid_ = 0;
  std::int64_t last_sync_ms_ = 0;  // the source's clock when the last sync began
};

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_TOKEN_NAME_INDEX_H_
