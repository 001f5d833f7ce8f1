#include <algorithm>
#include <limits>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

// The audit trail, usage limits (API.md §7), limit webhooks and assistants of PgStore.
namespace gatehouse {

using pg::Params;
using pg::Transaction;
using namespace pg;  // row readers and SQL helpers

namespace {

constexpr const char* kLimitColumns =
    "id, organization_id, COALESCE(project_id, ''), subscription_type, usage_unit, soft_limit, "
    "hard_limit, renewal_status, status, used_amount, valid_from, valid_until, created_at, "
    "updated_at, soft_crossed_in, hard_crossed_in FROM usage_limits";

UsageLimit ReadLimit(const Rows& rows, int row) {
  UsageLimit limit;
  limit.id = rows.Text(row, 0);
  limit.organization_id = rows.Text(row, 1);
  limit.project_id = rows.Text(row, 2);
  limit.subscription = static_cast<SubscriptionType>(rows.Int(row, 3));
  limit.unit = static_cast<UsageUnit>(rows.Int(row, 4));
  limit.soft_limit = rows.Real(row, 5);
  limit.hard_limit = rows.Real(row, 6);
  limit.renewal = static_cast<RenewalStatus>(rows.Int(row, 7));
  limit.status = static_cast<LimitStatus>(rows.Int(row, 8));
  limit.used = rows.Real(row, 9);
  limit.valid_from = rows.Int(row, 10);
  limit.valid_until = rows.OptionalInt(row, 11);
  limit.created_at = rows.Int(row, 12);
  limit.updated_at = rows.Int(row, 13);
  limit.soft_crossed_in = rows.OptionalInt(row, 14);
  limit.hard_crossed_in = rows.OptionalInt(row, 15);
  return limit;
}

Result<std::vector<UsageLimit>> ReadLimits(const Result<Rows>& rows) {
  if (!rows) return std::unexpected(rows.error());
  std::vector<UsageLimit> limits;
  limits.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) limits.push_back(ReadLimit(*rows, i));
  return limits;
}

template <typename T>
std::int64_t Code(T value) {
  return static_cast<std::int64_t>(value);
}

constexpr const char* kAssistantColumns =
    "id, organization_id, project_id, name, description, prompt, provider_name, model_name, "
    "temperature, max_tokens, revision, created_at, updated_at FROM assistants";

Assistant ReadAssistant(const Rows& rows, int row) {
  Assistant assistant;
  assistant.id = rows.Text(row, 0);
  assistant.organization_id = rows.Text(row, 1);
  assistant.project_id = rows.Text(row, 2);
  assistant.name = rows.Text(row, 3);
  assistant.description = rows.Text(row, 4);
  assistant.prompt = rows.Text(row, 5);
  assistant.llm = LlmSettings{rows.Text(row, 6), rows.Text(row, 7), rows.OptionalReal(row, 8),
                              rows.OptionalInt(row, 9)};
  assistant.revision = rows.Int(row, 10);
  assistant.created_at = rows.Int(row, 11);
  assistant.updated_at = rows.Int(row, 12);
  return assistant;
}

Result<std::vector<Assistant>> ReadAssistants(const Result<Rows>& rows) {
  if (!rows) return std::unexpected(rows.error());
  std::vector<Assistant> assistants;
  assistants.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) assistants.push_back(ReadAssistant(*rows, i));
  return assistants;
}

}  // namespace

Status PgStore::AppendAudit(const AuditEntry& entry) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return AppendAuditIn(**c, entry);
}

Status PgStore::AppendAuditIn(pg::Connection& c, const AuditEntry& entry) {
  return c.Run(
      "INSERT INTO audit_log(at, organization_id, actor_token_id, action, target_id, actor_name, "
      "remote_address, target_name, target_type, details) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      Params()
          .Int(entry.at)
          .Text(entry.organization_id)
          .Text(entry.actor_token_id)
          .Text(entry.action)
          .Text(entry.target_id)
          .Text(entry.actor_name)
          .Text(entry.remote_address)
          .Text(entry.target_name)
          .Text(entry.target_type)
          .Text(entry.details));
}

