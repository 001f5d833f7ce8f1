#ifndef GATEHOUSE_CORE_TEXT_H_
#define GATEHOUSE_CORE_TEXT_H_

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// Appends `text` escaped as the contents of a JSON string (no surrounding quotes): quote,
// backslash and control characters are escaped, and when `text` is not valid UTF-8 every byte
// from 0x80 is written as \u00XX, so the result is always valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view text);

std::string_view Trim(std::string_view text);
std::string ToLower(std::string_view text);                     // ASCII only
bool EqualsIgnoreCase(std::string_view a, std::string_view b);  // ASCII only
// Number of Unicode code points in valid UTF-8 text.
std::size_t CodePointCount(std::string_view utf8);
// The longest start of valid UTF-8 `utf8` that is at most `max_bytes` long and ends between two
// code points (a cut by bytes alone can split one, which leaves invalid UTF-8).
std::string_view Utf8Prefix(std::string_view utf8, std::size_t max_bytes);
bool IsValidUtf8(std::string_view text);
// The length in bytes of the valid UTF-8 code point `text` starts with (1 to 4); 0 when `text` is
// empty or starts with anything else (a stray continuation byte, an overlong form, a surrogate, a
// code point past U+10FFFF, a sequence cut short).
std::size_t Utf8CodePointLength(std::string_view text);
// A pragmatic e-mail shape check: one '@', a non-empty local part, a dotted domain, no spaces.
bool LooksLikeEmail(std::string_view text);
// Lower-case canonical UUID (8-4-4-4-12 hex digits).
bool IsUuid(std::string_view text);
// Lower-case hexadecimal of raw bytes, and back (nullopt for odd length or a non-hex digit).
std::string ToHex(std::string_view bytes);
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_TEXT_H_
