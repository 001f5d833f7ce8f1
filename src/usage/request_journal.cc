#include "usage/request_journal.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

namespace gatehouse {
namespace {

constexpr std::string_view kPrefix = "requests-";
constexpr std::string_view kSuffix = ".journal";
constexpr std::uint32_t kMaxPayload = 64u << 20;

// `value` little-endian into `bytes` (sizeof value of them): the compiler makes it one store.
template <typename Unsigned>
void LittleEndian(char* bytes, Unsigned value) {
  for (std::size_t i = 0; i < sizeof value; ++i) {
    bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
}

// Appended whole, not byte by byte: a frame has 20 numbers and is written on every call.
void PutU32(std::string& out, std::uint32_t value) {
  char bytes[4];
  LittleEndian(bytes, value);
  out.append(bytes, sizeof bytes);
}

void PutU64(std::string& out, std::uint64_t value) {
  char bytes[8];
  LittleEndian(bytes, value);
  out.append(bytes, sizeof bytes);
}

void PutText(std::string& out, std::string_view text) {
  PutU32(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

void PutOptional(std::string& out, const std::optional<std::string>& text) {
  out.push_back(text ? '\1' : '\0');
  if (text) PutText(out, *text);
}

std::uint32_t Crc(std::string_view bytes) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// Reads the fields of a payload in the order they were put; any read past the end fails the
// whole payload.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes) : bytes_(bytes) {}

  bool ok() const { return ok_ && bytes_.empty(); }

  std::uint64_t U64() {
    std::uint64_t value = 0;
    if (!Need(8)) return 0;
    for (int i = 0; i < 8; ++i) {
      value |= std::uint64_t{static_cast<unsigned char>(bytes_[i])} << (8 * i);
    }
    bytes_.remove_prefix(8);
    return value;
  }

  std::string Text() {
    if (!Need(4)) return {};
    std::uint32_t size = 0;
    for (int i = 0; i < 4; ++i) {
      size |= std::uint32_t{static_cast<unsigned char>(bytes_[i])} << (8 * i);
    }
    bytes_.remove_prefix(4);
    if (!Need(size)) return {};
    std::string text(bytes_.substr(0, size));
    bytes_.remove_prefix(size);
    return text;
  }

  std::optional<std::string> Optional() {
    if (!Need(1)) return std::nullopt;
    const char present = bytes_[0];
    bytes_.remove_prefix(1);
    if (present == '\0') return std::nullopt;
    if (present != '\1') ok_ = false;
    return Text();
  }

 private:
  bool Need(std::size_t size) {
    if (bytes_.size() < size) ok_ = false;
    return ok_;
  }

  std::string_view bytes_;
  bool ok_ = true;
};

std::optional<RequestRecord> DecodePayload(std::string_view payload) {
  PayloadReader in(payload);
  RequestRecord record;
  record.id = in.Text();
  record.organization_id = in.Text();
  record.project_id = in.Text();
  record.api_token_id = in.Text();
  record.api_token_name = in.Text();
  record.assistant = in.Optional();
  record.intent = in.Optional();
  record.module = in.Text();
  record.session_id = in.Optional();
  record.model = in.Text();
  record.status = in.Text();
  record.http_status = static_cast<int>(static_cast<std::int64_t>(in.U64()));
  record.start_ms = static_cast<TimeMs>(in.U64());
  record.end_ms = static_cast<TimeMs>(in.U64());
  record.prompt_tokens = static_cast<std::int64_t>(in.U64());
  record.completion_tokens = static_cast<std::int64_t>(in.U64());
  record.total_tokens = static_cast<std::int64_t>(in.U64());
  record.cost = std::bit_cast<double>(in.U64());
  record.prompt = in.Optional();
  record.input_text = in.Optional();
  record.output = in.Optional();
  if (!in.ok()) return std::nullopt;
  return record;
}

std::uint32_t ReadU32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= std::uint32_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  }
  return value;
}

// The generation of a segment file name, or nullopt for another file.
std::optional<std::uint64_t> GenerationOf(const std::string& name) {
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
  const std::string digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  if (digits.empty() || digits.size() > 19 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoull(digits);
}

std::string SegmentPath(const std::string& directory, std::uint64_t generation) {
  return (std::filesystem::path(directory) /
          (std::string(kPrefix) + std::to_string(generation) + std::string(kSuffix)))
      .string();
}

Error JournalError(const std::string& what, const std::string& path, int error) {
  return Error(ErrorCode::kInternal, {}, what + " " + path + ": " + std::strerror(error));
}

}  // namespace

std::string EncodeJournalFrame(const RequestRecord& record) {
  std::string frame;
  AppendJournalFrame(frame, record);
  return frame;
}

void AppendJournalFrame(std::string& out, const RequestRecord& record) {
  auto optional_size = [](const std::optional<std::string>& text) {
    return 1 + (text ? 4 + text->size() : 0);
  };
  const std::size_t payload_size =
      8 * 4 + record.id.size() + record.organization_id.size() + record.project_id.size() +
      record.api_token_id.size() + record.api_token_name.size() + record.module.size() +
      record.model.size() + record.status.size() + optional_size(record.assistant) +
      optional_size(record.intent) + optional_size(record.session_id) + 7 * 8 +
      optional_size(record.prompt) + optional_size(record.input_text) +
      optional_size(record.output);
  const std::size_t start = out.size();
  out.reserve(start + 8 + payload_size);
  out.append(8, '\0');
  PutText(out, record.id);
  PutText(out, record.organization_id);
  PutText(out, record.project_id);
  PutText(out, record.api_token_id);
  PutText(out, record.api_token_name);
  PutOptional(out, record.assistant);
  PutOptional(out, record.intent);
  PutText(out, record.module);
  PutOptional(out, record.session_id);
  PutText(out, record.model);
  PutText(out, record.status);
  PutU64(out, static_cast<std::uint64_t>(std::int64_t{record.http_status}));
  PutU64(out, static_cast<std::uint64_t>(record.start_ms));
  PutU64(out, static_cast<std::uint64_t>(record.end_ms));
  PutU64(out, static_cast<std::uint64_t>(record.prompt_tokens));
  PutU64(out, static_cast<std::uint64_t>(record.completion_tokens));
  PutU64(out, static_cast<std::uint64_t>(record.total_tokens));
  PutU64(out, std::bit_cast<std::uint64_t>(record.cost));
  PutOptional(out, record.prompt);
  PutOptional(out, record.input_text);
  PutOptional(out, record.output);
  const std::string_view payload = std::string_view(out).substr(start + 8);
  LittleEndian(out.data() + start, static_cast<std::uint32_t>(payload.size()));
  LittleEndian(out.data() + start + 4, Crc(payload));
}

std::vector<RequestRecord> DecodeJournalFrames(std::string_view bytes) {
  std::vector<RequestRecord> records;
  while (bytes.size() >= 8) {
    const std::uint32_t size = ReadU32(bytes);
    const std::uint32_t crc = ReadU32(bytes.substr(4));
    if (size > kMaxPayload || bytes.size() - 8 < size) break;
    const std::string_view payload = bytes.substr(8, size);
    if (Crc(payload) != crc) break;
    auto record = DecodePayload(payload);
    if (!record) break;
    records.push_back(std::move(*record));
    bytes.remove_prefix(8 + std::size_t{size});
  }
  return records;
}

RequestJournal::Segment::Segment(Segment&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      generation_(other.generation_),
      path_(std::move(other.path_)),
      size_(other.size_) {}

RequestJournal::Segment& RequestJournal::Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    generation_ = other.generation_;
    path_ = std::move(other.path_);
    size_ = other.size_;
  }
  return *this;
}

RequestJournal::Segment::~Segment() {
  if (fd_ >= 0) ::close(fd_);
}

Status RequestJournal::Open() {
  std::error_code error;
  std::vector<std::pair<std::uint64_t, std::string>> found;
  for (const auto& entry : std::filesystem::directory_iterator(directory_, error)) {
    if (auto generation = GenerationOf(entry.path().filename().string())) {
      found.emplace_back(*generation, entry.path().string());
    }
  }
  if (error) return std::unexpected(JournalError("cannot list", directory_, error.value()));
  std::sort(found.begin(), found.end());
  leftovers_.clear();
  for (auto& [generation, path] : found) leftovers_.push_back(std::move(path));
  const std::uint64_t next = found.empty() ? 1 : found.back().first + 1;
  active_ = Segment(-1, next - 1, {});
  auto segment = OpenNext();
  if (!segment) return std::unexpected(segment.error());
  active_ = std::move(*segment);
  return {};
}

Result<std::vector<RequestRecord>> RequestJournal::ReadLeftovers() const {
  std::vector<RequestRecord> records;
  for (const auto& path : leftovers_) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return std::unexpected(JournalError("cannot read", path, errno));
    std::ostringstream bytes;
    bytes << file.rdbuf();
    for (auto& record : DecodeJournalFrames(bytes.str())) records.push_back(std::move(record));
  }
  return records;
}

void RequestJournal::RemoveLeftovers() {
  for (const auto& path : leftovers_) ::unlink(path.c_str());
  leftovers_.clear();
}

bool RequestJournal::Append(std::string_view frames) {
  if (active_.fd_ < 0) return false;
  const ssize_t written = ::write(active_.fd_, frames.data(), frames.size());
  if (written == static_cast<ssize_t>(frames.size())) {
    active_.size_ += frames.size();
    return true;
  }
  // A torn frame would hide every frame after it from the replay.
  if (written > 0 && ::ftruncate(active_.fd_, static_cast<off_t>(active_.size_)) != 0) {
    active_.fd_ = (::close(active_.fd_), -1);
  }
  return false;
}

Result<RequestJournal::Segment> RequestJournal::OpenNext() const {
  const std::uint64_t generation = active_.generation() + 1;
  std::string path = SegmentPath(directory_, generation);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(JournalError("cannot open", path, errno));
  return Segment(fd, generation, std::move(path));
}

RequestJournal::Segment RequestJournal::Activate(Segment next) {
  return std::exchange(active_, std::move(next));
}

void RequestJournal::Remove(Segment segment) {
  if (!segment.path().empty()) ::unlink(segment.path().c_str());
}

}  // namespace gatehouse
