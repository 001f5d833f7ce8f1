#include "http/wire_format.h"

#include <boost/beast/http/status.hpp>
#include <cstdio>

namespace gatehouse {

namespace bhttp = boost::beast::http;

void AppendStatusAndHeaders(std::string& out, const HttpResponse& response) {
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  const auto reason = bhttp::obsolete_reason(bhttp::int_to_status(response.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  if (!response.content_type.empty()) {
    out += "Content-Type: ";
    out += response.content_type;
    out += "\r\n";
  }
  for (const auto& [name, value] : response.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

void AppendResponse(std::string& out, const HttpResponse& response, bool keep_alive, int version,
                    bool head) {
  AppendStatusAndHeaders(out, response);
  out += "Content-Length: ";
  out += std::to_string(response.body.size());
  if (!keep_alive) {
    out += "\r\nConnection: close\r\n\r\n";
  } else if (version < 11) {
    out += "\r\nConnection: keep-alive\r\n\r\n";
  } else {
    out += "\r\n\r\n";
  }
  if (!head) out += response.body;
}

void AppendChunkHead(std::string& out, std::size_t size) {
  if (size == 0) return;
  char line[24];
  const int length = std::snprintf(line, sizeof line, "%zx\r\n", size);
  out.append(line, static_cast<std::size_t>(length));
}

void AppendChunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  AppendChunkHead(out, data.size());
  out += data;
  out += "\r\n";
}

}  // namespace gatehouse
