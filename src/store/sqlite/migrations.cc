#include "store/sqlite/migrations.h"

#include <algorithm>
#include <string_view>

namespace gatehouse::sqlite {
namespace {

// Append only: a released migration never changes. Status codes: 0 Active, 1 Blocked,
// 2 Revoked; scope: 0 Organization, 1 Project; times in ms since the epoch.
constexpr std::string_view kMigrations[] = {
    // 1: organizations, projects, API tokens, audit log, settings.
    R"sql(
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  admin_email TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE UNIQUE INDEX organizations_live_name ON organizations(name) WHERE deleted_at IS NULL;
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  admin_email TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE UNIQUE INDEX projects_live_name ON projects(organization_id, name) WHERE deleted_at IS NULL;
CREATE TABLE api_tokens (
  id TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  project_id TEXT REFERENCES projects(id),
  scope INTEGER NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL,
  secret_hash BLOB NOT NULL UNIQUE,
  sealed_secret BLOB,
  secret_prefix TEXT NOT NULL,
  previous_hash BLOB,
  previous_valid_until INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at INTEGER
);
CREATE UNIQUE INDEX api_tokens_live_name
  ON api_tokens(organization_id, COALESCE(project_id, ''), name) WHERE status <> 2;
CREATE INDEX api_tokens_org_name ON api_tokens(organization_id, name COLLATE NOCASE);
CREATE INDEX api_tokens_project ON api_tokens(project_id);
CREATE INDEX api_tokens_updated ON api_tokens(updated_at);
CREATE VIRTUAL TABLE api_tokens_name_trigram USING fts5(
  name, content='api_tokens', content_rowid='rowid', tokenize='trigram');
CREATE TRIGGER api_tokens_name_insert AFTER INSERT ON api_tokens BEGIN
  INSERT INTO api_tokens_name_trigram(rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER api_tokens_name_delete AFTER DELETE ON api_tokens BEGIN
  INSERT INTO api_tokens_name_trigram(api_tokens_name_trigram, rowid, name)
    VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER api_tokens_name_update AFTER UPDATE OF name ON api_tokens BEGIN
  INSERT INTO api_tokens_name_trigram(api_tokens_name_trigram, rowid, name)
    VALUES ('delete', old.rowid, old.name);
  INSERT INTO api_tokens_name_trigram(rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  organization_id TEXT NOT NULL,
  actor_token_id TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  target_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_org_at ON audit_log(organization_id, at);
)sql",
    // 2: assistants with their revisions, and the request log.
    R"sql(
CREATE TABLE assistants (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  project_id TEXT NOT NULL REFERENCES projects(id),
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  prompt TEXT NOT NULL,
  provider_name TEXT NOT NULL DEFAULT '',
  model_name TEXT NOT NULL DEFAULT '',
  temperature REAL,
  max_tokens INTEGER,
  revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE UNIQUE INDEX assistants_live_name ON assistants(project_id, name) WHERE deleted_at IS NULL;
CREATE TABLE assistant_revisions (
  assistant_id TEXT NOT NULL REFERENCES assistants(id),
  revision INTEGER NOT NULL,
  prompt TEXT NOT NULL,
  provider_name TEXT NOT NULL,
  model_name TEXT NOT NULL,
  temperature REAL,
  max_tokens INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (assistant_id, revision)
);
CREATE TABLE requests (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  api_token_id TEXT NOT NULL,
  api_token_name TEXT NOT NULL,
  assistant TEXT,
  intent TEXT,
  module TEXT NOT NULL,
  session_id TEXT,
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  total_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  prompt TEXT,
  input_text TEXT,
  output TEXT
);
CREATE INDEX requests_org_start ON requests(organization_id, start_ms DESC, id DESC);
CREATE INDEX requests_project_start ON requests(project_id, start_ms DESC, id DESC);
)sql",
    // 3: the console search at a million tokens (docs/BENCHMARKS.md). Tokens carry their
    // project's name (kept by UpdateProject) so that every sort key has an index that also
    // covers the filters (status, scope, project name); counts come from counters kept by
    // triggers instead of scans. Tie order within a sort key is the index's own order.
    R"sql(
ALTER TABLE api_tokens ADD COLUMN project_name TEXT NOT NULL DEFAULT '';
UPDATE api_tokens SET project_name = (SELECT name FROM projects p WHERE p.id = api_tokens.project_id)
  WHERE project_id IS NOT NULL;
DROP INDEX api_tokens_org_name;
CREATE INDEX api_tokens_by_name
  ON api_tokens(organization_id, name COLLATE NOCASE, status, scope, project_name);
CREATE INDEX api_tokens_by_description
  ON api_tokens(organization_id, description COLLATE NOCASE, status, scope, project_name);
CREATE INDEX api_tokens_by_status
  ON api_tokens(organization_id, status, name COLLATE NOCASE, scope, project_name);
CREATE INDEX api_tokens_by_project_name
  ON api_tokens(organization_id, project_name COLLATE NOCASE, status, scope);
CREATE INDEX api_tokens_by_created
  ON api_tokens(organization_id, created_at, status, scope, project_name);
CREATE INDEX api_tokens_by_last_used
  ON api_tokens(organization_id, last_used_at, status, scope, project_name);
CREATE TABLE api_token_counts (
  organization_id TEXT NOT NULL,
  project_id TEXT NOT NULL,  -- '' for organization tokens
  status INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  PRIMARY KEY (organization_id, project_id, status)
) WITHOUT ROWID;
INSERT INTO api_token_counts
  SELECT organization_id, COALESCE(project_id, ''), status, COUNT(*) FROM api_tokens
  GROUP BY 1, 2, 3;
CREATE TRIGGER api_token_counts_insert AFTER INSERT ON api_tokens BEGIN
  INSERT INTO api_token_counts VALUES
    (new.organization_id, COALESCE(new.project_id, ''), new.status, 1)
    ON CONFLICT DO UPDATE SET tokens = tokens + 1;
END;
CREATE TRIGGER api_token_counts_delete AFTER DELETE ON api_tokens BEGIN
  UPDATE api_token_counts SET tokens = tokens - 1
    WHERE organization_id = old.organization_id AND project_id = COALESCE(old.project_id, '')
      AND status = old.status;
END;
CREATE TRIGGER api_token_counts_update AFTER UPDATE OF organization_id, project_id, status
  ON api_tokens BEGIN
  UPDATE api_token_counts SET tokens = tokens - 1
    WHERE organization_id = old.organization_id AND project_id = COALESCE(old.project_id, '')
      AND status = old.status;
  INSERT INTO api_token_counts VALUES
    (new.organization_id, COALESCE(new.project_id, ''), new.status, 1)
    ON CONFLICT DO UPDATE SET tokens = tokens + 1;
END;
CREATE INDEX projects_org ON projects(organization_id, name);
)sql",
    // 4: usage limits (API.md §7). project_id NULL = the organization's own limit. Codes as
    // core/usage_limit.h; status 1 Active, 2 Expired, 3 Empty, 4 Cancelled.
    R"sql(
CREATE TABLE usage_limits (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  project_id TEXT REFERENCES projects(id),
  subscription_type INTEGER NOT NULL,
  usage_unit INTEGER NOT NULL,
  soft_limit REAL NOT NULL,
  hard_limit REAL NOT NULL,
  renewal_status INTEGER NOT NULL,
  status INTEGER NOT NULL,
  used_amount REAL NOT NULL DEFAULT 0,
  valid_from INTEGER NOT NULL,
  valid_until INTEGER,
  soft_crossed_in INTEGER,
  hard_crossed_in INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX usage_limits_one_current
  ON usage_limits(organization_id, COALESCE(project_id, '')) WHERE status IN (1, 3);
CREATE INDEX usage_limits_owner ON usage_limits(organization_id, project_id, created_at);
)sql",
    // 5: audit events keep their details and the names of actor and target (API.md §12).
    R"sql(
ALTER TABLE audit_log ADD COLUMN actor_name TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN remote_address TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN target_name TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN target_type TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN details TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_org_target ON audit_log(organization_id, target_id, at);
)sql",
    // 6: a per-token rate limit (API.md §6), NULL = none.
    R"sql(
ALTER TABLE api_tokens ADD COLUMN rate_limit_per_minute INTEGER;
)sql",
    // 7: an organization's own limit webhook URL (API.md §7, §11).
    R"sql(
ALTER TABLE organizations ADD COLUMN limit_webhook_url TEXT NOT NULL DEFAULT '';
)sql",
    // 8: token permissions (API.md §3): a JSON object of the restricted lists, NULL = none.
    R"sql(
