#include "store/postgres/pg_rows.h"

namespace gatehouse::pg {

const char* const kTokenFields =
    "t.id, t.organization_id, COALESCE(t.project_id, ''), t.project_name, t.scope, "
    "t.name, t.description, t.status, t.created_at, t.updated_at, t.last_used_at, "
    "t.expires_at, t.secret_prefix, t.secret_hash, t.sealed_secret, t.previous_hash, "
    "t.previous_valid_until, t.rate_limit_per_minute, COALESCE(t.permissions, ''), "
    "COALESCE(o.name, '')";

const char* const kTokenFrom =
    " FROM api_tokens t LEFT JOIN organizations o ON o.id = t.organization_id";

const std::string kTokenColumns = std::string(kTokenFields) + kTokenFrom;

ApiToken ReadToken(const Rows& rows, int row) {
  ApiToken token;
  token.id = rows.Text(row, 0);
  token.organization_id = rows.Text(row, 1);
  token.project_id = rows.Text(row, 2);
  token.project_name = rows.Text(row, 3);
  token.scope = static_cast<TokenScope>(rows.Int(row, 4));
  token.name = rows.Text(row, 5);
  token.description = rows.Text(row, 6);
  token.status = static_cast<TokenStatus>(rows.Int(row, 7));
  token.created_at = rows.Int(row, 8);
  token.updated_at = rows.Int(row, 9);
  token.last_used_at = rows.OptionalInt(row, 10);
  token.expires_at = rows.OptionalInt(row, 11);
  token.secret_prefix = rows.Text(row, 12);
  token.rate_limit_per_minute = rows.OptionalInt(row, 17);
  token.permissions = PermissionsFromJson(rows.Text(row, 18));
  token.organization_name = rows.Text(row, 19);
  return token;
}

TokenCredential ReadCredential(const Rows& rows, int row) {
  return TokenCredential{rows.Bytes(row, 13), rows.OptionalBytes(row, 14),
                         rows.OptionalBytes(row, 15), rows.OptionalInt(row, 16)};
}

const char* const kProjectColumns =
    "p.id, p.organization_id, o.name, p.name, p.description, p.admin_email, p.active, "
    "p.created_at, p.updated_at FROM projects p JOIN organizations o ON o.id = p.organization_id";

Project ReadProject(const Rows& rows, int row) {
  return Project{rows.Text(row, 0), rows.Text(row, 1), rows.Text(row, 2),
                 rows.Text(row, 3), rows.Text(row, 4), rows.Text(row, 5),
                 rows.Bool(row, 6), rows.Int(row, 7),  rows.Int(row, 8)};
}

const char* const kOrganizationColumns = "id, name, admin_email, created_at FROM organizations";

Organization ReadOrganization(const Rows& rows, int row) {
  return Organization{rows.Text(row, 0), rows.Text(row, 1), rows.Text(row, 2), rows.Int(row, 3)};
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

bool IsUniqueViolation(const Failure& failure, std::string_view constraint) {
  return failure.sqlstate == "23505" && failure.constraint == constraint;
}

}  // namespace gatehouse::pg
