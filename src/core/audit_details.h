#ifndef GATEHOUSE_CORE_AUDIT_DETAILS_H_
#define GATEHOUSE_CORE_AUDIT_DETAILS_H_

#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// The `details` of an audit event (API.md §12): {field: {"from": before, "to": after}} for the
// fields that changed. Never give it a secret.
class AuditDetails {
 public:
  // Adds the field when `from` and `to` differ.
  void Change(std::string_view field, const boost::json::value& from, const boost::json::value& to);
  void Change(std::string_view field, std::string_view from, std::string_view to) {
    Change(field, boost::json::value(boost::json::string(from)),
           boost::json::value(boost::json::string(to)));
  }
  // Adds the field with only a value (creation: from null).
  void Set(std::string_view field, const boost::json::value& to);
  void Set(std::string_view field, std::string_view to) {
    Set(field, boost::json::value(boost::json::string(to)));
  }
  // Adds a change the caller has seen (its values differ) shown as `shown_from` and `shown_to`,
  // redacted forms that may be alike (two webhook URLs of one origin): kept even then.
  void RedactedChange(std::string_view field, std::string_view shown_from,
                      std::string_view shown_to);
  // Adds a note that is no change (e.g. the source of a leaked secret).
  void Note(std::string_view field, const boost::json::value& value);

  bool empty() const { return fields_.empty(); }
  // The JSON object text, stored with the event.
  std::string Json() const;

 private:
  boost::json::object fields_;
};

// An optional value as JSON: null when absent.
template <typename T>
boost::json::value OptionalJson(const std::optional<T>& value) {
  if (!value) return nullptr;
  return boost::json::value(*value);
}

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_AUDIT_DETAILS_H_