ALTER TABLE api_tokens ADD COLUMN permissions TEXT;
)sql",
    // 9: hourly usage rollups for the usage summary (API.md §8), kept by AppendRequests and
    // filled here from the records already stored. usage_hours has no token dimension, so
    // that an organization's 30 days stay a few thousand rows however many tokens call;
    // usage_token_hours answers grouping and filtering by token.
    R"sql(
CREATE TABLE usage_hours (
  organization_id TEXT NOT NULL,
  hour_ms INTEGER NOT NULL,
  project_id TEXT NOT NULL,
  assistant TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  elapsed_ms INTEGER NOT NULL,
  PRIMARY KEY (organization_id, hour_ms, project_id, assistant, model)
) WITHOUT ROWID;
CREATE TABLE usage_token_hours (
  organization_id TEXT NOT NULL,
  hour_ms INTEGER NOT NULL,
  api_token_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  assistant TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  elapsed_ms INTEGER NOT NULL,
  PRIMARY KEY (organization_id, hour_ms, api_token_id, project_id, assistant, model)
) WITHOUT ROWID;
CREATE INDEX usage_token_hours_token ON usage_token_hours(organization_id, api_token_id, hour_ms);
INSERT INTO usage_hours
  SELECT organization_id, start_ms - start_ms % 3600000, project_id, COALESCE(assistant, ''),
         model, COUNT(*), SUM(status = 'failed'), SUM(prompt_tokens), SUM(completion_tokens),
         SUM(cost), SUM(end_ms - start_ms)
  FROM requests GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_token_hours
  SELECT organization_id, start_ms - start_ms % 3600000, api_token_id, project_id,
         COALESCE(assistant, ''), model, COUNT(*), SUM(status = 'failed'), SUM(prompt_tokens),
         SUM(completion_tokens), SUM(cost), SUM(end_ms - start_ms)
  FROM requests GROUP BY 1, 2, 3, 4, 5, 6;
)sql",
    // 10: coarser rollups, so that a 30-day summary reads hundreds or thousands of rows rather
    // than every hour of every key: per organization and hour (the unfiltered timeline), per
    // UTC day and key (totals and groupings over whole days), and indexes for one project's
    // hours and token days. Filled from the hourly rollups.
    R"sql(