Status PgStore::AppendAuditsIn(pg::Connection& c, const std::vector<const AuditEntry*>& entries) {
  if (entries.empty()) return {};
  ArrayLiteral at, organizations, actors, actions, targets, actor_names, addresses, target_names,
      target_types, details;
  for (const AuditEntry* entry : entries) {
    at.Int(entry->at);
    organizations.Text(entry->organization_id);
    actors.Text(entry->actor_token_id);
    actions.Text(entry->action);
    targets.Text(entry->target_id);
    actor_names.Text(entry->actor_name);
    addresses.Text(entry->remote_address);
    target_names.Text(entry->target_name);
    target_types.Text(entry->target_type);
    details.Text(entry->details);
  }
  Params params;
  for (ArrayLiteral* column : {&at, &organizations, &actors, &actions, &targets, &actor_names,
                               &addresses, &target_names, &target_types, &details}) {
    params.Array(*column);
  }
  // WITH ORDINALITY keeps the entries' order in their ids.
  return c.Run(
      "INSERT INTO audit_log(at, organization_id, actor_token_id, action, target_id, actor_name, "
      "remote_address, target_name, target_type, details) "
      "SELECT u.at, u.organization_id, u.actor_token_id, u.action, u.target_id, u.actor_name, "
      "u.remote_address, u.target_name, u.target_type, u.details "
      "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
      "$7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS u(at, "
      "organization_id, actor_token_id, action, target_id, actor_name, remote_address, "
      "target_name, target_type, details, n) ORDER BY u.n",
      params);
}

Result<AuditPage> PgStore::ListAudit(const AuditQuery& query) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  const std::string where =
      " FROM audit_log WHERE organization_id = $1 AND ($2 = '' OR action = $2) "
      "AND ($3 = '' OR target_id = $3) AND ($4 = '' OR actor_token_id = $4) "
      "AND at >= $5 AND at <= $6";
  Params params;
  params.Text(query.organization_id)
      .Text(query.action)
      .Text(query.target_id)
      .Text(query.actor_token_id)
      .Int(query.start_ms.value_or(std::numeric_limits<std::int64_t>::min()))
      .Int(query.end_ms.value_or(std::numeric_limits<std::int64_t>::max()));
  AuditPage page;
  auto count = (*c)->Exec("SELECT COUNT(*)" + where, params);
  if (!count) return std::unexpected(count.error());
  page.count = count->Int(0, 0);
  params.OptionalInt(query.limit > 0 ? std::optional(query.limit) : std::nullopt)
      .Int(std::max<std::int64_t>(query.offset, 0));  // SQLite reads a negative OFFSET as 0
  auto rows = (*c)->Exec(
      "SELECT id, organization_id, actor_token_id, action, target_id, at, actor_name, "
      "remote_address, target_name, target_type, details" +
          where + " ORDER BY at DESC, id DESC LIMIT $7 OFFSET $8",
      params);
  if (!rows) return std::unexpected(rows.error());
  page.entries.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) {
    const Rows& r = *rows;
    page.entries.push_back(AuditEntry{r.Int(i, 0), r.Text(i, 1), r.Text(i, 2), r.Text(i, 3),
                                      r.Text(i, 4), r.Int(i, 5), r.Text(i, 6), r.Text(i, 7),
                                      r.Text(i, 8), r.Text(i, 9), r.Text(i, 10)});
  }
  return page;
}

Status PgStore::InsertUsageLimitIn(pg::Connection& c, const UsageLimit& limit) {
  auto inserted = c.Run(
      "INSERT INTO usage_limits(id, organization_id, project_id, subscription_type, usage_unit, "
      "soft_limit, hard_limit, renewal_status, status, used_amount, valid_from, valid_until, "
      "created_at, updated_at, soft_crossed_in, hard_crossed_in) "
      "VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
      Params()
          .Text(limit.id)
          .Text(limit.organization_id)
          .Text(limit.project_id)
          .Int(Code(limit.subscription))
          .Int(Code(limit.unit))
          .Real(limit.soft_limit)
          .Real(limit.hard_limit)
          .Int(Code(limit.renewal))
          .Int(Code(limit.status))
          .Real(limit.used)
          .Int(limit.valid_from)
          .OptionalInt(limit.valid_until)
          .Int(limit.created_at)
          .Int(limit.updated_at)
          .OptionalInt(limit.soft_crossed_in)
          .OptionalInt(limit.hard_crossed_in));
  if (!inserted) {
    if (IsUniqueViolation(c.last_failure(), "usage_limits_one_current")) {
      return Fail(ErrorCode::kConflict, {}, "a current usage limit exists");
    }
    return inserted;
  }
  return {};
}

