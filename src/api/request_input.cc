#include "api/request_input.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <charconv>
#include <cmath>

#include "core/text.h"

namespace gatehouse {

Result<boost::json::object> ParseJsonBody(const HttpRequest& request) {
  if (Trim(request.body).empty()) return boost::json::object();
  const std::string type = ToLower(request.Header("Content-Type"));
  if (!type.empty() && type.find("application/json") == std::string::npos &&
      type.find("+json") == std::string::npos) {
    return Fail(ErrorCode::kUnsupportedMediaType);
  }
  if (!IsValidUtf8(request.body)) return Fail(ErrorCode::kBadInputText, {}, "body is not UTF-8");
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(request.body, ec);
  if (ec) return Fail(ErrorCode::kBadInputText, {}, "body is not JSON: " + ec.message());
  if (!value.is_object()) return Fail(ErrorCode::kBadInputText, {}, "body is not an object");
  return std::move(value.as_object());
}

const boost::json::value* BodyReader::Find(std::string_view key) const {
  for (const auto& entry : body_) {
    if (EqualsIgnoreCase(entry.key(), key)) return &entry.value();
  }
  return nullptr;
}

void SpellKeys(boost::json::object& object, std::initializer_list<std::string_view> names) {
  auto respelled = [&names](std::string_view key) -> std::optional<std::string_view> {
    for (const std::string_view name : names) {
      if (key.size() == name.size() && key != name && EqualsIgnoreCase(key, name)) return name;
    }
    return std::nullopt;
  };
  if (std::none_of(object.begin(), object.end(),
                   [&](const auto& entry) { return respelled(entry.key()).has_value(); })) {
    return;
  }
  boost::json::object spelled(object.storage());
  spelled.reserve(object.size());
  for (auto& entry : object) {
    const auto name = respelled(entry.key());
    if (!name) {
      spelled.emplace(entry.key(), std::move(entry.value()));
    } else if (!object.contains(*name) && !spelled.contains(*name)) {
      spelled.emplace(*name, std::move(entry.value()));
    }
  }
  object = std::move(spelled);
}

void BodyReader::Add(ErrorCode code, std::string_view field) {
  if (error_) {
    error_->items.push_back({code, std::string(field)});
  } else {
    error_.emplace(code, std::string(field));
  }
}

std::optional<std::string> BodyReader::Text(std::string_view key, std::size_t max_chars,
                                            bool required) {
  const auto* value = Find(key);
  if (!value || value->is_null()) {
    if (required) Add(ErrorCode::kRequired, key);
    return std::nullopt;
  }
  if (!value->is_string()) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  const std::string_view text = Trim(std::string_view(value->as_string()));
  if (required && text.empty()) {
    Add(ErrorCode::kRequired, key);
    return std::nullopt;
  }
  if (CodePointCount(text) > max_chars) {
    Add(ErrorCode::kOutOfRange, key);
    return std::nullopt;
  }
  return std::string(text);
}

std::optional<bool> BodyReader::Bool(std::string_view key) {
  const auto* value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  if (!value->is_bool()) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  return value->as_bool();
}

std::optional<std::int64_t> BodyReader::Integer(std::string_view key, std::int64_t min,
                                                std::int64_t max) {
  const auto* value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  std::int64_t number;
  if (value->is_int64()) {
    number = value->as_int64();
  } else if (value->is_uint64()) {  // above INT64_MAX
    Add(ErrorCode::kOutOfRange, key);
    return std::nullopt;
  } else if (value->is_double() && std::trunc(value->as_double()) == value->as_double()) {
    const double whole = value->as_double();
    if (whole < static_cast<double>(min) || whole > static_cast<double>(max)) {
      Add(ErrorCode::kOutOfRange, key);
      return std::nullopt;
    }
    number = static_cast<std::int64_t>(whole);
  } else {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  if (number < min || number > max) {
    Add(ErrorCode::kOutOfRange, key);
    return std::nullopt;
  }
  return number;
}

std::optional<double> BodyReader::Number(std::string_view key, double min, double max,
                                         bool required) {
  const auto* value = Find(key);
  if (!value || value->is_null()) {
    if (required) Add(ErrorCode::kRequired, key);
    return std::nullopt;
  }
  if (!value->is_number()) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  const double number = value->to_number<double>();
  if (number < min || number > max) {
    Add(ErrorCode::kOutOfRange, key);
    return std::nullopt;
  }
  return number;
}

const boost::json::object* BodyReader::Object(std::string_view key) {
  const auto* value = Find(key);
  if (!value || value->is_null()) return nullptr;
  if (!value->is_object()) {
    Add(ErrorCode::kPattern, key);
    return nullptr;
  }
  return &value->as_object();
}

void BodyReader::Merge(const BodyReader& other) {
  if (!other.error_) return;
  for (const auto& item : other.error_->items) Add(item.code, item.field);
}

std::optional<std::string> BodyReader::Email(std::string_view key) {
  auto text = Text(key, kMaxEmailLength, false);
  if (text && !text->empty() && !LooksLikeEmail(*text)) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  return text;
}

std::optional<TokenStatus> BodyReader::Status(std::string_view key) {
  const auto* value = Find(key);
  if (!value || value->is_null()) return std::nullopt;
  std::optional<TokenStatus> status;
  if (value->is_string()) status = ParseTokenStatus(std::string_view(value->as_string()));
  if (!status || *status == TokenStatus::kRevoked) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  return status;
}

std::optional<std::optional<std::int64_t>> BodyReader::OptionalInteger(std::string_view key,
                                                                       std::int64_t min,
                                                                       std::int64_t max) {
  const auto* value = Find(key);
  if (!value) return std::nullopt;
  if (value->is_null()) return std::optional<std::int64_t>();
  auto number = Integer(key, min, max);
  if (!number) return std::nullopt;
  return std::optional<std::int64_t>(*number);
}

std::optional<std::optional<std::vector<std::string>>> BodyReader::StringList(std::string_view key,
                                                                              ListCheck check) {
  const auto* value = Find(key);
  if (!value) return std::nullopt;
  if (value->is_null()) return std::optional<std::vector<std::string>>();
  if (!value->is_array()) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  std::vector<std::string> entries;
  entries.reserve(value->as_array().size());
  for (const auto& entry : value->as_array()) {
    if (!entry.is_string()) {
      Add(ErrorCode::kPattern, key);
      return std::nullopt;
    }
    entries.emplace_back(entry.as_string());
  }
  auto checked = check(std::move(entries));
  if (!checked) {
    for (const auto& item : checked.error().items) Add(item.code, item.field);
    return std::nullopt;
  }
  return std::optional<std::vector<std::string>>(std::move(*checked));
}

std::optional<std::optional<TimeMs>> BodyReader::Timestamp(std::string_view key) {
  const auto* value = Find(key);
  if (!value) return std::nullopt;
  if (value->is_null()) return std::optional<TimeMs>();
  std::optional<TimeMs> parsed;
  if (value->is_string()) parsed = ParseTimestamp(std::string_view(value->as_string()));
  if (!parsed) {
    Add(ErrorCode::kPattern, key);
    return std::nullopt;
  }
  return parsed;
}

Status BodyReader::Finish() const {
  if (error_) return std::unexpected(*error_);
  return {};
}

QueryParams::QueryParams(std::string_view query) {
  while (!query.empty()) {
    const auto end = std::min(query.find('&'), query.size());
    const std::string_view pair = query.substr(0, end);
    if (!pair.empty()) {
      const auto equals = pair.find('=');
      std::string name = ToLower(PercentDecode(pair.substr(0, equals), true));
      std::string value =
          equals == std::string_view::npos ? "" : PercentDecode(pair.substr(equals + 1), true);
      params_.emplace_back(std::move(name), std::move(value));
    }
    query.remove_prefix(std::min(end + 1, query.size()));
  }
}

std::optional<std::string> QueryParams::Get(std::string_view name) const {
  const std::string lowered = ToLower(name);
  for (const auto& [key, value] : params_) {
    if (key == lowered) return value;
  }
  return std::nullopt;
}

Result<std::int64_t> QueryParams::Integer(std::string_view name, std::int64_t fallback,
                                          std::int64_t min, std::int64_t max) const {
  const auto text = Get(name);
  if (!text || text->empty()) return fallback;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec == std::errc::result_out_of_range) return Fail(ErrorCode::kOutOfRange, std::string(name));
  if (ec != std::errc() || end != text->data() + text->size()) {
    return Fail(ErrorCode::kPattern, std::string(name));
  }
  if (value < min || value > max) return Fail(ErrorCode::kOutOfRange, std::string(name));
  return value;
}

Result<std::size_t> QueryParams::Choice(std::string_view name,
                                        const std::vector<std::string_view>& choices,
                                        std::size_t fallback_index) const {
  const auto text = Get(name);
  if (!text || text->empty()) return fallback_index;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (EqualsIgnoreCase(*text, choices[i])) return i;
  }
  return Fail(ErrorCode::kPattern, std::string(name));
}