CREATE TABLE usage_org_hours (
  organization_id TEXT NOT NULL,
  hour_ms INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  elapsed_ms INTEGER NOT NULL,
  PRIMARY KEY (organization_id, hour_ms)
) WITHOUT ROWID;
CREATE TABLE usage_days (
  organization_id TEXT NOT NULL,
  day_ms INTEGER NOT NULL,
  project_id TEXT NOT NULL,
  assistant TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  elapsed_ms INTEGER NOT NULL,
  PRIMARY KEY (organization_id, day_ms, project_id, assistant, model)
) WITHOUT ROWID;
CREATE TABLE usage_token_days (
  organization_id TEXT NOT NULL,
  day_ms INTEGER NOT NULL,
  api_token_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  assistant TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  elapsed_ms INTEGER NOT NULL,
  PRIMARY KEY (organization_id, day_ms, api_token_id, project_id, assistant, model)
) WITHOUT ROWID;
CREATE INDEX usage_token_days_token ON usage_token_days(organization_id, api_token_id, day_ms);
CREATE INDEX usage_token_days_project ON usage_token_days(organization_id, project_id, day_ms);
CREATE INDEX usage_hours_project ON usage_hours(organization_id, project_id, hour_ms);
INSERT INTO usage_org_hours
  SELECT organization_id, hour_ms, SUM(requests), SUM(failed), SUM(prompt_tokens),
         SUM(completion_tokens), SUM(cost), SUM(elapsed_ms)
  FROM usage_hours GROUP BY 1, 2;
