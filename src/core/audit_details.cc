#include "core/audit_details.h"

#include <boost/json/serialize.hpp>

namespace gatehouse {

void AuditDetails::Change(std::string_view field, const boost::json::value& from,
                          const boost::json::value& to) {
  if (from == to) return;
  fields_[field] = boost::json::object{{"from", from}, {"to", to}};
}

void AuditDetails::Set(std::string_view field, const boost::json::value& to) {
  fields_[field] = boost::json::object{{"from", nullptr}, {"to", to}};
}

void AuditDetails::RedactedChange(std::string_view field, std::string_view shown_from,
                                  std::string_view shown_to) {
  fields_[field] = boost::json::object{{"from", shown_from}, {"to", shown_to}};
}

void AuditDetails::Note(std::string_view field, const boost::json::value& value) {
  fields_[field] = value;
}

std::string AuditDetails::Json() const { return boost::json::serialize(fields_); }

}  // namespace gatehouse
