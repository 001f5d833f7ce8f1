#ifndef GATEHOUSE_API_OPENAPI_H_
#define GATEHOUSE_API_OPENAPI_H_

#include <string>
#include <string_view>
#include <vector>

#include "api/route_table.h"

namespace gatehouse {

// The name of an access rule as the OpenAPI document shows it ("organization", …).
std::string_view AccessName(Access access);

// The OpenAPI 3 document of exactly the routes in `routes`: each operation with its security
// requirement derived from its access rule (and an `x-gatehouse-access` field naming the rule).
// Summaries, parameters, schemas and responses are taken from `descriptions`, a hand-written
// OpenAPI document of the same paths, where it describes the operation; an operation it lacks
// gets a minimal entry, and what it describes beyond the table is dropped. Malformed or empty
// `descriptions` yield a document of the routes alone.
std::string BuildOpenApi(const std::vector<RouteSpec>& routes, std::string_view descriptions);

// Registers GET /openapi.json, built once from the table as it is now (call it last) with the
// descriptions in the console's openapi.json (services().web_dir).
void AddOpenApiRoute(RouteTable& routes);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_OPENAPI_H_
