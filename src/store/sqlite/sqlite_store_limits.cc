#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The usage-limit part of SqliteStore (API.md §7).
namespace gatehouse {

using namespace sqlite;  // row readers and SQL helpers

namespace {

constexpr const char* kLimitColumns =
    "id, organization_id, COALESCE(project_id, ''), subscription_type, usage_unit, soft_limit, "
    "hard_limit, renewal_status, status, used_amount, valid_from, valid_until, created_at, "
    "updated_at, soft_crossed_in, hard_crossed_in FROM usage_limits";

UsageLimit ReadLimit(const Statement& row) {
  UsageLimit limit;
  limit.id = row.Text(0);
  limit.organization_id = row.Text(1);
  limit.project_id = row.Text(2);
  limit.subscription = static_cast<SubscriptionType>(row.Int(3));
  limit.unit = static_cast<UsageUnit>(row.Int(4));
  limit.soft_limit = row.Double(5);
  limit.hard_limit = row.Double(6);
  limit.renewal = static_cast<RenewalStatus>(row.Int(7));
  limit.status = static_cast<LimitStatus>(row.Int(8));
  limit.used = row.Double(9);
  limit.valid_from = row.Int(10);
  limit.valid_until = row.OptionalInt(11);
  limit.created_at = row.Int(12);
  limit.updated_at = row.Int(13);
  limit.soft_crossed_in = row.OptionalInt(14);
  limit.hard_crossed_in = row.OptionalInt(15);
  return limit;
}

template <typename T>
std::int64_t Code(T value) {
  return static_cast<std::int64_t>(value);
}

}  // namespace

Status SqliteStore::InsertUsageLimitLocked(const UsageLimit& limit) {
  auto stmt = db_.Prepare(
      "INSERT INTO usage_limits(id, organization_id, project_id, subscription_type, usage_unit, "
      "soft_limit, hard_limit, renewal_status, status, used_amount, valid_from, valid_until, "
      "created_at, updated_at, soft_crossed_in, hard_crossed_in) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  auto inserted = (*stmt)
                      ->Bind(1, limit.id)
                      .Bind(2, limit.organization_id)
                      .BindOrNull(3, limit.project_id)
                      .Bind(4, Code(limit.subscription))
                      .Bind(5, Code(limit.unit))
                      .Bind(6, limit.soft_limit)
                      .Bind(7, limit.hard_limit)
                      .Bind(8, Code(limit.renewal))
                      .Bind(9, Code(limit.status))
                      .Bind(10, limit.used)
                      .Bind(11, limit.valid_from)
                      .Bind(12, limit.valid_until)
                      .Bind(13, limit.created_at)
                      .Bind(14, limit.updated_at)
                      .Bind(15, limit.soft_crossed_in)
                      .Bind(16, limit.hard_crossed_in)
                      .StepUnlessConstraint();
  if (!inserted) return std::unexpected(inserted.error());
  if (!*inserted) return Fail(ErrorCode::kConflict, {}, "a current usage limit exists");
  return {};
}

Status SqliteStore::WriteUsageLimitLocked(const UsageLimit& limit) {
  // Usage and periods are settled (SettleUsage), never written from a node's view.
  auto stmt = db_.Prepare(
      "UPDATE usage_limits SET soft_limit = ?2, hard_limit = ?3, renewal_status = ?4, "
      "status = ?5, updated_at = ?6 WHERE id = ?1");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)
      ->Bind(1, limit.id)
      .Bind(2, limit.soft_limit)
      .Bind(3, limit.hard_limit)
      .Bind(4, Code(limit.renewal))
      .Bind(5, Code(limit.status))
      .Bind(6, limit.updated_at)
      .Run();
}

Status SqliteStore::InsertUsageLimit(const UsageLimit& limit, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = InsertUsageLimitLocked(limit); !done) return done;
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::CreateProjectWithLimit(const Project& project, const ApiToken& token,
                                           const TokenCredential& credential,
                                           const UsageLimit* limit,
                                           const std::vector<AuditEntry>& audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = InsertProjectLocked(project, token, credential); !done) return done;
  if (limit) {
    if (auto done = InsertUsageLimitLocked(*limit); !done) return done;
  }
  for (const auto& entry : audit) {
    if (auto done = AppendAuditLocked(entry); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::UpdateUsageLimit(const UsageLimit& limit, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = WriteUsageLimitLocked(limit); !done) return done;
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Result<std::optional<UsageLimit>> SqliteStore::FindUsageLimit(const std::string& organization_id,
                                                              const std::string& limit_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kLimitColumns +
                         " WHERE id = ?1 AND organization_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, limit_id).Bind(2, organization_id).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<UsageLimit>();
  return std::optional<UsageLimit>(ReadLimit(**stmt));
}

Result<std::vector<UsageLimit>> SqliteStore::ListUsageLimits(const std::string& organization_id,
                                                             const std::string& project_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kLimitColumns +
                         " WHERE organization_id = ?1 AND COALESCE(project_id, '') = ?2 "
                         "ORDER BY created_at DESC, rowid DESC");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, organization_id).Bind(2, project_id);
  std::vector<UsageLimit> limits;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    limits.push_back(ReadLimit(**stmt));
  }
  return limits;
}

