#include "core/time_zone.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace gatehouse {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

bool LooksLikeZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '+' || c == '-' || c == '/';
  });
}

// Big-endian readers over a TZif byte string; Read* return false past its end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool Skip(std::size_t n) {
    if (bytes_.size() - position_ < n) return false;
    position_ += n;
    return true;
  }
  bool Read(std::size_t width, std::int64_t& value) {
    if (bytes_.size() - position_ < width) return false;
    std::uint64_t raw = 0;
    for (std::size_t i = 0; i < width; ++i) {
      raw = (raw << 8) | static_cast<unsigned char>(bytes_[position_ + i]);
    }
    position_ += width;
    // Sign-extend from `width` bytes.
    const unsigned shift = 64 - 8 * static_cast<unsigned>(width);
    value = static_cast<std::int64_t>(raw << shift) >> shift;
    return true;
  }
  std::size_t position() const { return position_; }

 private:
  std::string_view bytes_;
  std::size_t position_ = 0;
};

struct Header {
  char version = 0;
  std::int64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

bool ReadHeader(Reader& reader, std::string_view bytes, Header& header) {
  const std::size_t at = reader.position();
  if (bytes.size() < at + 44 || bytes.substr(at, 4) != "TZif") return false;
  header.version = bytes[at + 4];
  return reader.Skip(20) && reader.Read(4, header.isut) && reader.Read(4, header.isstd) &&
         reader.Read(4, header.leap) && reader.Read(4, header.time) &&
         reader.Read(4, header.type) && reader.Read(4, header.chars) && header.type > 0;
}

std::size_t BlockSize(const Header& h, std::size_t time_width) {
  return h.time * time_width + h.time + h.type * 6 + h.chars + h.leap * (time_width + 4) + h.isstd +
         h.isut;
}

}  // namespace

Result<TimeZone> TimeZone::Load(std::string_view name, std::string_view field) {
  if (name == "UTC" || name == "Etc/UTC") return Utc();
  if (!LooksLikeZoneName(name)) return Fail(ErrorCode::kPattern, std::string(field));
  const char* directory = std::getenv("TZDIR");
  const std::string path =
      std::string(directory && *directory ? directory : "/usr/share/zoneinfo") + "/" +
      std::string(name);
  std::ifstream file(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  TimeZone zone;
  zone.name_ = std::string(name);
  if (!file.good() && !file.eof()) return Fail(ErrorCode::kPattern, std::string(field));
  if (!zone.Parse(bytes)) return Fail(ErrorCode::kPattern, std::string(field));
  return zone;
}

bool TimeZone::Parse(std::string_view bytes) {
  Reader reader(bytes);
  Header header;
  if (!ReadHeader(reader, bytes, header)) return false;
  std::size_t width = 4;
  if (header.version >= '2') {
    // Version 2+ repeats the data with 64-bit times after the 32-bit block: use that.
    if (!reader.Skip(BlockSize(header, 4)) || !ReadHeader(reader, bytes, header)) return false;
    width = 8;
  }
  std::vector<std::int64_t> times(static_cast<std::size_t>(header.time));
  for (auto& at : times) {
    if (!reader.Read(width, at)) return false;
  }
  std::vector<std::int64_t> types(times.size());
  for (auto& type : types) {
    if (!reader.Read(1, type)) return false;
    type &= 0xff;
    if (type >= header.type) return false;
  }
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(header.type));
  std::int64_t first_standard = -1;
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    std::int64_t is_dst = 0;
    if (!reader.Read(4, offsets[i]) || !reader.Read(1, is_dst) || !reader.Skip(1)) return false;
    if (first_standard < 0 && !is_dst) first_standard = static_cast<std::int64_t>(i);
  }
  initial_offset_ms_ =
      offsets[static_cast<std::size_t>(std::max<std::int64_t>(first_standard, 0))] * 1000;
  transitions_.clear();
  for (std::size_t i = 0; i < times.size(); ++i) {
    transitions_.push_back(
        Transition{times[i] * 1000, offsets[static_cast<std::size_t>(types[i])] * 1000});
  }
  return std::is_sorted(transitions_.begin(), transitions_.end(),
                        [](const Transition& a, const Transition& b) { return a.at_ms < b.at_ms; });
}

bool TimeZone::IsUtc() const {
  return initial_offset_ms_ == 0 &&
         std::all_of(transitions_.begin(), transitions_.end(),
                     [](const Transition& t) { return t.offset_ms == 0; });
}

std::int64_t TimeZone::OffsetAt(TimeMs utc) const {
  const auto after = std::upper_bound(
      transitions_.begin(), transitions_.end(), utc,
      [](TimeMs at, const Transition& transition) { return at < transition.at_ms; });
  return after == transitions_.begin() ? initial_offset_ms_ : std::prev(after)->offset_ms;
}

TimeMs TimeZone::StartOfDay(TimeMs utc) const {
  const TimeMs local = utc + OffsetAt(utc);
  const TimeMs local_midnight = local - ((local % kDayMs) + kDayMs) % kDayMs;
  // The offset at midnight may differ from the one at `utc` when a transition fell in between.
  const TimeMs guess = local_midnight - OffsetAt(utc);
  return local_midnight - OffsetAt(guess);
}

}  // namespace gatehouse
