#include "store/sqlite/rows.h"

namespace gatehouse::sqlite {

const char* const kTokenFields =
    "t.id, t.organization_id, COALESCE(t.project_id, ''), t.project_name, t.scope, "
    "t.name, t.description, t.status, t.created_at, t.updated_at, t.last_used_at, "
    "t.expires_at, t.secret_prefix, t.secret_hash, t.sealed_secret, t.previous_hash, "
    "t.previous_valid_until, t.rate_limit_per_minute, COALESCE(t.permissions, ''), ''";

const std::string kTokenColumns =
    std::string(kTokenFields, std::string_view(kTokenFields).size() - 2) +
    "COALESCE(o.name, '') FROM api_tokens t LEFT JOIN organizations o ON o.id = t.organization_id";

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
  token.rate_limit_per_minute = row.OptionalInt(17);
  token.permissions = PermissionsFromJson(row.Text(18));
  token.organization_name = row.Text(19);
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

namespace {

// Each sort key's index and the ORDER BY that walks it: the key, then the index's remaining
// columns and the rowid, so that ties have one stable order and no sort step is needed.
constexpr TokenOrder kTokenOrders[] = {
    {TokenOrderKey::kName,
     "api_tokens_by_name",
     {"t.name COLLATE NOCASE", "t.status", "t.scope", "t.project_name", "t.rowid"}},
    {TokenOrderKey::kDescription,
     "api_tokens_by_description",
     {"t.description COLLATE NOCASE", "t.status", "t.scope", "t.project_name", "t.rowid"}},
    {TokenOrderKey::kStatus,
     "api_tokens_by_status",
     {"t.status", "t.name COLLATE NOCASE", "t.scope", "t.project_name", "t.rowid"}},
    {TokenOrderKey::kProjectName,
     "api_tokens_by_project_name",
     {"t.project_name COLLATE NOCASE", "t.status", "t.scope", "t.rowid"}},
    {TokenOrderKey::kTimestamp,
     "api_tokens_by_created",
     {"t.created_at", "t.status", "t.scope", "t.project_name", "t.rowid"}},
    {TokenOrderKey::kLastUsedAt,
     "api_tokens_by_last_used",
     {"t.last_used_at", "t.status", "t.scope", "t.project_name", "t.rowid"}},
};

}  // namespace

const TokenOrder& OrderOf(TokenOrderKey key) {
  for (const auto& order : kTokenOrders) {
    if (order.key == key) return order;
  }
  return kTokenOrders[0];
}

std::string OrderByClause(const TokenOrder& order, bool descending) {
  std::string clause = " ORDER BY ";
  const char* direction = descending ? " DESC" : " ASC";
  bool first = true;
  for (const char* term : order.terms) {
    if (!term) break;
    if (!first) clause += ", ";
    clause += term;
    clause += direction;
    first = false;
  }
  return clause;
}

}  // namespace gatehouse::sqlite
