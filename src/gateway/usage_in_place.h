#ifndef GATEHOUSE_GATEWAY_USAGE_IN_PLACE_H_
#define GATEHOUSE_GATEWAY_USAGE_IN_PLACE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/providers.h"

// A provider's answer extended with its costs without being written again: the client gets the
// provider's own text, with the cost fields appended inside its top-level usage object.

namespace gatehouse {

// In `json`, a JSON text the parser accepted: the offset of the closing brace of the object that
// is the value of the top-level member named `key`; of the last so named, which is the one that
// counts for Boost.JSON (the meter) and for most readers. nullopt when the top level is not an
// object, when no member has that name, when its value is not an object, and when the member is
// not the object's last one and the text cannot show it is the only one so named (the name is
// written twice, or a top-level name is written with an escape and could be it).
std::optional<std::size_t> EndOfTopLevelObjectMember(std::string_view json, std::string_view key);

// Appends the cost fields AddCosts writes (prompt_cost, completion_cost, total_cost, currency) at
// the end of the top-level usage object of `answer`, a JSON text the parser accepted; a cost is
// always written with a fraction or an exponent. False, with `answer` untouched, when that object
// cannot be found so (EndOfTopLevelObjectMember) or a cost is not finite.
bool AppendCostsToUsage(std::string& answer, const ChatCost& cost);

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_USAGE_IN_PLACE_H_