Status PgStore::WriteUsageLimitIn(pg::Connection& c, const UsageLimit& limit) {
  // Usage and periods are settled (SettleUsage), never written from a node's view: another
  // node's usage would be lost.
  return c.Run(
      "UPDATE usage_limits SET soft_limit = $2, hard_limit = $3, renewal_status = $4, "
      "status = $5, updated_at = $6 WHERE id = $1",
      Params()
          .Text(limit.id)
          .Real(limit.soft_limit)
          .Real(limit.hard_limit)
          .Int(Code(limit.renewal))
          .Int(Code(limit.status))
          .Int(limit.updated_at));
}

Status PgStore::InsertUsageLimit(const UsageLimit& limit, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = InsertUsageLimitIn(**c, limit); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Status PgStore::CreateProjectWithLimit(const Project& project, const ApiToken& token,
                                       const TokenCredential& credential, const UsageLimit* limit,
                                       const std::vector<AuditEntry>& audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = InsertProjectIn(**c, project, token, credential); !done) return done;
  if (limit) {
    if (auto done = InsertUsageLimitIn(**c, *limit); !done) return done;
  }
  for (const auto& entry : audit) {
    if (auto done = AppendAuditIn(**c, entry); !done) return done;
  }
  return transaction.Commit();
}

Status PgStore::UpdateUsageLimit(const UsageLimit& limit, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = WriteUsageLimitIn(**c, limit); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Result<std::optional<UsageLimit>> PgStore::FindUsageLimit(const std::string& organization_id,
                                                          const std::string& limit_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows =
      (*c)->Exec(std::string("SELECT ") + kLimitColumns + " WHERE id = $1 AND organization_id = $2",
                 Params().Text(limit_id).Text(organization_id));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<UsageLimit>();
  return std::optional<UsageLimit>(ReadLimit(*rows, 0));
}

Result<std::vector<UsageLimit>> PgStore::ListUsageLimits(const std::string& organization_id,
                                                         const std::string& project_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  // usage_limits has no storage order: its id breaks ties between equal creation times.
  return ReadLimits((*c)->Exec(std::string("SELECT ") + kLimitColumns +
                                   " WHERE organization_id = $1 AND COALESCE(project_id, '') = $2 "
                                   "ORDER BY created_at DESC, id COLLATE \"C\" DESC",
                               Params().Text(organization_id).Text(project_id)));
}

Result<std::vector<UsageLimit>> PgStore::ListCurrentUsageLimits() {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return ReadLimits((*c)->Exec(std::string("SELECT ") + kLimitColumns + " WHERE status IN (1, 3)"));
}

Result<SettledUsage> PgStore::SettleUsageIn(pg::Connection& c, const std::string& node_id,
                                            const UsageSettlement& settlement, TimeMs now) {
  SettledUsage settled;
  // The row lock serializes the nodes settling this limit: one rolls its period, the other
  // sees it rolled; slices and usage are read and written under it.
  auto rows = c.Exec(std::string("SELECT ") + kLimitColumns + " WHERE id = $1 FOR UPDATE",
                     Params().Text(settlement.limit_id));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return settled;
  settled.found = true;
  settled.limit = ReadLimit(*rows, 0);
  auto slices = c.Exec(
      "WITH gone AS (DELETE FROM usage_slices WHERE limit_id = $1 "
      "AND settled_at < gatehouse_now_ms() - $2 RETURNING node_id) "
      "SELECT node_id, granted FROM usage_slices WHERE limit_id = $1 "
      "AND node_id NOT IN (SELECT node_id FROM gone)",
      Params().Text(settlement.limit_id).Int(kSliceLifetimeMs));
  if (!slices) return std::unexpected(slices.error());
  double mine = 0;
  for (int i = 0; i < slices->size(); ++i) {
    if (slices->Text(i, 0) == node_id) {
      mine = slices->Real(i, 1);
    } else {
      settled.others.reserved += slices->Real(i, 1);
      ++settled.others.nodes;
    }
  }
  UsageLimit& limit = settled.limit;
  settled.slice = SettleSlice(limit, mine, settled.others, settlement.slice, now);
  for (const auto& claim : settlement.claims) {
    const bool claimed = ClaimLimitCrossing(limit, claim.hard, claim.period);
    settled.claimed.push_back(claimed);
    if (claimed) {
      if (auto done = AppendAuditIn(c, claim.audit); !done) return std::unexpected(done.error());
    }
  }
  if (auto done =
          c.Run("UPDATE usage_limits SET status = $2, used_amount = $3, valid_from = $4, "
                "valid_until = $5, updated_at = $6, soft_crossed_in = $7, hard_crossed_in = $8 "
                "WHERE id = $1",
                Params()
                    .Text(limit.id)
                    .Int(Code(limit.status))
                    .Real(limit.used)
                    .Int(limit.valid_from)
                    .OptionalInt(limit.valid_until)
                    .Int(limit.updated_at)
                    .OptionalInt(limit.soft_crossed_in)
                    .OptionalInt(limit.hard_crossed_in));
      !done) {
    return std::unexpected(done.error());
  }
  // A node keeps its row while it holds a slice or asks for one, so that others see it.
  const bool keep_row =
      settled.slice.granted > 0 || (settlement.slice.want > 0 && !settlement.slice.release);
  Status written =
      keep_row ? c.Run(
                     "INSERT INTO usage_slices(limit_id, node_id, granted, settled_at) "
                     "VALUES ($1, $2, $3, gatehouse_now_ms()) ON CONFLICT (limit_id, node_id) "
                     "DO UPDATE SET granted = EXCLUDED.granted, settled_at = EXCLUDED.settled_at",
                     Params().Text(limit.id).Text(node_id).Real(settled.slice.granted))
               : c.Run("DELETE FROM usage_slices WHERE limit_id = $1 AND node_id = $2",
                       Params().Text(limit.id).Text(node_id));
  if (!written) return std::unexpected(written.error());
  return settled;
}

Result<std::vector<SettledUsage>> PgStore::SettleUsage(
    const std::string& node_id, const std::vector<UsageSettlement>& settlements, TimeMs now) {
  std::vector<SettledUsage> settled;
  if (settlements.empty()) return settled;
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  settled.reserve(settlements.size());
  // Limits in id order, so that two nodes settling the same limits never wait on each other
  // in a cycle.
  std::vector<std::size_t> order(settlements.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return settlements[a].limit_id < settlements[b].limit_id;
  });
  settled.resize(settlements.size());
  for (std::size_t i : order) {
    auto one = SettleUsageIn(**c, node_id, settlements[i], now);
    if (!one) return std::unexpected(one.error());
    settled[i] = std::move(*one);
  }
  if (auto done = transaction.Commit(); !done) return std::unexpected(done.error());
  return settled;
}

