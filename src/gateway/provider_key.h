#ifndef GATEHOUSE_GATEWAY_PROVIDER_KEY_H_
#define GATEHOUSE_GATEWAY_PROVIDER_KEY_H_

#include <string>
#include <string_view>

#include "gateway/providers.h"

// A provider's key: read where it is needed and kept out of the texts a provider sends back.
namespace gatehouse {

// The key of `provider`, read from its environment variable at each call so that it is never
// copied into configuration objects, records or logs; empty when unset.
std::string ProviderKey(const ProviderConfig& provider);

// `text` with every word that looks like a credential replaced by "[redacted]": a provider's
// message may quote the credentials it was given. A word looks like one when it holds an
// OpenAI-style key (`sk-` where the word, or a part of it after a sign, starts; not inside
// "task-id"), a masked one (letters or digits beside `***`), eight characters of `key`, or a key
// shorter than that where it stands on its own (`key=none,`; not the `x` of "max_tokens").
// Words end at spaces, tabs, line feeds and quotes.
std::string WithoutKey(std::string_view text, const std::string& key);

// The provider's own error message from an OpenAI-style error body (`error` as a string,
// `error.message`, or a top-level `message`); empty when it has none.
std::string ProviderMessage(const std::string& body);

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_PROVIDER_KEY_H_
