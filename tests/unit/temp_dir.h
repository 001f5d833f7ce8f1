#ifndef GATEHOUSE_TESTS_UNIT_TEMP_DIR_H_
#define GATEHOUSE_TESTS_UNIT_TEMP_DIR_H_

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace gatehouse {

// A fresh directory of its own under the system temporary directory (/tmp unless TMPDIR says
// otherwise), made with mkdtemp so that parallel test processes never share one, and removed
// with everything in it when the TempDir goes. Throws std::system_error when it cannot be made.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatehouse-test-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // `name` inside the directory (not created).
  std::filesystem::path File(std::string_view name) const { return path_ / name; }
  // Writes `text` to `name` inside the directory and returns its path.
  std::filesystem::path WriteFile(std::string_view name, std::string_view text) const {
    const auto file = File(name);
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_TESTS_UNIT_TEMP_DIR_H_
