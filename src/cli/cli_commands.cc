#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <stdexcept>

#include "api/render.h"
#include "app/instance.h"
#include "cli/commands.h"
#include "cli/init_output.h"
#include "usage/export_writer.h"

namespace gatehouse {
namespace {

// The operator commands act at the wall-clock time.
const SystemClock kSystemClock;

void PrintJson(const boost::json::value& value) {
  std::cout << boost::json::serialize(value) << std::endl;
}

}  // namespace

std::string Printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    // C0 controls, DEL, and the C1 controls U+0080–U+009F (C2 80 – C2 9F in UTF-8).
    const bool c1 = byte == 0xc2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (byte >= 0x20 && byte != 0x7f && byte != '\\' && !c1) {
      out += text[i];
      continue;
    }
    if (byte == '\\') {
      out += "\\\\";
      continue;
    }
    const auto code = c1 ? static_cast<unsigned char>(text[++i]) : byte;
    out += c1 ? "\\u00" : "\\x";
    out += kHex[code >> 4];
    out += kHex[code & 0xf];
  }
  return out;
}

namespace {

Organization ResolveOrganization(Instance& instance, const std::string& organization) {
  if (!organization.empty()) return OrThrow(instance.organizations().Resolve(organization));
  auto page = OrThrow(instance.organizations().List(OrganizationQuery{{}, false, 0, 2}));
  if (page.count == 1) return page.organizations.front();
  auto fallback = instance.organizations().Resolve(std::string(kDefaultOrganizationName));
  if (!fallback) throw std::runtime_error("several organizations exist: name one with --org");
  return *fallback;
}

Project ResolveProject(Instance& instance, const std::string& organization_id,
                       const std::string& project) {
  auto found = OrThrow(instance.store().FindProject(organization_id, project));
  if (!found) found = OrThrow(instance.store().FindProjectByName(organization_id, project));
  if (!found) throw std::runtime_error("no project '" + project + "' in this organization");
  return *found;
}

void PrintToken(const ApiToken& token, const std::string& secret, bool json) {
  if (json) {
    boost::json::object out = TokenJson(token);
    if (!secret.empty()) out["secret"] = secret;
    PrintJson(out);
    return;
  }
  std::cout << token.id << "\t" << Printable(token.name) << "\t" << ToString(token.scope) << "\t"
            << ToString(token.status) << "\t" << Printable(token.project_name) << "\n";
  if (!secret.empty()) std::cout << "secret (shown once): " << secret << "\n";
}

}  // namespace

std::string CreatedOrganizationJson(const CreatedOrganization& created) {
  return boost::json::serialize(
      boost::json::object{{"organizationId", created.organization.id},
                          {"organizationName", created.organization.name},
                          {"apiToken", boost::json::object{{"id", created.token.token.id},
                                                           {"name", created.token.token.name},
                                                           {"secret", created.token.secret}}}});
}

int RunInit(const ServerConfig& config, bool json, bool force) {
  Instance instance(config, kSystemClock, force ? DataDirUse::kForceInit : DataDirUse::kInit);
  const auto initialized = instance.Initialize();
  if (!initialized) {
    std::cout << "completed an interrupted initialization of " << config.data_dir << "\n";
    return 0;
  }
  const CreatedOrganization& created = *initialized;
  if (json) {
    std::cout << CreatedOrganizationJson(created) << std::endl;
  } else {
    std::cout << "Initialized " << config.data_dir << "\n"
              << "organization " << Printable(created.organization.name) << " ("
              << created.organization.id << ")\n"
              << "organization token " << Printable(created.token.token.name)
              << " (shown once): " << created.token.secret << "\n"
              << "system administrator secret written to " << config.AdminTokenFile() << "\n";
  }
  return 0;
}

int RunMigrate(const ServerConfig& config) {
  Instance instance(config, kSystemClock,
                    DataDirUse::kExisting);  // opening the store applies pending migrations
  std::cout << "schema up to date\n";
  return 0;
}

int RunBackup(const ServerConfig& config, const std::string& destination) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  SqliteStore* sqlite = instance.sqlite_store();
  if (!sqlite) {
    throw std::runtime_error(
        "gatehouse backup copies a SQLite store; back up PostgreSQL with its own tools "
        "(pg_dump, pg_basebackup; docs/deploy.md)");
  }
  OrThrow(sqlite->Backup(destination));
  std::cout << "backup written to " << destination << "\n";
  return 0;
}

int RunOrgCreate(const ServerConfig& config, const std::string& name, const std::string& email,
                 bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const auto created = OrThrow(instance.organizations().Create(name, email));
  if (json) {
    boost::json::object token = TokenJson(created.token.token);
    token["secret"] = created.token.secret;
    PrintJson(boost::json::object{{"organizationId", created.organization.id},
                                  {"organizationName", created.organization.name},
                                  {"apiToken", std::move(token)}});
  } else {
    std::cout << created.organization.id << "\t" << Printable(created.organization.name) << "\n"
              << "organization token (shown once): " << created.token.secret << "\n";
  }
  return 0;
}