namespace {

bool IsCleanText(std::string_view text) {
  if (!IsValidUtf8(text)) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) return false;
    // U+0080–U+009F are C2 80 – C2 9F in UTF-8.
    if (byte == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      return false;
    }
  }
  return true;
}

}  // namespace

Status CheckQueryText(std::string_view raw_query) {
  if (raw_query.find('%') == std::string_view::npos && IsCleanText(raw_query)) return {};
  std::string_view rest = raw_query;
  while (!rest.empty()) {
    const auto end = std::min(rest.find('&'), rest.size());
    const std::string_view pair = rest.substr(0, end);
    const auto equals = pair.find('=');
    const std::string name = PercentDecode(pair.substr(0, equals), true);
    const std::string value =
        equals == std::string_view::npos ? "" : PercentDecode(pair.substr(equals + 1), true);
    if (!IsCleanText(name) || !IsCleanText(value)) {
      // The field named in the answer must itself be printable.
      return Fail(ErrorCode::kPattern, IsCleanText(name) ? name : "query",
                  "control character or invalid UTF-8 in a query parameter");
    }
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return {};
}

Result<PageRequest> ReadPage(const QueryParams& params) {
  auto start_page = params.Integer("startPage", 1, 1, INT32_MAX);
  if (!start_page) return std::unexpected(start_page.error());
  auto page_size = params.Integer("pageSize", 20, 1, kMaxPageSize);
  if (!page_size) return std::unexpected(page_size.error());
  return PageRequest{*start_page, *page_size};
}

}  // namespace gatehouse
