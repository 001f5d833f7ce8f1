// The SSE reader that meters streamed completions (gateway/chat.h), fed in pieces whose sizes
// come from the input, as a provider's bytes arrive.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/chat.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const gatehouse::ModelPrice price{"fuzz", 2.5, 10.0};
  gatehouse::SseAccumulator accumulator(data[0] & 1 ? &price : nullptr);
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string relayed;
  while (!rest.empty()) {
    const std::size_t n = std::min(piece, rest.size());
    relayed += accumulator.Feed(rest.substr(0, n));
    rest.remove_prefix(n);
    if (relayed.size() > (1 << 20)) relayed.clear();
  }
  relayed += accumulator.Finish();
  (void)accumulator.usage();
  (void)accumulator.content();
  return 0;
}
