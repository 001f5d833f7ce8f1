#include "store/postgres/pg_migrations.h"

#include <chrono>
#include <iterator>
#include <string_view>
#include <thread>

namespace gatehouse::pg {
namespace {

// Keys of the advisory locks the store takes (any fixed numbers, the same on every node).
constexpr std::int64_t kMigrationLock = 0x6761746568000001;
// How long a starting node waits for another node's migration before giving up.
constexpr std::chrono::seconds kMigrationWait{120};

// PostgreSQL's schema numbers its own migrations; version 1 is the SQLite schema as of its
// migration 16, with what PostgreSQL does differently:
// - times are bigint milliseconds since the epoch, as on SQLite, so rows map the same way;
// - `seq` stands in for SQLite's rowid (storage order breaks ties between equal sort keys);
// - names compare bytewise (COLLATE "C", SQLite's BINARY), and case-insensitive order is
//   lower(x) (SQLite's NOCASE folds ASCII only: the two agree on ASCII names);
// - token counts are kept by triggers;
// - `changed_at_db` is the database's clock at the last change of a token, so that nodes with
//   skewed clocks agree on what changed since a watermark (the cache resync);
// - `requests` is partitioned by month of start_ms (old months can be detached and archived);
// - substring search on token names uses a pg_trgm GIN index.
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE FUNCTION gatehouse_now_ms() RETURNS bigint LANGUAGE sql VOLATILE
  AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE organizations (
  id text PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  admin_email text NOT NULL DEFAULT '',
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  deleted_at bigint,
  limit_webhook_url text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX organizations_live_name ON organizations(name) WHERE deleted_at IS NULL;
CREATE TABLE projects (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  name text COLLATE "C" NOT NULL,
  description text NOT NULL DEFAULT '',
  admin_email text NOT NULL DEFAULT '',
  active boolean NOT NULL DEFAULT true,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  deleted_at bigint
);
CREATE UNIQUE INDEX projects_live_name ON projects(organization_id, name) WHERE deleted_at IS NULL;
CREATE INDEX projects_org ON projects(organization_id, name);
CREATE TABLE api_tokens (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  id text NOT NULL UNIQUE,
  organization_id text NOT NULL REFERENCES organizations(id),
  project_id text REFERENCES projects(id),
  scope smallint NOT NULL,
  name text COLLATE "C" NOT NULL,
  description text COLLATE "C" NOT NULL DEFAULT '',
  status smallint NOT NULL,
  secret_hash bytea NOT NULL,
  sealed_secret bytea,
  secret_prefix text NOT NULL,
  previous_hash bytea,
  previous_valid_until bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  last_used_at bigint,
  expires_at bigint,
  project_name text COLLATE "C" NOT NULL DEFAULT '',
  rate_limit_per_minute bigint,
  permissions text,
  changed_at_db bigint NOT NULL DEFAULT gatehouse_now_ms()
);
CREATE UNIQUE INDEX api_tokens_live_name
  ON api_tokens(organization_id, COALESCE(project_id, ''), name) WHERE status <> 2;
CREATE INDEX api_tokens_project ON api_tokens(project_id);
CREATE INDEX api_tokens_updated ON api_tokens(updated_at);
CREATE INDEX api_tokens_changed ON api_tokens(changed_at_db);
CREATE UNIQUE INDEX api_tokens_seq ON api_tokens(seq);
-- The sort indexes. Those on lower(x) also INCLUDE x: without it PostgreSQL will not scan an
-- expression index index-only, and a deep page (OFFSET 100,000) reads every row it skips
-- (450 ms against 25 ms at a million tokens).
CREATE INDEX api_tokens_by_name
  ON api_tokens(organization_id, lower(name), status, scope, project_name, seq) INCLUDE (name);
CREATE INDEX api_tokens_by_description
  ON api_tokens(organization_id, lower(description), status, scope, project_name, seq)
  INCLUDE (description);
CREATE INDEX api_tokens_by_status
  ON api_tokens(organization_id, status, lower(name), scope, project_name, seq) INCLUDE (name);
CREATE INDEX api_tokens_by_project_name
  ON api_tokens(organization_id, lower(project_name), status, scope, seq) INCLUDE (project_name);
-- Organization tokens are a few among many project tokens: found here, then sorted.
CREATE INDEX api_tokens_by_scope ON api_tokens(organization_id, scope, status);
CREATE INDEX api_tokens_by_created
  ON api_tokens(organization_id, created_at, status, scope, project_name, seq);
CREATE INDEX api_tokens_by_last_used
  ON api_tokens(organization_id, last_used_at NULLS FIRST, status, scope, project_name, seq);
CREATE INDEX api_tokens_project_live_name
  ON api_tokens(project_id, lower(name), status, seq) INCLUDE (name) WHERE status <> 2;
CREATE INDEX api_tokens_name_trgm ON api_tokens USING gin (name gin_trgm_ops);
CREATE TABLE api_token_counts (
  organization_id text NOT NULL,
  project_id text NOT NULL,  -- '' for organization tokens
  status smallint NOT NULL,
  tokens bigint NOT NULL,
  PRIMARY KEY (organization_id, project_id, status)
);
-- Counted per statement on insert (a batch of tokens adds to each count once), per row on the
-- rare changes of owner or status; a last use (RecordLastUsed) fires nothing.
CREATE FUNCTION gatehouse_count_inserted_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO api_token_counts
    SELECT organization_id, COALESCE(project_id, ''), status, count(*) FROM inserted
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (organization_id, project_id, status)
    DO UPDATE SET tokens = api_token_counts.tokens + EXCLUDED.tokens;
  RETURN NULL;
END $$;
CREATE TRIGGER api_token_counts_insert AFTER INSERT ON api_tokens
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
  EXECUTE FUNCTION gatehouse_count_inserted_tokens();
CREATE FUNCTION gatehouse_count_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE api_token_counts SET tokens = tokens - 1
      WHERE organization_id = OLD.organization_id AND project_id = COALESCE(OLD.project_id, '')
        AND status = OLD.status;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO api_token_counts VALUES
      (NEW.organization_id, COALESCE(NEW.project_id, ''), NEW.status, 1)
      ON CONFLICT (organization_id, project_id, status)
      DO UPDATE SET tokens = api_token_counts.tokens + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER api_token_counts_delete AFTER DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION gatehouse_count_tokens();
CREATE TRIGGER api_token_counts_update AFTER UPDATE OF organization_id, project_id, status
  ON api_tokens FOR EACH ROW
  WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id
        OR OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.status <> NEW.status)
  EXECUTE FUNCTION gatehouse_count_tokens();
CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at bigint NOT NULL,
  organization_id text NOT NULL,
  actor_token_id text NOT NULL DEFAULT '',
  action text NOT NULL,
  target_id text NOT NULL DEFAULT '',
  actor_name text NOT NULL DEFAULT '',
  remote_address text NOT NULL DEFAULT '',
  target_name text NOT NULL DEFAULT '',
  target_type text NOT NULL DEFAULT '',
  details text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_org_at ON audit_log(organization_id, at);
CREATE TABLE assistants (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  project_id text NOT NULL REFERENCES projects(id),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  prompt text NOT NULL,
  provider_name text NOT NULL DEFAULT '',
  model_name text NOT NULL DEFAULT '',
  temperature double precision,
  max_tokens bigint,
  revision bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  deleted_at bigint
);
CREATE UNIQUE INDEX assistants_live_name ON assistants(project_id, name) WHERE deleted_at IS NULL;
CREATE TABLE assistant_revisions (
  assistant_id text NOT NULL REFERENCES assistants(id),
  revision bigint NOT NULL,
  prompt text NOT NULL,
  provider_name text NOT NULL,
  model_name text NOT NULL,
  temperature double precision,
  max_tokens bigint,
  created_at bigint NOT NULL,
  PRIMARY KEY (assistant_id, revision)
);
CREATE TABLE usage_limits (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  project_id text REFERENCES projects(id),
  subscription_type smallint NOT NULL,
  usage_unit smallint NOT NULL,
  soft_limit double precision NOT NULL,
  hard_limit double precision NOT NULL,
  renewal_status smallint NOT NULL,
  status smallint NOT NULL,
  used_amount double precision NOT NULL DEFAULT 0,
  valid_from bigint NOT NULL,
  valid_until bigint,
  soft_crossed_in bigint,
  hard_crossed_in bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX usage_limits_one_current
  ON usage_limits(organization_id, COALESCE(project_id, '')) WHERE status IN (1, 3);
CREATE INDEX usage_limits_owner ON usage_limits(organization_id, project_id, created_at);
CREATE TABLE requests (
  organization_id text NOT NULL,
  project_id text NOT NULL,
  api_token_id text NOT NULL,
  api_token_name text NOT NULL,
  start_ms bigint NOT NULL,
  end_ms bigint NOT NULL,
  id text NOT NULL,
  assistant text,
  intent text,
  module text NOT NULL,
  session_id text,
  model text NOT NULL,
  status text NOT NULL,
  http_status integer NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL,
  cost double precision NOT NULL,
  prompt text,
  input_text text,
  output text,
  PRIMARY KEY (organization_id, start_ms, id)
) PARTITION BY RANGE (start_ms);
CREATE INDEX requests_project_start ON requests(project_id, start_ms, id);
CREATE TABLE requests_default PARTITION OF requests DEFAULT;
CREATE TABLE usage_hours (
  organization_id text NOT NULL,
  hour_ms bigint NOT NULL,
  project_id text NOT NULL,
  assistant text NOT NULL,
  model text NOT NULL,
  requests bigint NOT NULL,
  failed bigint NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost double precision NOT NULL,
  elapsed_ms bigint NOT NULL,
  PRIMARY KEY (organization_id, hour_ms, project_id, assistant, model)
);
CREATE INDEX usage_hours_project ON usage_hours(organization_id, project_id, hour_ms);
CREATE TABLE usage_token_hours (
  organization_id text NOT NULL,
  hour_ms bigint NOT NULL,
  api_token_id text NOT NULL,
  project_id text NOT NULL,
  assistant text NOT NULL,
  model text NOT NULL,
  requests bigint NOT NULL,
  failed bigint NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost double precision NOT NULL,
  elapsed_ms bigint NOT NULL,
  PRIMARY KEY (organization_id, hour_ms, api_token_id, project_id, assistant, model)
);
CREATE INDEX usage_token_hours_token ON usage_token_hours(organization_id, api_token_id, hour_ms);
CREATE TABLE usage_org_hours (
  organization_id text NOT NULL,
  hour_ms bigint NOT NULL,
  requests bigint NOT NULL,
  failed bigint NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost double precision NOT NULL,
  elapsed_ms bigint NOT NULL,
  PRIMARY KEY (organization_id, hour_ms)
);
CREATE TABLE usage_days (
  organization_id text NOT NULL,
  day_ms bigint NOT NULL,
  project_id text NOT NULL,
  assistant text NOT NULL,
  model text NOT NULL,
  requests bigint NOT NULL,
  failed bigint NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost double precision NOT NULL,
  elapsed_ms bigint NOT NULL,
  PRIMARY KEY (organization_id, day_ms, project_id, assistant, model)
);
CREATE TABLE usage_token_days (
  organization_id text NOT NULL,
  day_ms bigint NOT NULL,
  api_token_id text NOT NULL,
  project_id text NOT NULL,
  assistant text NOT NULL,
  model text NOT NULL,
  requests bigint NOT NULL,
  failed bigint NOT NULL,
  prompt_tokens bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost double precision NOT NULL,
  elapsed_ms bigint NOT NULL,
  PRIMARY KEY (organization_id, day_ms, api_token_id, project_id, assistant, model)
);
CREATE INDEX usage_token_days_token ON usage_token_days(organization_id, api_token_id, day_ms);
CREATE INDEX usage_token_days_project ON usage_token_days(organization_id, project_id, day_ms);
CREATE FUNCTION gatehouse_ensure_request_partitions(around_ms bigint, months_ahead int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  month timestamp := date_trunc('month', to_timestamp(around_ms / 1000.0) AT TIME ZONE 'UTC');
  first timestamp;
  name text;
BEGIN
  PERFORM pg_advisory_xact_lock(7433749311660130306);
  FOR i IN -1 .. months_ahead LOOP
    first := month + make_interval(months => i);
    name := 'requests_' || to_char(first, 'YYYY_MM');
    IF to_regclass(name) IS NULL THEN
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF requests FOR VALUES FROM (%s) TO (%s)', name,
          (extract(epoch FROM first) * 1000)::bigint,
          (extract(epoch FROM first + interval '1 month') * 1000)::bigint);
      EXCEPTION WHEN check_violation THEN
        -- The default partition already holds rows of that month: they stay there.
        NULL;
      END;
    END IF;
  END LOOP;
END $$;
)sql",
    // 2 (SQLite's 17): console sessions ended before their expiry, shared by every node
    // (docs/architecture.md "Console sessions"). `signed_out_at_db` is the database's clock at
    // the insert, for the same reason as api_tokens.changed_at_db.
    R"sql(
CREATE TABLE console_signouts (
  session_id text PRIMARY KEY,
  expires_at bigint NOT NULL,
  signed_out_at bigint NOT NULL,
  signed_out_at_db bigint NOT NULL DEFAULT gatehouse_now_ms()
);
CREATE INDEX console_signouts_at ON console_signouts(signed_out_at);
CREATE INDEX console_signouts_at_db ON console_signouts(signed_out_at_db);
CREATE INDEX console_signouts_expiry ON console_signouts(expires_at);
)sql",
    // 3 (SQLite's 18): slices of hard limits (core/usage_slice.h): the budget each node may
    // spend without asking the database. Their sum with used_amount stays within hard_limit; each
    // node adds its usage to used_amount. settled_at is the database's clock, so that a slice of a
    // node silent for a minute is given to others whatever the nodes' clocks say.
    R"sql(
CREATE TABLE usage_slices (
  limit_id text NOT NULL REFERENCES usage_limits(id),
  node_id text NOT NULL,
  granted double precision NOT NULL,
  settled_at bigint NOT NULL,
  PRIMARY KEY (limit_id, node_id)
);
)sql",
    // 4 (no SQLite counterpart: one writer there): a token's change of status or owner takes
    // every count row of its project in key order before it changes two of them. Taken old row
    // first, two opposite changes in one project (one token blocked while another is
    // unblocked) each held the row the other wanted: a deadlock, and a 503 for one of them.
    // The order holds within one trigger call; a transaction that changes several tokens (a
    // batch of new tokens across projects, an organization deleted) takes rows call by call,
    // so it can still meet another such transaction in the opposite order, rarely.
    R"sql(
