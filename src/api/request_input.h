#ifndef GATEHOUSE_API_REQUEST_INPUT_H_
#define GATEHOUSE_API_REQUEST_INPUT_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "http/message.h"

namespace gatehouse {

// Field limits of API.md §4/§6, in Unicode code points after trimming.
inline constexpr std::size_t kMaxNameLength = 100;
inline constexpr std::size_t kMaxDescriptionLength = 1000;
inline constexpr std::size_t kMaxEmailLength = 320;
inline constexpr std::size_t kMaxPromptLength = 100000;

// The body as a JSON object: 415 id 9005 when a body comes with another Content-Type,
// 400 id 20 when it is not valid UTF-8 JSON or not an object. An empty body is an empty object.
Result<boost::json::object> ParseJsonBody(const HttpRequest& request);

// Reads fields of a JSON body with case-insensitive keys, collecting every problem so that one
// answer lists them all. Wrong JSON types are id 11, limits id 8, missing required fields id 9.
class BodyReader {
 public:
  explicit BodyReader(const boost::json::object& body) : body_(body) {}

  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // Trimmed text of 1..max_chars code points (an empty optional text is allowed and kept
  // empty). Absent or null → nullopt (and id 9 when required).
  std::optional<std::string> Text(std::string_view key, std::size_t max_chars, bool required);
  std::optional<bool> Bool(std::string_view key);
  std::optional<std::int64_t> Integer(std::string_view key, std::int64_t min, std::int64_t max);
  // Present: an integer in [min, max], or null (which clears). Absent: nullopt.
  std::optional<std::optional<std::int64_t>> OptionalInteger(std::string_view key, std::int64_t min,
                                                             std::int64_t max);
  std::optional<std::string> Email(std::string_view key);
  // "active" | "blocked" in any case.
  std::optional<TokenStatus> Status(std::string_view key);
  // A number in [min, max]. Absent or null → nullopt (and id 9 when required).
  std::optional<double> Number(std::string_view key, double min, double max, bool required = false);
  // A nested object (read it with another BodyReader); null when absent, id 11 when not an object.
  const boost::json::object* Object(std::string_view key);
  // Present: an array of strings that `check` accepts (its canonical form is returned; its
  // error is collected), or null (which clears). Absent: nullopt. Not an array of strings: id 11.
  using ListCheck = Result<std::vector<std::string>> (*)(std::vector<std::string>);
  std::optional<std::optional<std::vector<std::string>>> StringList(std::string_view key,
                                                                    ListCheck check);
  // Present: a timestamp, or null (which clears). Absent: nullopt.
  std::optional<std::optional<TimeMs>> Timestamp(std::string_view key);

  // The collected errors, if any.
  gatehouse::Status Finish() const;
  // Adds `other`'s errors to this reader's (for nested objects).
  void Merge(const BodyReader& other);
  // Adds a problem found by the caller's own checks.
  void Add(ErrorCode code, std::string_view field);

 private:
  const boost::json::value* Find(std::string_view key) const;

  const boost::json::object& body_;
  std::optional<Error> error_;
};

// Renames the keys of `object` that equal one of `names` but for case to that spelling: for a
// body that is relayed as it came (chat completions, embeddings), whose receiver reads keys in
// one spelling only, while Gatehouse reads them in any (API.md §1). A name there in several
// spellings keeps one: its own spelling, else the first in the body; the others are dropped.
// Leaves `object` untouched (and allocates nothing) when every key is already so spelled.
void SpellKeys(boost::json::object& object, std::initializer_list<std::string_view> names);

// Query parameters with case-insensitive names (API.md §1), values percent-decoded.
class QueryParams {
 public:
  explicit QueryParams(std::string_view query);

  std::optional<std::string> Get(std::string_view name) const;
  // Missing → fallback; not a whole number → id 11; outside [min, max] → id 8.
  Result<std::int64_t> Integer(std::string_view name, std::int64_t fallback, std::int64_t min,
                               std::int64_t max) const;
  // One of `choices` (case-insensitive) → its index; missing → fallback_index; else id 11.
  Result<std::size_t> Choice(std::string_view name, const std::vector<std::string_view>& choices,
                             std::size_t fallback_index) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;  // names lower-cased
};

// Every query parameter name and value, decoded, must be UTF-8 text without control characters
// (U+0000–U+001F, U+007F–U+009F): else 400 id 11 naming the first offending parameter. Cheap
// when the raw query has no '%' and no control byte.
Status CheckQueryText(std::string_view raw_query);

// startPage (from 1) and pageSize (1..500, default 20) of a paged listing.
struct PageRequest {
  std::int64_t start_page = 1;
  std::int64_t page_size = 20;

  std::int64_t offset() const { return (start_page - 1) * page_size; }
  std::int64_t PagesFor(std::int64_t count) const { return (count + page_size - 1) / page_size; }
};

inline constexpr std::int64_t kMaxPageSize = 500;

// Reads startPage and pageSize: not whole numbers → id 11, out of range → id 8.
Result<PageRequest> ReadPage(const QueryParams& params);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_REQUEST_INPUT_H_
