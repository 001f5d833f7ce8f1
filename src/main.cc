#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>

#include "cli/bench_seed_command.h"
#include "cli/commands.h"

namespace {

using gatehouse::ServerConfig;

// Settings shared by every command: where the data lives, and the config file.
struct CommonOptions {
  std::string config_file;
  std::optional<std::string> data_dir;
  std::optional<std::string> master_key_file;
  std::optional<std::string> admin_token_file;
  std::optional<std::string> reveal;
  std::optional<std::string> store;
  bool json = false;

  void Attach(CLI::App& command) {
    command.add_option("--config", config_file, "TOML configuration file");
    command.add_option("--data-dir", data_dir, "data directory (default ./data)");
    command.add_option("--master-key-file", master_key_file, "master key file");
    command.add_option("--admin-token-file", admin_token_file, "system administrator secret");
    command.add_option("--reveal", reveal, "sealed | never")
        ->check(CLI::IsMember({"sealed", "never"}));
    command.add_option("--store", store, "sqlite (default) | postgres://user@host:port/db");
    command.add_flag("--json", json, "print JSON");
  }

  // File first, then flags, then GATEHOUSE_* environment variables (API.md §11).
  ServerConfig Resolve() const {
    ServerConfig config;
    if (!config_file.empty()) gatehouse::LoadConfigFile(config_file, config);
    if (data_dir) config.data_dir = *data_dir;
    if (master_key_file) config.master_key_file = *master_key_file;
    if (admin_token_file) config.admin_token_file = *admin_token_file;
    if (reveal) config.reveal = *reveal;
    if (store) config.store = *store;
    return config;
  }
};

ServerConfig Finish(ServerConfig config) {
  gatehouse::ApplyEnvironment(config);
  gatehouse::ValidateConfig(config);
  return config;
}

// Everything a sub-command may read from its command line; each attaches the options it uses.
struct Arguments {
  CommonOptions common;
  std::optional<std::string> listen, web_dir, log_content, tls_cert, tls_key, loop_scheduling;
  std::optional<std::int64_t> max_body;
  int threads = 0;
  bool force = false;
  std::string name, description, email, organization, project, token_id, destination;
  std::string export_format = "json";
  gatehouse::AuditOptions audit;

