#include "app/instance.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "auth/secret.h"
#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::string_view kInitializedSetting = "initialized_at";

const std::string& EnsureDataDir(const ServerConfig& config) {
  std::filesystem::create_directories(config.data_dir);
  return config.data_dir;
}

void WriteSecretFile(const std::string& path, const std::string& secret) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path);
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fchmod(fd, 0600);
  ::close(fd);
  if (!written) throw std::runtime_error("cannot write " + path);
}

}  // namespace

Instance::Instance(const ServerConfig& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      keyring_(Keyring::Load((EnsureDataDir(config), config.MasterKeyFile()))),
      store_(config.DatabaseFile()),
      tokens_(store_, keyring_, cache_, clock, config.reveal != "never"),
      projects_(store_, tokens_, clock),
      organizations_(store_, tokens_, clock),
      assistants_(store_, clock),
      audit_(store_, cache_, clock) {
  // With reveal=never no sealed copy may survive from a time when revealing was allowed.
  if (config_.reveal == "never") {
    OrThrow(store_.DiscardSealedSecrets(), "discard sealed secrets");
  }
}

std::string Instance::AdminSecretHash() {
  auto hash = OrThrow(store_.GetSetting(std::string(kAdminSecretHashSetting)), "read settings");
  if (!hash) return {};
  auto bytes = FromHex(*hash);
  if (!bytes) throw std::runtime_error("settings hold a malformed administrator hash");
  return *bytes;
}

bool Instance::HasOrganization() {
  return OrThrow(organizations_.List(OrganizationQuery{.limit = 1}), "list organizations").count >
         0;
}

bool Instance::Initialized() {
  return OrThrow(store_.GetSetting(std::string(kInitializedSetting)), "read settings").has_value();
}

std::optional<CreatedOrganization> Instance::Initialize() {
  if (Initialized()) {
    throw std::runtime_error("data directory " + config_.data_dir + " is already initialized");
  }
  if (AdminSecretHash().empty()) {
    const std::string admin_secret = GenerateSecret(SecretKind::kSystemAdmin);
    WriteSecretFile(config_.AdminTokenFile(), admin_secret);
    OrThrow(
        store_.PutSetting(std::string(kAdminSecretHashSetting), ToHex(keyring_.Hash(admin_secret))),
        "store settings");
  }
  std::optional<CreatedOrganization> created;
  if (!HasOrganization()) {
    created = OrThrow(organizations_.Create(std::string(kDefaultOrganizationName), ""),
                      "create the Default organization");
  }
  // Written last: an installation whose organizations were all deleted later stays initialized.
  OrThrow(store_.PutSetting(std::string(kInitializedSetting), FormatTimestamp(clock_.Now())),
          "store settings");
  return created;
}

}  // namespace gatehouse