int RunOrgList(const ServerConfig& config, bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const auto page = OrThrow(instance.organizations().List(OrganizationQuery{}));
  boost::json::array organizations;
  for (const auto& organization : page.organizations) {
    if (!json) std::cout << organization.id << "\t" << Printable(organization.name) << "\n";
    organizations.push_back(boost::json::object{{"organizationId", organization.id},
                                                {"organizationName", organization.name}});
  }
  if (json) PrintJson(boost::json::object{{"organizations", std::move(organizations)}});
  return 0;
}

int RunProjectList(const ServerConfig& config, const std::string& organization, bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const Organization owner = ResolveOrganization(instance, organization);
  const auto projects = OrThrow(instance.projects().List(owner.id, true));
  boost::json::array out;
  for (const auto& project : projects) {
    if (!json) std::cout << project.id << "\t" << Printable(project.name) << "\n";
    out.push_back(ProjectJson(project));
  }
  if (json) PrintJson(boost::json::object{{"projects", std::move(out)}});
  return 0;
}

int RunProjectCreate(const ServerConfig& config, const std::string& organization,
                     const std::string& name, const std::string& description, bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const Organization owner = ResolveOrganization(instance, organization);
  const auto created =
      OrThrow(instance.projects().Create(owner.id, ProjectSpec{name, description, ""}));
  if (json) {
    boost::json::object out = ProjectJson(created.project);
    boost::json::object token = TokenJson(created.default_token.token);
    token["secret"] = created.default_token.secret;
    out["tokens"] = boost::json::array{std::move(token)};
    PrintJson(out);
  } else {
    std::cout << created.project.id << "\t" << Printable(created.project.name) << "\n";
    PrintToken(created.default_token.token, created.default_token.secret, false);
  }
  return 0;
}

int RunTokenList(const ServerConfig& config, const std::string& organization,
                 const std::string& project, bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const Organization owner = ResolveOrganization(instance, organization);
  TokenQuery query;
  query.organization_id = owner.id;
  query.statuses = {TokenStatus::kActive, TokenStatus::kBlocked};
  if (!project.empty()) query.project_id = ResolveProject(instance, owner.id, project).id;
  const auto page = OrThrow(instance.tokens().Search(query));
  boost::json::array tokens;
  for (const auto& token : page.tokens) {
    if (!json) PrintToken(token, {}, false);
    tokens.push_back(TokenJson(token));
  }
  if (json) PrintJson(boost::json::object{{"tokens", std::move(tokens)}});
  return 0;
}

int RunTokenCreate(const ServerConfig& config, const std::string& organization,
                   const std::string& project, const std::string& name,
                   const std::string& description, bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const Organization owner = ResolveOrganization(instance, organization);
  TokenSpec spec;
  spec.scope = TokenScope::kOrganization;
  spec.organization_id = owner.id;
  spec.name = name;
  spec.description = description;
  if (!project.empty()) {
    const Project target = ResolveProject(instance, owner.id, project);
    spec.scope = TokenScope::kProject;
    spec.project_id = target.id;
    spec.project_name = target.name;
  }
  const auto issued = OrThrow(instance.tokens().Create(spec));
  PrintToken(issued.token, issued.secret, json);
  return 0;
}

int RunTokenChange(const ServerConfig& config, const std::string& action,
                   const std::string& token_id, bool json) {
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const auto organizations = OrThrow(instance.organizations().List(OrganizationQuery{}));
  for (const auto& organization : organizations.organizations) {
    if (!OrThrow(instance.store().FindToken(organization.id, token_id))) continue;
    ApiToken token;
    if (action == "revoke") {
      token = OrThrow(instance.tokens().Revoke(organization.id, token_id));
    } else {
      TokenChange change;
      change.status = action == "block" ? TokenStatus::kBlocked : TokenStatus::kActive;
      token = OrThrow(instance.tokens().Update(organization.id, token_id, change));
    }
    PrintToken(token, {}, json);
    return 0;
  }
  throw std::runtime_error("no token with id " + token_id);
}

int RunExport(const ServerConfig& config, const std::string& organization,
              const std::string& project, const std::string& format) {
  const auto parsed = ParseExportFormat(format);
  if (!parsed) throw std::runtime_error("format must be json, csv or ndjson");
  Instance instance(config, kSystemClock, DataDirUse::kExisting);
  const Organization owner = ResolveOrganization(instance, organization);
  RequestQuery query;
  query.organization_id = owner.id;
  if (!project.empty()) query.project_id = ResolveProject(instance, owner.id, project).id;
  ExportStream stream(OrThrow(instance.store().OpenRequestCursor(query)), *parsed);
  std::string chunk;
  for (auto piece = BodySource::Piece::kMore; piece == BodySource::Piece::kMore;) {
    piece = stream.Next(chunk);
    std::cout.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (piece == BodySource::Piece::kBroken) throw std::runtime_error("export failed");
  }
  if (*parsed == ExportFormat::kJson) std::cout << "\n";
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace gatehouse