  ServerConfig Config() const { return Finish(common.Resolve()); }
  ServerConfig ServeConfig() const {
    ServerConfig config = common.Resolve();
    if (listen) config.listen = *listen;
    if (max_body) config.max_body = *max_body;
    if (log_content) config.log_content = *log_content == "true";
    if (web_dir) config.web_dir = *web_dir;
    if (tls_cert) config.tls_cert = *tls_cert;
    if (tls_key) config.tls_key = *tls_key;
    if (loop_scheduling) config.loop_scheduling = *loop_scheduling;
    return Finish(config);
  }
};

void AttachNothing(CLI::App&, Arguments&) {}

void AttachServe(CLI::App& command, Arguments& a) {
  command.add_option("--listen", a.listen, "HOST:PORT (default 127.0.0.1:8080)");
  command.add_option("--max-body", a.max_body, "request body limit in bytes");
  command.add_option("--log-content", a.log_content, "true | false")
      ->check(CLI::IsMember({"true", "false"}));
  command.add_option("--web-dir", a.web_dir, "directory of the built console");
  command.add_option("--threads", a.threads, "event loop threads (default: one per core)");
  command
      .add_option("--loop-scheduling", a.loop_scheduling,
                  "adaptive | normal | batch: event loops under SCHED_BATCH while busy, never "
                  "or always (README, Configuration)")
      ->check(CLI::IsMember({"adaptive", "normal", "batch"}));
  command.add_option("--tls-cert", a.tls_cert,
                     "PEM certificate chain: serve HTTPS (with --tls-key)");
  command.add_option("--tls-key", a.tls_key, "PEM private key of --tls-cert");
}

void AttachInit(CLI::App& command, Arguments& a) {
  command.add_flag("--force", a.force,
                   "initialize even beside a master key or admin token whose database is gone");
}

void AttachBackup(CLI::App& command, Arguments& a) {
  command.add_option("file", a.destination, "destination file")->required();
}

void AttachOrgCreate(CLI::App& command, Arguments& a) {
  command.add_option("--name", a.name, "organization name")->required();
  command.add_option("--email", a.email, "administrator e-mail");
}

void AttachOrg(CLI::App& command, Arguments& a) {
  command.add_option("--org", a.organization, "organization id or name");
}

void AttachProjectCreate(CLI::App& command, Arguments& a) {
  AttachOrg(command, a);
  command.add_option("--name", a.name, "project name")->required();
  command.add_option("--description", a.description, "description");
}

void AttachTokenList(CLI::App& command, Arguments& a) {
  AttachOrg(command, a);
  command.add_option("--project", a.project, "project id or name");
}

void AttachTokenCreate(CLI::App& command, Arguments& a) {
  AttachOrg(command, a);
  command.add_option("--project", a.project, "project id or name (else organization scope)");
  command.add_option("--name", a.name, "token name")->required();
  command.add_option("--description", a.description, "description");
}

void AttachTokenId(CLI::App& command, Arguments& a) {
  command.add_option("id", a.token_id, "token id")->required();
}

void AttachExport(CLI::App& command, Arguments& a) {
  AttachTokenList(command, a);
  command.add_option("--format", a.export_format, "json | csv | ndjson");
}

void AttachAudit(CLI::App& command, Arguments& a) {
  command.add_option("--org", a.audit.organization, "organization id or name");
  command.add_option("--action", a.audit.action, "only this action, e.g. token.block");
  command.add_option("--target-id", a.audit.target_id, "only events about this id");
  command.add_option("--actor-token-id", a.audit.actor_token_id, "only events by this token");
  command.add_option("--start-date", a.audit.start_date, "from this date or timestamp");
  command.add_option("--end-date", a.audit.end_date, "up to this date or timestamp");
  command.add_option("--limit", a.audit.limit, "newest events shown (default 100, 0 = all)");
}

// One sub-command: its path ("token create"), what it does, its options and its action.
struct SubCommand {
  const char* path;
  const char* description;
  void (*attach)(CLI::App&, Arguments&);
  int (*run)(const Arguments&);
};

// Descriptions of the groups that sub-command paths open ("org" in "org create").
const std::map<std::string, std::string> kGroups = {
    {"org", "organizations"}, {"project", "projects"}, {"token", "API tokens"}};

const SubCommand kSubCommands[] = {
    {"serve", "serve the HTTP API and console", AttachServe,
     [](const Arguments& a) { return gatehouse::RunServe(a.ServeConfig(), a.threads); }},
    {"init", "create the Default organization and credentials", AttachInit,
     [](const Arguments& a) { return gatehouse::RunInit(a.Config(), a.common.json, a.force); }},
    {"migrate", "apply pending schema migrations and exit", AttachNothing,
     [](const Arguments& a) { return gatehouse::RunMigrate(a.Config()); }},
    {"backup", "copy the live database to FILE", AttachBackup,
     [](const Arguments& a) { return gatehouse::RunBackup(a.Config(), a.destination); }},
    {"org create", "create an organization", AttachOrgCreate,
     [](const Arguments& a) {
       return gatehouse::RunOrgCreate(a.Config(), a.name, a.email, a.common.json);
     }},
    {"org list", "list organizations", AttachNothing,
     [](const Arguments& a) { return gatehouse::RunOrgList(a.Config(), a.common.json); }},
    {"project list", "list projects", AttachOrg,
     [](const Arguments& a) {
       return gatehouse::RunProjectList(a.Config(), a.organization, a.common.json);
     }},
    {"project create", "create a project", AttachProjectCreate,
     [](const Arguments& a) {
       return gatehouse::RunProjectCreate(a.Config(), a.organization, a.name, a.description,
                                          a.common.json);
     }},
    {"token list", "list tokens", AttachTokenList,
     [](const Arguments& a) {
       return gatehouse::RunTokenList(a.Config(), a.organization, a.project, a.common.json);
     }},
    {"token create", "create a token", AttachTokenCreate,
     [](const Arguments& a) {
       return gatehouse::RunTokenCreate(a.Config(), a.organization, a.project, a.name,
                                        a.description, a.common.json);
     }},
    {"token block", "block a token", AttachTokenId,
     [](const Arguments& a) {
       return gatehouse::RunTokenChange(a.Config(), "block", a.token_id, a.common.json);
     }},
    {"token unblock", "unblock a token", AttachTokenId,
     [](const Arguments& a) {
       return gatehouse::RunTokenChange(a.Config(), "unblock", a.token_id, a.common.json);
     }},
    {"token revoke", "revoke a token", AttachTokenId,
     [](const Arguments& a) {
       return gatehouse::RunTokenChange(a.Config(), "revoke", a.token_id, a.common.json);
     }},
    {"audit", "show the audit trail, newest first", AttachAudit,
     [](const Arguments& a) { return gatehouse::RunAudit(a.Config(), a.audit, a.common.json); }},
    {"export", "write the request export to stdout", AttachExport,
     [](const Arguments& a) {
       return gatehouse::RunExport(a.Config(), a.organization, a.project, a.export_format);
     }},
};

// The CLI11 command for `path`, creating the groups it passes through.
CLI::App& CommandAt(CLI::App& app, const std::string& path, const std::string& description) {
  CLI::App* parent = &app;
  std::size_t start = 0;
  for (auto space = path.find(' '); space != std::string::npos; space = path.find(' ', start)) {
    const std::string group = path.substr(start, space - start);
    CLI::App* existing = nullptr;
    for (auto* sub : parent->get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name() == group) existing = sub;
    }
    if (!existing) {
      existing = parent->add_subcommand(group, kGroups.at(group));
      existing->require_subcommand(1);
    }
    parent = existing;
    start = space + 1;
  }
  return *parent->add_subcommand(path.substr(start), description);
}

}  // namespace

int main(int argc, char** argv) {
  // Everything gatehouse creates (database, journals, keys, backups) is for its user alone.
  ::umask(077);
  CLI::App app{"Gatehouse: API tokens, organizations and a metering LLM gateway"};
  app.require_subcommand(1);
  Arguments arguments;
  const SubCommand* chosen = nullptr;
  for (const SubCommand& command : kSubCommands) {
    CLI::App& cli = CommandAt(app, command.path, command.description);
    arguments.common.Attach(cli);
    command.attach(cli, arguments);
    cli.callback([&chosen, &command] { chosen = &command; });
  }
  // `bench seed` is a benchmark tool with options of its own (docs/BENCHMARKS.md).
  std::function<int()> bench;
  gatehouse::AddBenchCommand(app, bench);
  try {
    app.parse(argc, argv);
    if (chosen) return chosen->run(arguments);
    return bench ? bench() : 2;
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const std::exception& error) {
    std::cerr << "gatehouse: " << error.what() << "\n";
    return 1;
  }
}
