#include "cli/bench_seed_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

#include "app/instance.h"
#include "core/ids.h"
#include "usage/request_log.h"

namespace gatehouse {
namespace {

struct SeedOptions {
  std::string data_dir = "./data";
  std::string master_key_file;
  std::string store = "sqlite";
  std::string organization = "Bench";
  std::int64_t tokens = 100000;
  std::int64_t projects = 100;
  std::int64_t requests = 0;
  std::int64_t organization_tokens = 10;
  std::uint32_t seed = 1;
  bool sql_plans = false;  // bench explain: the SQL plans alone, without the name index
};

constexpr std::size_t kBatchRows = 20000;
constexpr TimeMs kDayMs = 24LL * 3600 * 1000;

// Words that make names whose substrings have every selectivity, from "a" (most names) to a
// whole word (a few percent), plus characters that LIKE and FTS must treat literally.
constexpr const char* kWords[] = {
    "build",  "deploy",  "ingest", "report",  "backup",  "search",  "render",  "billing",
    "mobile", "webhook", "etl",    "monitor", "support", "ci",      "staging", "analytics",
    "export", "sync",    "audit",  "notify",  "crawler", "scanner", "gateway", "batch"};
constexpr const char* kRareParts[] = {"", "", "", "", "",     "",    "",       "",
                                      "", "", "", "", "100%", "a_b", "o'neil", "café"};

class Seeder {
 public:
  Seeder(Instance& instance, const SeedOptions& options)
      : instance_(instance), options_(options), random_(options.seed) {}

  int Run() {
    const auto started = std::chrono::steady_clock::now();
    instance_.InitializeIfNeeded();
    auto created = OrThrow(instance_.organizations().Create(options_.organization, ""),
                           "create the benchmark organization");
    organization_ = created.organization;
    now_ = instance_.clock().Now();
    SeedProjects();
    SeedTokens();
    SeedRequests();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "{\"organizationId\":\"" << organization_.id << "\",\"organizationSecret\":\""
              << created.token.secret << "\",\"projects\":" << projects_.size()
              << ",\"tokens\":" << tokens_seeded_ << ",\"requests\":" << requests_seeded_
              << ",\"seconds\":" << seconds << ",\"requestStoreSeconds\":" << store_seconds_ << "}"
              << std::endl;
    return 0;
  }

 private:
  std::string Pick(const auto& list) {
    return list[std::uniform_int_distribution<std::size_t>(0, std::size(list) - 1)(random_)];
  }

  TokenSpec Spec(std::int64_t index, const Project* project) {
    TokenSpec spec;
    spec.organization_id = organization_.id;
    spec.scope = project ? TokenScope::kProject : TokenScope::kOrganization;
    if (project) {
      spec.project_id = project->id;
      spec.project_name = project->name;
    }
    spec.name = Pick(kWords) + "-" + Pick(kWords) + "-" + std::to_string(index) + Pick(kRareParts);
    spec.description = "Seeded " + Pick(kWords) + " token " + std::to_string(index);
    return spec;
  }

  void SeedProjects() {
    const TimeMs created = now_ - 400 * kDayMs;
    for (std::int64_t i = 0; i < options_.projects; ++i) {
      Project project{NewUuid(),
                      organization_.id,
                      organization_.name,
                      Pick(kWords) + "-project-" + std::to_string(i),
                      "Seeded project",
                      "",
                      true,
                      created,
                      created};
      TokenSpec spec = Spec(++token_index_, &project);
      spec.name = "Default";
      spec.description = "Default token";
      TokenCredential credential;
      const ApiToken token = instance_.tokens().Mint(spec, created, credential).token;
      OrThrow(instance_.store().CreateProject(project, token, credential), "create project");
      projects_.push_back(std::move(project));
      ++tokens_seeded_;
    }
  }

  void SeedTokens() {
    std::vector<std::pair<ApiToken, TokenCredential>> batch;
    batch.reserve(kBatchRows);
    std::uniform_int_distribution<int> percent(0, 99);
    std::uniform_int_distribution<TimeMs> age(0, 365 * kDayMs);
    // Organization tokens first, so that they are a small, fixed share of the total.
    const std::int64_t total = options_.tokens - tokens_seeded_;
    for (std::int64_t i = 0; i < total; ++i) {
      const Project* project = i < options_.organization_tokens || projects_.empty()
                                   ? nullptr
                                   : &projects_[static_cast<std::size_t>(i) % projects_.size()];
      TokenSpec spec = Spec(++token_index_, project);
      const int roll = percent(random_);
      spec.status = roll < 5 ? TokenStatus::kBlocked : TokenStatus::kActive;
      TokenCredential credential;
      ApiToken token = instance_.tokens().Mint(spec, now_ - age(random_), credential).token;
      if (roll >= 95) token.status = TokenStatus::kRevoked;
      if (project == nullptr && token.status != TokenStatus::kActive) {
        token.status = TokenStatus::kActive;  // never lock the organization out
      }
      batch.emplace_back(std::move(token), std::move(credential));
      if (batch.size() == kBatchRows) Flush(batch);
    }
    Flush(batch);
  }

