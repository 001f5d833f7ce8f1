// Secret parsing: the format and checksum check, and every accepted Authorization form.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/authenticator.h"
#include "auth/secret.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (gatehouse::ParseSecret(text) && text.size() != gatehouse::kSecretLength) __builtin_trap();
  if (auto secret = gatehouse::SecretFromAuthorization(text)) {
    (void)gatehouse::ParseSecret(*secret);
  }
  return 0;
}
