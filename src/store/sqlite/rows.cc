#include "store/sqlite/rows.h"

namespace gatehouse::sqlite {

const char* const kTokenColumns =
    "t.id, t.organization_id, COALESCE(t.project_id, ''), COALESCE(p.name, ''), t.scope, "
    "t.name, t.description, t.status, t.created_at, t.updated_at, t.last_used_at, "
    "t.expires_at, t.secret_prefix, t.secret_hash, t.sealed_secret, t.previous_hash, "
    "t.previous_valid_until, COALESCE(o.name, '') FROM api_tokens t "
    "LEFT JOIN projects p ON p.id = t.project_id "
    "LEFT JOIN organizations o ON o.id = t.organization_id";

ApiToken ReadToken(const Statement& row) {
  ApiToken token;
  token.id = row.Text(0);
  token.organization_id = row.Text(1);
  token.project_id = row.Text(2);
  token.project_name = row.Text(3);
  token.scope = static_cast<TokenScope>(row.Int(4));
  token.name = row.Text(5);
  token.description = row.Text(6);
  token.status = static_cast<TokenStatus>(row.Int(7));
  token.created_at = row.Int(8);
  token.updated_at = row.Int(9);
  token.last_used_at = row.OptionalInt(10);
  token.expires_at = row.OptionalInt(11);
  token.secret_prefix = row.Text(12);
  token.organization_name = row.Text(17);
  return token;
}

TokenCredential ReadCredential(const Statement& row) {
  return TokenCredential{row.Blob(13), row.OptionalBlob(14), row.OptionalBlob(15),
                         row.OptionalInt(16)};
}

const char* const kProjectColumns =
    "p.id, p.organization_id, o.name, p.name, p.description, p.admin_email, p.active, "
    "p.created_at, p.updated_at FROM projects p JOIN organizations o ON o.id = p.organization_id";

Project ReadProject(const Statement& row) {
  return Project{row.Text(0), row.Text(1),     row.Text(2), row.Text(3), row.Text(4),
                 row.Text(5), row.Int(6) != 0, row.Int(7),  row.Int(8)};
}

Organization ReadOrganization(const Statement& row) {
  return Organization{row.Text(0), row.Text(1), row.Text(2), row.Int(3)};
}

std::string LikeContains(std::string_view text) {
  std::string pattern = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

std::string TrigramPhrase(std::string_view text) {
  std::string phrase = "\"";
  for (char c : text) {
    if (c == '"') phrase.push_back('"');
    phrase.push_back(c);
  }
  phrase.push_back('"');
  return phrase;
}

namespace {

struct OrderColumnRow {
  TokenOrderKey key;
  const char* column;
};

constexpr OrderColumnRow kOrderColumns[] = {
    {TokenOrderKey::kName, "t.name COLLATE NOCASE"},
    {TokenOrderKey::kDescription, "t.description COLLATE NOCASE"},
    {TokenOrderKey::kStatus, "t.status"},
    {TokenOrderKey::kProjectName, "p.name COLLATE NOCASE"},
    {TokenOrderKey::kTimestamp, "t.created_at"},
    {TokenOrderKey::kLastUsedAt, "t.last_used_at"},
};

}  // namespace

const char* OrderColumn(TokenOrderKey key) {
  for (const auto& row : kOrderColumns) {
    if (row.key == key) return row.column;
  }
  return kOrderColumns[0].column;
}

}  // namespace gatehouse::sqlite
