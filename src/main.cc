#include <CLI/CLI.hpp>
#include <iostream>
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
  bool json = false;

  void Attach(CLI::App& command) {
    command.add_option("--config", config_file, "TOML configuration file");
    command.add_option("--data-dir", data_dir, "data directory (default ./data)");
    command.add_option("--master-key-file", master_key_file, "master key file");
    command.add_option("--admin-token-file", admin_token_file, "system administrator secret");
    command.add_option("--reveal", reveal, "sealed | never")
        ->check(CLI::IsMember({"sealed", "never"}));
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
    return config;
  }
};

ServerConfig Finish(ServerConfig config) {
  gatehouse::ApplyEnvironment(config);
  gatehouse::ValidateConfig(config);
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Gatehouse: API tokens, organizations and a metering LLM gateway"};
  app.require_subcommand(1);
  CommonOptions common;
  std::function<int()> run;

  auto* serve = app.add_subcommand("serve", "serve the HTTP API and console");
  common.Attach(*serve);
  std::optional<std::string> listen, web_dir, log_content;
  std::optional<std::int64_t> max_body;
  int threads = 0;
  serve->add_option("--listen", listen, "HOST:PORT (default 127.0.0.1:8080)");
  serve->add_option("--max-body", max_body, "request body limit in bytes");
  serve->add_option("--log-content", log_content, "true | false")
      ->check(CLI::IsMember({"true", "false"}));
  serve->add_option("--web-dir", web_dir, "directory of the built console");
  serve->add_option("--threads", threads, "event loop threads (default: one per core)");
  serve->callback([&] {
    run = [&] {
      ServerConfig config = common.Resolve();
      if (listen) config.listen = *listen;
      if (max_body) config.max_body = *max_body;
      if (log_content) config.log_content = *log_content == "true";
      if (web_dir) config.web_dir = *web_dir;
      return gatehouse::RunServe(Finish(config), threads);
    };
  });

  auto* init = app.add_subcommand("init", "create the Default organization and credentials");
  common.Attach(*init);
  init->callback(
      [&] { run = [&] { return gatehouse::RunInit(Finish(common.Resolve()), common.json); }; });

  auto* migrate = app.add_subcommand("migrate", "apply pending schema migrations and exit");
  common.Attach(*migrate);
  migrate->callback([&] { run = [&] { return gatehouse::RunMigrate(Finish(common.Resolve())); }; });

  std::string destination;
  auto* backup = app.add_subcommand("backup", "copy the live database to FILE");
  common.Attach(*backup);
  backup->add_option("file", destination, "destination file")->required();
  backup->callback(
      [&] { run = [&] { return gatehouse::RunBackup(Finish(common.Resolve()), destination); }; });

  std::string name, description, email, organization, project, token_id;
  auto* org = app.add_subcommand("org", "organizations");
  org->require_subcommand(1);
  auto* org_create = org->add_subcommand("create", "create an organization");
  common.Attach(*org_create);
  org_create->add_option("--name", name, "organization name")->required();
  org_create->add_option("--email", email, "administrator e-mail");
  org_create->callback([&] {
    run = [&] {
      return gatehouse::RunOrgCreate(Finish(common.Resolve()), name, email, common.json);
    };
  });
  auto* org_list = org->add_subcommand("list", "list organizations");
  common.Attach(*org_list);
  org_list->callback(
      [&] { run = [&] { return gatehouse::RunOrgList(Finish(common.Resolve()), common.json); }; });

  auto* project_command = app.add_subcommand("project", "projects");
  project_command->require_subcommand(1);
  auto* project_list = project_command->add_subcommand("list", "list projects");
  common.Attach(*project_list);
  project_list->add_option("--org", organization, "organization id or name");
  project_list->callback([&] {
    run = [&] {
      return gatehouse::RunProjectList(Finish(common.Resolve()), organization, common.json);
    };
  });
  auto* project_create = project_command->add_subcommand("create", "create a project");
  common.Attach(*project_create);
  project_create->add_option("--org", organization, "organization id or name");
  project_create->add_option("--name", name, "project name")->required();
  project_create->add_option("--description", description, "description");
  project_create->callback([&] {
    run = [&] {
      return gatehouse::RunProjectCreate(Finish(common.Resolve()), organization, name, description,
                                         common.json);
    };
  });

  auto* token = app.add_subcommand("token", "API tokens");
  token->require_subcommand(1);
  auto* token_list = token->add_subcommand("list", "list tokens");
  common.Attach(*token_list);
  token_list->add_option("--org", organization, "organization id or name");
  token_list->add_option("--project", project, "project id or name");
  token_list->callback([&] {
    run = [&] {
      return gatehouse::RunTokenList(Finish(common.Resolve()), organization, project, common.json);
    };
  });
  auto* token_create = token->add_subcommand("create", "create a token");
  common.Attach(*token_create);
  token_create->add_option("--org", organization, "organization id or name");
  token_create->add_option("--project", project, "project id or name (else organization scope)");
  token_create->add_option("--name", name, "token name")->required();
  token_create->add_option("--description", description, "description");
  token_create->callback([&] {
    run = [&] {
      return gatehouse::RunTokenCreate(Finish(common.Resolve()), organization, project, name,
                                       description, common.json);
    };
  });
  for (const char* action : {"block", "unblock", "revoke"}) {
    auto* change = token->add_subcommand(action, std::string(action) + " a token");
    common.Attach(*change);
    change->add_option("id", token_id, "token id")->required();
    change->callback([&, action] {
      run = [&, action] {
        return gatehouse::RunTokenChange(Finish(common.Resolve()), action, token_id, common.json);
      };
    });
  }

  std::string export_format = "json";
  auto* export_command = app.add_subcommand("export", "write the request export to stdout");
  common.Attach(*export_command);
  export_command->add_option("--org", organization, "organization id or name");
  export_command->add_option("--project", project, "project id or name");
  export_command->add_option("--format", export_format, "json | csv | ndjson");
  export_command->callback([&] {
    run = [&] {
      return gatehouse::RunExport(Finish(common.Resolve()), organization, project, export_format);
    };
  });

  gatehouse::AddBenchCommand(app, run);

  try {
    app.parse(argc, argv);
    return run ? run() : 2;
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const std::exception& error) {
    std::cerr << "gatehouse: " << error.what() << "\n";
    return 1;
  }
}