Result<std::string> PgStore::GetOrganizationWebhook(const std::string& organization_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec("SELECT limit_webhook_url FROM organizations WHERE id = $1",
                         Params().Text(organization_id));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::string();
  return rows->Text(0, 0);
}

Status PgStore::SetOrganizationWebhook(const std::string& organization_id, const std::string& url,
                                       const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = (*c)->Run(
          "UPDATE organizations SET limit_webhook_url = $2 WHERE id = $1 AND deleted_at IS NULL",
          Params().Text(organization_id).Text(url));
      !done) {
    return done;
  }
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Status PgStore::InsertRevisionIn(pg::Connection& c, const Assistant& assistant) {
  return c.Run(
      "INSERT INTO assistant_revisions(assistant_id, revision, prompt, provider_name, model_name, "
      "temperature, max_tokens, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      Params()
          .Text(assistant.id)
          .Int(assistant.revision)
          .Text(assistant.prompt)
          .Text(assistant.llm.provider_name)
          .Text(assistant.llm.model_name)
          .OptionalReal(assistant.llm.temperature)
          .OptionalInt(assistant.llm.max_tokens)
          .Int(assistant.updated_at));
}

Status PgStore::CreateAssistant(const Assistant& assistant, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  auto inserted = (*c)->Run(
      "INSERT INTO assistants(id, organization_id, project_id, name, description, prompt, "
      "provider_name, model_name, temperature, max_tokens, revision, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      Params()
          .Text(assistant.id)
          .Text(assistant.organization_id)
          .Text(assistant.project_id)
          .Text(assistant.name)
          .Text(assistant.description)
          .Text(assistant.prompt)
          .Text(assistant.llm.provider_name)
          .Text(assistant.llm.model_name)
          .OptionalReal(assistant.llm.temperature)
          .OptionalInt(assistant.llm.max_tokens)
          .Int(assistant.revision)
          .Int(assistant.created_at)
          .Int(assistant.updated_at));
  if (!inserted) {
    if (IsUniqueViolation((*c)->last_failure(), "assistants_live_name")) {
      return Fail(ErrorCode::kAssistantNameExists);
    }
    return inserted;
  }
  if (auto done = InsertRevisionIn(**c, assistant); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  if (auto done = NotifyChange(**c, StoreChange::kAssistants); !done) return done;
  return transaction.Commit();
}

Result<std::optional<Assistant>> PgStore::FindAssistant(const std::string& project_id,
                                                        const std::string& id_or_name) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  // An id wins over another assistant's name that happens to equal it.
  auto rows = (*c)->Exec(std::string("SELECT ") + kAssistantColumns +
                             " WHERE project_id = $1 AND deleted_at IS NULL AND "
                             "(id = $2 OR name = $2) ORDER BY (id = $2) DESC LIMIT 1",
                         Params().Text(project_id).Text(id_or_name));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<Assistant>();
  return std::optional<Assistant>(ReadAssistant(*rows, 0));
}

