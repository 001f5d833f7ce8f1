#include "gateway/providers.h"

#include "core/text.h"

namespace gatehouse {

ProviderRegistry::ProviderRegistry(std::vector<ProviderConfig> providers)
    : providers_(std::move(providers)) {}

const ProviderConfig* ProviderRegistry::Find(std::string_view name) const {
  for (const auto& provider : providers_) {
    if (EqualsIgnoreCase(provider.name, name)) return &provider;
  }
  return nullptr;
}

std::optional<ResolvedModel> ProviderRegistry::Resolve(std::string_view provider_name,
                                                       std::string_view model) const {
  const ProviderConfig* provider = Find(provider_name);
  if (!provider || model.empty()) return std::nullopt;
  if (provider->models.empty()) return ResolvedModel{provider, nullptr, std::string(model)};
  for (const auto& price : provider->models) {
    if (price.name == model) {
      return ResolvedModel{provider, price.priced ? &price : nullptr, price.name};
    }
  }
  return std::nullopt;
}

std::optional<ResolvedModel> ProviderRegistry::Resolve(std::string_view qualified) const {
  const auto slash = qualified.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return Resolve(qualified.substr(0, slash), qualified.substr(slash + 1));
}

ChatCost PriceOf(const ModelPrice* price, std::int64_t prompt_tokens,
                 std::int64_t completion_tokens) {
  if (!price) return {};
  ChatCost cost;
  cost.prompt = static_cast<double>(prompt_tokens) * price->input_usd_per_mtok / 1e6;
  cost.completion = static_cast<double>(completion_tokens) * price->output_usd_per_mtok / 1e6;
  cost.total = cost.prompt + cost.completion;
  return cost;
}

std::int64_t EstimateTokens(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<std::int64_t>((CodePointCount(text) + 3) / 4);
}

}  // namespace gatehouse