INSERT INTO usage_days
  SELECT organization_id, hour_ms - hour_ms % 86400000, project_id, assistant, model,
         SUM(requests), SUM(failed), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost),
         SUM(elapsed_ms)
  FROM usage_hours GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_token_days
  SELECT organization_id, hour_ms - hour_ms % 86400000, api_token_id, project_id, assistant,
         model, SUM(requests), SUM(failed), SUM(prompt_tokens), SUM(completion_tokens),
         SUM(cost), SUM(elapsed_ms)
  FROM usage_token_hours GROUP BY 1, 2, 3, 4, 5, 6;
)sql",
    // 11: a project's live tokens in the listing's order (name without case, status, rowid),
    // so that the streamed listing (SqliteStore::OpenProjectTokens) pages by keyset: each page
    // starts where the last one ended instead of sorting the whole project again. Partial:
    // revoked tokens are never listed and are never read.
    R"sql(
CREATE INDEX api_tokens_project_live_name
  ON api_tokens(project_id, name COLLATE NOCASE, status) WHERE status <> 2;
)sql",
    // 12: request records are appended in rowid order without a unique index on their id. The
    // id is a random UUID v4 (API.md), so that index put every record on a random leaf page of
    // a B-tree as large as the table: at millions of records the writer dirtied, wrote to the
    // WAL and later checkpointed one page per record. AppendRequests finds a record already
    // stored through requests_org_start (organization, start, id) instead; records are read
    // only through the two time indexes. The indexes are made before the copy, which fills
    // them in about their own order (records were stored in about time order): an index built
    // afterwards would sort every entry first, in memory (temp_store=MEMORY).
    R"sql(
CREATE TABLE requests_appended (
  organization_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  api_token_id TEXT NOT NULL,
  api_token_name TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  id TEXT NOT NULL,
  assistant TEXT,
  intent TEXT,
  module TEXT NOT NULL,
  session_id TEXT,
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  total_tokens INTEGER NOT NULL,
  cost REAL NOT NULL,
  prompt TEXT,
  input_text TEXT,
  output TEXT
);
DROP INDEX requests_org_start;
DROP INDEX requests_project_start;
CREATE INDEX requests_org_start ON requests_appended(organization_id, start_ms, id);
CREATE INDEX requests_project_start ON requests_appended(project_id, start_ms, id);
INSERT INTO requests_appended
  SELECT organization_id, project_id, api_token_id, api_token_name, start_ms, end_ms, id,
         assistant, intent, module, session_id, model, status, http_status, prompt_tokens,
         completion_tokens, total_tokens, cost, prompt, input_text, output
  FROM requests ORDER BY rowid;
DROP TABLE requests;
ALTER TABLE requests_appended RENAME TO requests;
)sql",
    // 13: no FTS5 trigram index of token names. Name searches are answered from the
    // in-memory TokenNameIndex (store/sqlite/token_name_index.h) once it has loaded, and the
    // trigram index served only the seconds before; it cost every token creation a segment
    // write and merges (token creation 5,400 → 6,500 per second without it, same binary, same
    // minutes). Until the index loads, a name search walks api_tokens_by_name.
    R"sql(
