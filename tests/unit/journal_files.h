// The request journal's segments as a test finds them on disk: what a kill -9 would leave.
#ifndef GATEHOUSE_TESTS_UNIT_JOURNAL_FILES_H_
#define GATEHOUSE_TESTS_UNIT_JOURNAL_FILES_H_

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "usage/request_journal.h"

namespace gatehouse {

// The journal segments (`*.journal`) in `dir`, by name.
inline std::vector<std::filesystem::path> JournalSegments(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".journal") found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Every whole frame of every segment in `dir`, decoded, segment after segment.
inline std::vector<RequestRecord> JournaledRecords(const std::filesystem::path& dir) {
  std::string bytes;
  for (const auto& segment : JournalSegments(dir)) {
    std::ifstream file(segment, std::ios::binary);
    bytes.append(std::istreambuf_iterator<char>(file), {});
  }
  return DecodeJournalFrames(bytes);
}

}  // namespace gatehouse

#endif  // GATEHOUSE_TESTS_UNIT_JOURNAL_FILES_H_
