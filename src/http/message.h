#ifndef GATEHOUSE_HTTP_MESSAGE_H_
#define GATEHOUSE_HTTP_MESSAGE_H_

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse {

// One parsed HTTP request, free of any HTTP library type so that handlers compile fast.
struct HttpRequest {
  std::string method;  // upper case as sent, e.g. "GET"
  std::string path;    // percent-decoded, without the query
  std::string query;   // raw text after '?', not decoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (case-insensitive); empty when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // beyond type and length
  std::string body;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

// Decodes %XX escapes (and '+' as space when `plus_is_space`); a malformed escape is kept
// literally.
std::string PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_MESSAGE_H_