DROP TRIGGER api_tokens_name_insert;
DROP TRIGGER api_tokens_name_delete;
DROP TRIGGER api_tokens_name_update;
DROP TABLE api_tokens_name_trigram;
)sql",
    // 14: api_tokens without the unique index on secret_hash. Nothing reads a token by its
    // secret's hash in SQL (authentication probes TokenCache), and a hash is an HMAC of 256
    // random bits, so the index only cost every creation a write to a random leaf page (and
    // its later checkpoint copy): 8-15 % of the server's CPU per token creation. SQLite drops
    // a column constraint only by rebuilding the table: the rows are copied with their rowids
    // (the name index keys on them), then the indexes and triggers of migrations 1, 3 and 11
    // are made again.
    R"sql(
CREATE TABLE api_tokens_rebuilt (
  id TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL REFERENCES organizations(id),
  project_id TEXT REFERENCES projects(id),
  scope INTEGER NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL,
  secret_hash BLOB NOT NULL,
  sealed_secret BLOB,
  secret_prefix TEXT NOT NULL,
  previous_hash BLOB,
  previous_valid_until INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at INTEGER,
  project_name TEXT NOT NULL DEFAULT '',
  rate_limit_per_minute INTEGER,
  permissions TEXT
);
INSERT INTO api_tokens_rebuilt(rowid, id, organization_id, project_id, scope, name, description,
                               status, secret_hash, sealed_secret, secret_prefix, previous_hash,
                               previous_valid_until, created_at, updated_at, last_used_at,
                               expires_at, project_name, rate_limit_per_minute, permissions)
  SELECT rowid, id, organization_id, project_id, scope, name, description, status, secret_hash,
         sealed_secret, secret_prefix, previous_hash, previous_valid_until, created_at,
         updated_at, last_used_at, expires_at, project_name, rate_limit_per_minute, permissions
  FROM api_tokens ORDER BY rowid;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_rebuilt RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_live_name
  ON api_tokens(organization_id, COALESCE(project_id, ''), name) WHERE status <> 2;
CREATE INDEX api_tokens_project ON api_tokens(project_id);
CREATE INDEX api_tokens_updated ON api_tokens(updated_at);
CREATE INDEX api_tokens_by_name
  ON api_tokens(organization_id, name COLLATE NOCASE, status, scope, project_name);
CREATE INDEX api_tokens_by_description
  ON api_tokens(organization_id, description COLLATE NOCASE, status, scope, project_name);
CREATE INDEX api_tokens_by_status
  ON api_tokens(organization_id, status, name COLLATE NOCASE, scope, project_name);
CREATE INDEX api_tokens_by_project_name
  ON api_tokens(organization_id, project_name COLLATE NOCASE, status, scope);
CREATE INDEX api_tokens_by_created
  ON api_tokens(organization_id, created_at, status, scope, project_name);
CREATE INDEX api_tokens_by_last_used
  ON api_tokens(organization_id, last_used_at, status, scope, project_name);
CREATE INDEX api_tokens_project_live_name
  ON api_tokens(project_id, name COLLATE NOCASE, status) WHERE status <> 2;
CREATE TRIGGER api_token_counts_insert AFTER INSERT ON api_tokens BEGIN
  INSERT INTO api_token_counts VALUES
    (new.organization_id, COALESCE(new.project_id, ''), new.status, 1)
    ON CONFLICT DO UPDATE SET tokens = tokens + 1;
END;
CREATE TRIGGER api_token_counts_delete AFTER DELETE ON api_tokens BEGIN
  UPDATE api_token_counts SET tokens = tokens - 1
    WHERE organization_id = old.organization_id AND project_id = COALESCE(old.project_id, '')
      AND status = old.status;
END;
CREATE TRIGGER api_token_counts_update AFTER UPDATE OF organization_id, project_id, status
  ON api_tokens BEGIN
  UPDATE api_token_counts SET tokens = tokens - 1
    WHERE organization_id = old.organization_id AND project_id = COALESCE(old.project_id, '')
      AND status = old.status;
  INSERT INTO api_token_counts VALUES
    (new.organization_id, COALESCE(new.project_id, ''), new.status, 1)
    ON CONFLICT DO UPDATE SET tokens = tokens + 1;