  void Flush(std::vector<std::pair<ApiToken, TokenCredential>>& batch) {
    if (batch.empty()) return;
    auto outcomes = OrThrow(instance_.store().InsertTokens(batch), "insert tokens");
    std::vector<std::pair<std::string, TimeMs>> uses;
    std::uniform_int_distribution<TimeMs> ago(0, 30 * kDayMs);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!outcomes[i]) continue;
      ++tokens_seeded_;
      token_ids_.push_back(batch[i].first.id);
      token_names_.push_back(batch[i].first.name);
      token_projects_.push_back(batch[i].first.project_id);
      if (i % 2 == 0) uses.emplace_back(batch[i].first.id, now_ - ago(random_));
    }
    // Last-used times for half of the tokens, as a running gateway leaves them.
    (void)OrThrow(instance_.store().RecordLastUsed(uses), "record last use");
    batch.clear();
  }

  void SeedRequests() {
    std::vector<RequestRecord> batch;
    // Batches of the request log writer's size, so that the rate is the writer's.
    const std::size_t batch_rows = RequestLogOptions{}.max_batch;
    batch.reserve(batch_rows);
    std::vector<std::size_t> project_tokens;  // indexes of project tokens
    for (std::size_t i = 0; i < token_ids_.size(); ++i) {
      if (!token_projects_[i].empty()) project_tokens.push_back(i);
    }
    if (project_tokens.empty()) return;
    std::uniform_int_distribution<std::size_t> which(0, project_tokens.size() - 1);
    std::uniform_int_distribution<int> tokens(10, 2000);
    std::uniform_int_distribution<int> percent(0, 99);
    // Newest records last: spread evenly over the last 30 days in time order.
    const TimeMs span = 30 * kDayMs;
    for (std::int64_t i = 0; i < options_.requests; ++i) {
      const std::size_t t = project_tokens[which(random_)];
      RequestRecord record;
      record.id = NewUuid();
      record.organization_id = organization_.id;
      record.project_id = token_projects_[t];
      record.api_token_id = token_ids_[t];
      record.api_token_name = token_names_[t];
      record.model = "openai/gpt-4o-mini";
      record.assistant = record.model;
      record.status = percent(random_) < 3 ? "failed" : "succeeded";
      record.http_status = record.status == "failed" ? 502 : 200;
      record.start_ms = now_ - span + span * i / std::max<std::int64_t>(options_.requests, 1);
      record.end_ms = record.start_ms + 200 + percent(random_) * 10;
      record.session_id = record.id;
      record.prompt_tokens = tokens(random_);
      record.completion_tokens = tokens(random_) / 4;
      record.total_tokens = record.prompt_tokens + record.completion_tokens;
      record.cost = record.total_tokens * 0.0000006;
      batch.push_back(std::move(record));
      if (batch.size() == batch_rows) Store(batch);
    }
    Store(batch);
  }

  // Stores a batch of records as the request log's writer does, timing only the store.
  void Store(std::vector<RequestRecord>& batch) {
    const auto started = std::chrono::steady_clock::now();
    OrThrow(instance_.store().AppendRequests(batch, Store::RecordArrival::kFresh),
            "insert requests");
    store_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    requests_seeded_ += static_cast<std::int64_t>(batch.size());
    batch.clear();
  }

  Instance& instance_;
  const SeedOptions& options_;
  std::mt19937_64 random_;
  Organization organization_;
  TimeMs now_ = 0;
  std::vector<Project> projects_;
  std::vector<std::string> token_ids_, token_names_, token_projects_;
  std::int64_t token_index_ = 0;
  std::int64_t tokens_seeded_ = 1;  // the organization's DefaultOrganization token
  std::int64_t requests_seeded_ = 0;
  double store_seconds_ = 0;  // in AppendRequests
};