Result<std::vector<UsageLimit>> SqliteStore::ListCurrentUsageLimits() {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kLimitColumns + " WHERE status IN (1, 3)");
  if (!stmt) return std::unexpected(stmt.error());
  std::vector<UsageLimit> limits;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    limits.push_back(ReadLimit(**stmt));
  }
  return limits;
}

Result<SettledUsage> SqliteStore::SettleUsageLocked(const std::string& node_id,
                                                    const UsageSettlement& settlement, TimeMs now) {
  SettledUsage settled;
  {
    auto stmt = db_.Prepare(std::string("SELECT ") + kLimitColumns + " WHERE id = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    auto row = (*stmt)->Bind(1, settlement.limit_id).Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return settled;
    settled.found = true;
    settled.limit = ReadLimit(**stmt);
  }
  {
    auto stmt = db_.Prepare("DELETE FROM usage_slices WHERE limit_id = ?1 AND settled_at < ?2");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, settlement.limit_id).Bind(2, now - kSliceLifetimeMs).Run();
        !done) {
      return std::unexpected(done.error());
    }
  }
  double mine = 0;
  {
    auto stmt = db_.Prepare("SELECT node_id, granted FROM usage_slices WHERE limit_id = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)->Bind(1, settlement.limit_id);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      if ((*stmt)->TextView(0) == node_id) {
        mine = (*stmt)->Double(1);
      } else {
        settled.others.reserved += (*stmt)->Double(1);
        ++settled.others.nodes;
      }
    }
  }
  UsageLimit& limit = settled.limit;
  settled.slice = SettleSlice(limit, mine, settled.others, settlement.slice, now);
  for (const auto& claim : settlement.claims) {
    const bool claimed = ClaimLimitCrossing(limit, claim.hard, claim.period);
    settled.claimed.push_back(claimed);
    if (claimed) {
      if (auto done = AppendAuditLocked(claim.audit); !done) return std::unexpected(done.error());
    }
  }
  {
    auto stmt = db_.Prepare(
        "UPDATE usage_limits SET status = ?2, used_amount = ?3, valid_from = ?4, "
        "valid_until = ?5, updated_at = ?6, soft_crossed_in = ?7, hard_crossed_in = ?8 "
        "WHERE id = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)
                        ->Bind(1, limit.id)
                        .Bind(2, Code(limit.status))
                        .Bind(3, limit.used)
                        .Bind(4, limit.valid_from)
                        .Bind(5, limit.valid_until)
                        .Bind(6, limit.updated_at)
                        .Bind(7, limit.soft_crossed_in)
                        .Bind(8, limit.hard_crossed_in)
                        .Run();
        !done) {
      return std::unexpected(done.error());
    }
  }
  // A node keeps its row while it holds a slice or asks for one, so that others see it.
  const bool keep_row =
      settled.slice.granted > 0 || (settlement.slice.want > 0 && !settlement.slice.release);
  auto stmt = db_.Prepare(
      keep_row ? "INSERT INTO usage_slices(limit_id, node_id, granted, settled_at) "
                 "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET granted = excluded.granted, "
                 "settled_at = excluded.settled_at"
               : "DELETE FROM usage_slices WHERE limit_id = ?1 AND node_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, limit.id).Bind(2, node_id);
  if (keep_row) (*stmt)->Bind(3, settled.slice.granted).Bind(4, now);
  if (auto done = (*stmt)->Run(); !done) return std::unexpected(done.error());
  return settled;
}

Result<std::vector<SettledUsage>> SqliteStore::SettleUsage(
    const std::string& node_id, const std::vector<UsageSettlement>& settlements, TimeMs now) {
  std::vector<SettledUsage> settled;
  if (settlements.empty()) return settled;
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  settled.reserve(settlements.size());
  for (const auto& settlement : settlements) {
    auto one = SettleUsageLocked(node_id, settlement, now);
    if (!one) return std::unexpected(one.error());
    settled.push_back(std::move(*one));
  }
  if (auto done = transaction.Commit(); !done) return std::unexpected(done.error());
  return settled;
}

Result<std::string> SqliteStore::GetOrganizationWebhook(const std::string& organization_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare("SELECT limit_webhook_url FROM organizations WHERE id = ?1");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, organization_id).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::string();
  return (*stmt)->Text(0);
}

Status SqliteStore::SetOrganizationWebhook(const std::string& organization_id,
                                           const std::string& url, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "UPDATE organizations SET limit_webhook_url = ?2 WHERE id = ?1 AND deleted_at IS NULL");
  if (!stmt) return std::unexpected(stmt.error());
  if (auto done = (*stmt)->Bind(1, organization_id).Bind(2, url).Run(); !done) return done;
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

}  // namespace gatehouse