END;
)sql",
    // 15: no audit_log_org_target. The audit listing (ListAudit) filters by target with
    // "(?3 = '' OR target_id = ?3)", which SQLite cannot look up in an index, so its plan walks
    // audit_log_org_at whether a target is given or not; the index served no query and cost
    // every audited write (each token creation) a write to a random leaf page: 12 % of a
    // creation's server CPU (same binary, with and without it).
    R"sql(
DROP INDEX audit_log_org_target;
)sql",
    // 16: api_token_counts counts new tokens without a trigger; the store adds a transaction's
    // new tokens to it, one row per organization, project and status (AddTokenCountsLocked).
    // A trigger made every token INSERT a statement that writes two tables and may abort
    // (UNIQUE, foreign keys), so SQLite kept a statement journal for each one: a copy of every
    // page the insert touched, about 14 pages a token, on the token writer thread (57 against
    // 70 us of its CPU per token creation, same binary, same minutes). Updates and deletes of
    // tokens are rare and keep their triggers.
    R"sql(
DROP TRIGGER api_token_counts_insert;
)sql",
    // 17: console sessions ended before their expiry (signed out, or ended by a cap or by
    // their token's refusal), so that every process refuses their cookies
    // (docs/architecture.md "Console sessions"); rows go once the session would have expired.
    R"sql(
CREATE TABLE console_signouts (
  session_id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL,
  signed_out_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_signouts_at ON console_signouts(signed_out_at);
CREATE INDEX console_signouts_expiry ON console_signouts(expires_at);
)sql",
    // 18: slices of hard limits (core/usage_slice.h): the budget each node may spend without
    // asking the store. Their sum with used_amount stays within hard_limit; a node's usage is
    // added to used_amount (never overwritten), so several nodes' counts add up. SQLite has one
    // node; the table is the same as on PostgreSQL so that one code path serves both.
    R"sql(
CREATE TABLE usage_slices (
  limit_id TEXT NOT NULL REFERENCES usage_limits(id),
  node_id TEXT NOT NULL,
  granted REAL NOT NULL,
  settled_at INTEGER NOT NULL,
  PRIMARY KEY (limit_id, node_id)
) WITHOUT ROWID;
)sql",
};

}  // namespace

Result<int> Migrate(Database& db, int up_to) {
  if (auto done = db.Execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                             "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
      !done) {
    return std::unexpected(done.error());
  }
  auto current = db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current) return std::unexpected(current.error());
  auto row = (*current)->Step();
  if (!row) return std::unexpected(row.error());
  int version = static_cast<int>((*current)->Int(0));
  (*current)->Reset();

  const int latest = up_to > 0 ? std::min<int>(up_to, std::size(kMigrations))
                               : static_cast<int>(std::size(kMigrations));
  // A migration that rewrites a large table must not hold its statement journal and sorts in
  // memory (Database::Open keeps temp storage there for ordinary statements): migration 12
  // peaked at 500 MiB per million records that way, 75 MiB with files.
  if (version < latest) {
    if (auto done = db.Execute("PRAGMA temp_store=FILE"); !done)
      return std::unexpected(done.error());
  }
  struct RestoreTempStore {
    Database& db;
    ~RestoreTempStore() { (void)db.Execute("PRAGMA temp_store=MEMORY"); }
  } restore{db};
  for (int next = version + 1; next <= latest; ++next) {
    Transaction transaction(db);
    if (!transaction.begun()) return std::unexpected(transaction.begun().error());
    if (auto done = db.Execute(std::string(kMigrations[next - 1])); !done) {
      return std::unexpected(done.error());
    }
    if (auto done = db.Execute("INSERT INTO schema_migrations VALUES (" + std::to_string(next) +
                               ", CAST(strftime('%s','now') AS INTEGER) * 1000)");
        !done) {
      return std::unexpected(done.error());
    }
    if (auto done = transaction.Commit(); !done) return std::unexpected(done.error());
    version = next;
  }
  return version;
}

}  // namespace gatehouse::sqlite
