#include "api/api_context.h"

#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "core/text.h"

namespace gatehouse {

std::string_view SessionCookieOf(const HttpRequest& request) {
  std::string_view header = request.Header("Cookie");
  while (!header.empty()) {
    const auto end = std::min(header.find(';'), header.size());
    std::string_view pair = Trim(header.substr(0, end));
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && Trim(pair.substr(0, equals)) == kSessionCookie) {
      return Trim(pair.substr(equals + 1));
    }
    header.remove_prefix(std::min(end + 1, header.size()));
  }
  return {};
}

AuditActor ActorOf(const ApiCall& call) {
  AuditActor actor;
  if (call.caller.token) {
    actor.token_id = call.caller.token->id();
    actor.name = call.caller.token->name();
  }
  actor.remote_address = call.request.remote_address;
  return actor;
}

void WriteJson(HttpResponse& response, int status, const boost::json::value& body) {
  response.status = status;
  response.content_type = "application/json";
  response.body = boost::json::serialize(body);
}

void WriteError(HttpResponse& response, const Error& error) {
  const int status = HttpStatusOf(error.code());
  // Provider failures (502, 504) are logged where they happen, with the provider's name.
  if (error.code() == ErrorCode::kInternal) {
    spdlog::error("request failed: {}", error.internal.empty() ? "(no detail)" : error.internal);
  }
  if (error.retry_after_seconds > 0) {
    response.headers.emplace_back("Retry-After", std::to_string(error.retry_after_seconds));
  }
  boost::json::array items;
  for (const auto& item : error.items) {
    items.push_back(
        boost::json::object{{"id", ErrorIdOf(item.code)}, {"description", DescriptionOf(item)}});
  }
  WriteJson(response, status, boost::json::object{{"errors", std::move(items)}});
}

void Respond(HttpResponse& response, const Result<boost::json::value>& result) {
  if (result) {
    WriteJson(response, 200, *result);
  } else {
    WriteError(response, result.error());
  }
}

boost::json::array SuccessMessages(std::string_view text) {
  return boost::json::array{
      boost::json::object{{"id", 0}, {"description", text}, {"type", "Success"}}};
}

}  // namespace gatehouse