Result<std::vector<Assistant>> PgStore::ListAssistants(const std::string& project_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return ReadAssistants((*c)->Exec(std::string("SELECT ") + kAssistantColumns +
                                       " WHERE project_id = $1 AND deleted_at IS NULL "
                                       "ORDER BY name COLLATE \"C\", id COLLATE \"C\"",
                                   Params().Text(project_id)));
}

Result<std::vector<Assistant>> PgStore::ListAllAssistants() {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return ReadAssistants(
      (*c)->Exec(std::string("SELECT ") + kAssistantColumns + " WHERE deleted_at IS NULL"));
}

Result<std::vector<AssistantRevision>> PgStore::ListAssistantRevisions(
    const std::string& assistant_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec(
      "SELECT revision, prompt, provider_name, model_name, temperature, max_tokens, created_at "
      "FROM assistant_revisions WHERE assistant_id = $1 ORDER BY revision",
      Params().Text(assistant_id));
  if (!rows) return std::unexpected(rows.error());
  std::vector<AssistantRevision> revisions;
  revisions.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) {
    const Rows& r = *rows;
    revisions.push_back(AssistantRevision{
        r.Int(i, 0), r.Text(i, 1),
        LlmSettings{r.Text(i, 2), r.Text(i, 3), r.OptionalReal(i, 4), r.OptionalInt(i, 5)},
        r.Int(i, 6)});
  }
  return revisions;
}

Status PgStore::UpdateAssistant(const Assistant& read, const Assistant& assistant,
                                const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  auto updated = (*c)->Exec(
      "UPDATE assistants SET name = $3, description = $4, prompt = $5, provider_name = $6, "
      "model_name = $7, temperature = $8, max_tokens = $9, revision = $10, updated_at = $11 "
      "WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL AND revision = $12 "
      "AND name = $13 AND description = $14 RETURNING 1",
      Params()
          .Text(assistant.id)
          .Text(assistant.project_id)
          .Text(assistant.name)
          .Text(assistant.description)
          .Text(assistant.prompt)
          .Text(assistant.llm.provider_name)
          .Text(assistant.llm.model_name)
          .OptionalReal(assistant.llm.temperature)
          .OptionalInt(assistant.llm.max_tokens)
          .Int(assistant.revision)
          .Int(assistant.updated_at)
          .Int(read.revision)
          .Text(read.name)
          .Text(read.description));
  if (!updated) {
    if (IsUniqueViolation((*c)->last_failure(), "assistants_live_name")) {
      return Fail(ErrorCode::kAssistantNameExists);
    }
    return std::unexpected(updated.error());
  }
  if (updated->empty()) return Fail(ErrorCode::kConflict, {}, "assistant changed meanwhile");
  if (assistant.revision != read.revision) {
    if (auto done = InsertRevisionIn(**c, assistant); !done) return done;
  }
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  if (auto done = NotifyChange(**c, StoreChange::kAssistants); !done) return done;
  return transaction.Commit();
}

Status PgStore::DeleteAssistant(const std::string& project_id, const std::string& assistant_id,
                                TimeMs now, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = (*c)->Run("UPDATE assistants SET deleted_at = $3, updated_at = $3 "
                            "WHERE id = $2 AND project_id = $1 AND deleted_at IS NULL",
                            Params().Text(project_id).Text(assistant_id).Int(now));
      !done) {
    return done;
  }
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  if (auto done = NotifyChange(**c, StoreChange::kAssistants); !done) return done;
  return transaction.Commit();
}

}  // namespace gatehouse