CREATE OR REPLACE FUNCTION gatehouse_count_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    PERFORM 1 FROM api_token_counts
      WHERE (organization_id, project_id) IN
            ((OLD.organization_id, COALESCE(OLD.project_id, '')),
             (NEW.organization_id, COALESCE(NEW.project_id, '')))
      ORDER BY organization_id, project_id, status FOR NO KEY UPDATE;
  ELSE
    PERFORM 1 FROM api_token_counts
      WHERE organization_id = OLD.organization_id AND project_id = COALESCE(OLD.project_id, '')
      ORDER BY status FOR NO KEY UPDATE;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE api_token_counts SET tokens = tokens - 1
      WHERE organization_id = OLD.organization_id AND project_id = COALESCE(OLD.project_id, '')
        AND status = OLD.status;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO api_token_counts VALUES
      (NEW.organization_id, COALESCE(NEW.project_id, ''), NEW.status, 1)
      ON CONFLICT (organization_id, project_id, status)
      DO UPDATE SET tokens = api_token_counts.tokens + 1;
  END IF;
  RETURN NULL;
END $$;
)sql",
};

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

Result<int> Migrate(Connection& connection, int up_to) {
  // A session lock: released by the unlock below, or by PostgreSQL if this node dies.
  const auto deadline = std::chrono::steady_clock::now() + kMigrationWait;
  for (;;) {
    auto locked = connection.Exec("SELECT pg_try_advisory_lock($1)", Params().Int(kMigrationLock));
    if (!locked) return std::unexpected(locked.error());
    if (locked->Bool(0, 0)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(ErrorCode::kStoreBusy, {},
                  "another node kept the migration lock for over two minutes");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  struct Unlock {
    Connection& connection;
    ~Unlock() {
      (void)connection.Run("SELECT pg_advisory_unlock($1)", Params().Int(kMigrationLock));
    }
  } unlock{connection};

  if (auto made = connection.RunScript("CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "version integer PRIMARY KEY, applied_at bigint NOT NULL)");
      !made) {
    return std::unexpected(made.error());
  }
  auto current = connection.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current) return std::unexpected(current.error());
  int version = static_cast<int>(current->Int(0, 0));
  const int known = LatestSchemaVersion();
  if (version > known) {
    return Fail(ErrorCode::kInternal, {},
                "the database is at schema version " + std::to_string(version) +
                    " but this gatehouse knows versions up to " + std::to_string(known) +
                    ": upgrade gatehouse");
  }
  const int latest = up_to > 0 ? std::min(up_to, known) : known;
  for (int next = version + 1; next <= latest; ++next) {
    Transaction transaction(connection);
    if (!transaction.begun()) return std::unexpected(transaction.begun().error());
    if (auto done = connection.RunScript(kMigrations[next - 1]); !done) {
      return std::unexpected(done.error());
    }
    if (auto done = connection.Run("INSERT INTO schema_migrations VALUES ($1, gatehouse_now_ms())",
                                   Params().Int(next));
        !done) {
      return std::unexpected(done.error());
    }
    if (auto done = transaction.Commit(); !done) return std::unexpected(done.error());
    version = next;
  }
  return version;
}

Status EnsureRequestPartitions(Connection& connection, std::int64_t around_ms, int months_ahead) {
  return connection.Run("SELECT gatehouse_ensure_request_partitions($1, $2)",
                        Params().Int(around_ms).Int(months_ahead));
}

}  // namespace gatehouse::pg
