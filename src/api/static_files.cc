#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/routes.h"

namespace gatehouse {
namespace {

std::string_view ContentTypeOf(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (path.ends_with(extension)) return type;
  }
  return "application/octet-stream";
}

// The console runs only its own scripts and styles (no inline script or style, no eval), talks
// only to this server, and may not be framed by another site.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

}  // namespace

void AddConsoleSecurityHeaders(HttpResponse& response) {
  response.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
}

bool ServeStaticFile(const std::string& web_dir, const std::string& path, HttpResponse& response) {
  if (web_dir.empty() || path.empty() || path.front() != '/' ||
      path.find("..") != std::string::npos || path.find('\0') != std::string::npos) {
    return false;
  }
  const std::string relative = path == "/" ? "/index.html" : path;
  const std::string full_path = web_dir + relative;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(full_path, ec)) return false;
  std::ifstream file(full_path, std::ios::binary);
  if (!file) return false;
  std::ostringstream content;
  content << file.rdbuf();
  if (!file.good() && !file.eof()) return false;
  response.status = 200;
  response.content_type = ContentTypeOf(relative);
  response.body = std::move(content).str();
  // Vite fingerprints asset names, so they may be cached for good; the page itself may not.
  response.headers.emplace_back("Cache-Control", relative.starts_with("/assets/")
                                                     ? "public, max-age=31536000, immutable"
                                                     : "no-cache");
  AddConsoleSecurityHeaders(response);
  return true;
}

}  // namespace gatehouse