// The console search shapes of scripts/bench-scale, for `bench explain`.
std::vector<std::pair<std::string, TokenQuery>> SearchShapes(const std::string& organization_id) {
  std::vector<std::pair<std::string, TokenQuery>> shapes;
  const std::vector<TokenStatus> live = {TokenStatus::kActive, TokenStatus::kBlocked};
  auto base = [&] {
    return TokenQuery{.organization_id = organization_id, .statuses = live, .limit = 20};
  };
  const std::pair<const char*, TokenOrderKey> keys[] = {
      {"name", TokenOrderKey::kName},           {"description", TokenOrderKey::kDescription},
      {"status", TokenOrderKey::kStatus},       {"projectName", TokenOrderKey::kProjectName},
      {"timestamp", TokenOrderKey::kTimestamp}, {"lastUsedAt", TokenOrderKey::kLastUsedAt}};
  for (const auto& [label, key] : keys) {
    for (bool descending : {false, true}) {
      TokenQuery query = base();
      query.order_key = key;
      query.descending = descending;
      query.offset = 99980;
      shapes.emplace_back(
          std::string("orderKey=") + label + (descending ? " desc" : " asc") + " page 5000", query);
    }
  }
  for (const char* text : {"a", "il", "ing", "deploy-b", "x", "q7", "zzz"}) {
    TokenQuery by_name = base();
    by_name.name_contains = text;
    shapes.emplace_back(std::string("name contains \"") + text + "\" page 1", by_name);
    TokenQuery by_project = base();
    by_project.project_name_contains = text;
    shapes.emplace_back(std::string("projectName contains \"") + text + "\" page 1", by_project);
  }
  const std::pair<const char*, std::vector<TokenStatus>> statuses[] = {
      {"active", {TokenStatus::kActive}},
      {"blocked", {TokenStatus::kBlocked}},
      {"revoked", {TokenStatus::kRevoked}}};
  for (const auto& [label, list] : statuses) {
    TokenQuery query = base();
    query.statuses = list;
    shapes.emplace_back(std::string("status=") + label + " page 1", query);
  }
  for (auto scope : {TokenScope::kOrganization, TokenScope::kProject}) {
    TokenQuery query = base();
    query.scope = scope;
    shapes.emplace_back("scope=" + std::string(ToString(scope)) + " page 1", query);
  }
  return shapes;
}

// The installation the options name, with GATEHOUSE_* environment variables applied last, as for
// every other command (API.md §11).
ServerConfig ConfigFor(const SeedOptions& options) {
  ServerConfig config;
  config.data_dir = options.data_dir;
  config.master_key_file = options.master_key_file;
  config.store = options.store;
  ApplyEnvironment(config);
  ValidateConfig(config);
  return config;
}

int RunExplain(const SeedOptions& options) {
  const SystemClock clock;
  Instance instance(ConfigFor(options), clock);
  const Organization organization =
      OrThrow(instance.organizations().Resolve(options.organization), "find the organization");
  SqliteStore* sqlite = instance.sqlite_store();
  if (!sqlite) throw std::runtime_error("bench explain reads SQLite query plans");
  if (options.sql_plans) sqlite->UseNameIndex(SqliteStore::NameIndexUse::kNever);
  for (const auto& [label, query] : SearchShapes(organization.id)) {
    std::cout << "### " << label << "\n" << OrThrow(sqlite->ExplainSearchTokens(query), label);
    // The median of three answers after the explained one (warm cache), plans not included.
    std::vector<double> ms;
    for (int i = 0; i < 3; ++i) {
      const auto started = std::chrono::steady_clock::now();
      OrThrow(instance.store().SearchTokens(query), label);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count());
    }
    std::sort(ms.begin(), ms.end());
    std::cout << "answered in " << ms[1] << " ms\n\n";
  }
  std::cout << "### a project's tokens, one page (streamed listing)\n"
            << OrThrow(sqlite->ExplainProjectTokensPage(), "project tokens") << "\n";
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, std::function<int()>& run) {
  auto* bench = app.add_subcommand("bench", "benchmark tools");
  bench->require_subcommand(1);
  auto* seed = bench->add_subcommand(
      "seed", "fill a data directory with an organization of projects, tokens and requests");
  auto options = std::make_shared<SeedOptions>();
  seed->add_option("--data-dir", options->data_dir, "data directory (default ./data)");
  seed->add_option("--master-key-file", options->master_key_file, "master key file");
  seed->add_option("--store", options->store, "sqlite (default) | postgres://user@host:port/db");
  seed->add_option("--org", options->organization, "name of the organization to create");
  seed->add_option("--tokens", options->tokens, "tokens in all, organization tokens included");
  seed->add_option("--projects", options->projects, "projects");
  seed->add_option("--requests", options->requests, "request records");
  seed->add_option("--organization-tokens", options->organization_tokens,
                   "organization tokens among --tokens");
  seed->add_option("--seed", options->seed, "random seed");
  auto* explain = bench->add_subcommand(
      "explain", "print the statements and query plans of the console search shapes");
  explain->add_option("--data-dir", options->data_dir, "data directory (default ./data)");
  explain->add_option("--master-key-file", options->master_key_file, "master key file");
  explain->add_option("--org", options->organization, "organization id or name");
  explain->add_flag("--sql-plans", options->sql_plans,
                    "the SQL plans alone, as before the in-memory name index has loaded");
  explain->callback([options, &run] { run = [options] { return RunExplain(*options); }; });
  seed->callback([options, &run] {
    run = [options] {
      const SystemClock clock;
      Instance instance(ConfigFor(*options), clock);
      return Seeder(instance, *options).Run();
    };
  });
}

}  // namespace gatehouse
