#ifndef GATEHOUSE_CLI_COMMANDS_H_
#define GATEHOUSE_CLI_COMMANDS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace gatehouse {

// The operator commands of the gatehouse binary. Each returns the process exit code and
// prints its result to stdout (JSON with `json`), problems to stderr.

// Serves the API until SIGINT/SIGTERM; initializes an empty data directory first.
int RunServe(const ServerConfig& config, int threads);

// Initializes a really new data directory (or completes an interrupted initialization);
// `force` also starts over beside a master key or admin token whose database is gone.
int RunInit(const ServerConfig& config, bool json, bool force);
int RunMigrate(const ServerConfig& config);
int RunBackup(const ServerConfig& config, const std::string& destination);

int RunOrgCreate(const ServerConfig& config, const std::string& name, const std::string& email,
                 bool json);
int RunOrgList(const ServerConfig& config, bool json);

// `organization` is an id or a name; empty means the only (or the Default) organization.
int RunProjectList(const ServerConfig& config, const std::string& organization, bool json);
int RunProjectCreate(const ServerConfig& config, const std::string& organization,
                     const std::string& name, const std::string& description, bool json);

// `project` is an id or a name; empty means organization tokens (create) or all (list).
int RunTokenList(const ServerConfig& config, const std::string& organization,
                 const std::string& project, bool json);
int RunTokenCreate(const ServerConfig& config, const std::string& organization,
                   const std::string& project, const std::string& name,
                   const std::string& description, bool json);
// `action` is "block", "unblock" or "revoke".
int RunTokenChange(const ServerConfig& config, const std::string& action,
                   const std::string& token_id, bool json);

// Writes the request export (API.md §4) of an organization, or of one project, to stdout.
int RunExport(const ServerConfig& config, const std::string& organization,
              const std::string& project, const std::string& format);

// `text` safe to print on a terminal: control characters (C0, DEL, C1) become \xNN or \u00NN
// escapes and a backslash is doubled, so that a name can neither forge a line or a column nor
// send escape sequences to the operator's terminal.
std::string Printable(std::string_view text);

// Filters of `gatehouse audit` (API.md §12); empty = none.
struct AuditOptions {
  std::string organization;  // id or name; empty = the only (or the Default) organization
  std::string action;
  std::string target_id;
  std::string actor_token_id;
  std::string start_date;
  std::string end_date;
  std::int64_t limit = 100;  // newest events shown; 0 = all
};

// Prints an organization's audit trail, newest first: a table, or JSON with `json`.
int RunAudit(const ServerConfig& config, const AuditOptions& options, bool json);

}  // namespace gatehouse

#endif  // GATEHOUSE_CLI_COMMANDS_H_
