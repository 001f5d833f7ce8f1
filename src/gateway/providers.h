#ifndef GATEHOUSE_GATEWAY_PROVIDERS_H_
#define GATEHOUSE_GATEWAY_PROVIDERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace gatehouse {

// A model a chat request may run: its provider and, when configured, its prices.
struct ResolvedModel {
  const ProviderConfig* provider = nullptr;
  const ModelPrice* price = nullptr;  // null when unpriced (no price key, or no models listed)
  std::string model;                  // the provider's own model name

  std::string QualifiedName() const { return provider->name + "/" + model; }
};

struct ChatCost {
  double prompt = 0;
  double completion = 0;
  double total = 0;
};

// The configured LLM providers (API.md §8), immutable after start-up, safe to share.
class ProviderRegistry {
 public:
  explicit ProviderRegistry(std::vector<ProviderConfig> providers);

  const ProviderConfig* Find(std::string_view name) const;
  // nullopt when the provider is unknown, or lists models and not this one.
  std::optional<ResolvedModel> Resolve(std::string_view provider, std::string_view model) const;
  // Splits "<provider>/<model>" and resolves it.
  std::optional<ResolvedModel> Resolve(std::string_view qualified) const;
  const std::vector<ProviderConfig>& providers() const { return providers_; }

 private:
  std::vector<ProviderConfig> providers_;
};

// USD for the given token counts at the model's prices per million tokens.
ChatCost PriceOf(const ModelPrice* price, std::int64_t prompt_tokens,
                 std::int64_t completion_tokens);

// A token count estimated from text (about four characters a token, at least one for any text),
// used when a provider reports no usage so that a call is never free.
std::int64_t EstimateTokens(std::string_view text);

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_PROVIDERS_H_
