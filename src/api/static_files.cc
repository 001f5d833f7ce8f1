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

}  // namespace

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
  response.content_type = std::string(ContentTypeOf(relative));
  response.body = std::move(content).str();
  // Vite fingerprints asset names, so they may be cached for good; the page itself may not.
  response.headers.emplace_back("Cache-Control", relative.starts_with("/assets/")
                                                     ? "public, max-age=31536000, immutable"
                                                     : "no-cache");
  return true;
}

}  // namespace gatehouse
