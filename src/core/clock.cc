#include "core/clock.h"

#include <algorithm>
#include <charconv>
#include <chrono>

namespace gatehouse {
namespace {

// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool ReadDigits(std::string_view text, std::size_t at, std::size_t count, int& out) {
  if (at + count > text.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

}  // namespace

TimeMs SystemClock::Now() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void WriteTimestamp(TimeMs ms, char* out) {
  // 0000-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z: the years ParseTimestamp reads.
  constexpr TimeMs kFirst = -62'167'219'200'000;
  constexpr TimeMs kLast = 253'402'300'799'999;
  ms = std::clamp(ms, kFirst, kLast);
  std::int64_t days = ms / 86400000;
  std::int64_t rest = ms % 86400000;
  if (rest < 0) {
    rest += 86400000;
    --days;
  }
  // Civil-from-days (inverse of DaysFromCivil).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const auto y = static_cast<unsigned>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
  const auto digits = [&out](unsigned value, int count) {
    for (int i = count - 1; i >= 0; --i, value /= 10) out[i] = static_cast<char>('0' + value % 10);
    out += count;
  };
  const auto mark = [&out](char c) { *out++ = c; };
  const auto r = static_cast<unsigned>(rest);
  digits(y, 4);
  mark('-');
  digits(m, 2);
  mark('-');
  digits(d, 2);
  mark('T');
  digits(r / 3600000, 2);
  mark(':');
  digits(r / 60000 % 60, 2);
  mark(':');
  digits(r / 1000 % 60, 2);
  mark('.');
  digits(r % 1000, 3);
  mark('Z');
}

std::string FormatTimestamp(TimeMs ms) {
  std::string text(kTimestampChars, '\0');
  WriteTimestamp(ms, text.data());
  return text;
}

std::optional<TimeMs> ParseTimestamp(std::string_view text) {
  int year, month, day;
  if (!ReadDigits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, month) || text[7] != '-' || !ReadDigits(text, 8, 2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
  TimeMs ms = DaysFromCivil(year, month, day) * 86400000;
  if (text.size() == 10) return ms;

  int hour, minute, second = 0;
  if ((text[10] != 'T' && text[10] != ' ') || !ReadDigits(text, 11, 2, hour) || text.size() < 16 ||
      text[13] != ':' || !ReadDigits(text, 14, 2, minute)) {
    return std::nullopt;
  }
  std::size_t at = 16;
  if (at < text.size() && text[at] == ':') {
    if (!ReadDigits(text, at + 1, 2, second)) return std::nullopt;
    at += 3;
  }
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  int millis = 0;
  if (at < text.size() && text[at] == '.') {
    std::size_t digits = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits) {
      if (digits < 3) millis = millis * 10 + (text[at] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 3; ++digits) millis *= 10;
  }
  ms += ((hour * 60 + minute) * 60 + second) * 1000LL + millis;
  if (at == text.size()) return ms;
  if (text[at] == 'Z' && at + 1 == text.size()) return ms;
  if ((text[at] == '+' || text[at] == '-') && text.size() == at + 6 && text[at + 3] == ':') {
    int off_h, off_m;
    if (!ReadDigits(text, at + 1, 2, off_h) || !ReadDigits(text, at + 4, 2, off_m)) {
      return std::nullopt;
    }
    const TimeMs offset = (off_h * 60 + off_m) * 60000LL;
    return text[at] == '+' ? ms - offset : ms + offset;
  }
  return std::nullopt;
}

}  // namespace gatehouse
