#ifndef GATEHOUSE_CLI_INIT_OUTPUT_H_
#define GATEHOUSE_CLI_INIT_OUTPUT_H_

#include <string>

#include "directory/organization_directory.h"

namespace gatehouse {

// {"organizationId","organizationName","apiToken":{"id","name","secret"}} for a new
// organization: what `init` and a first `serve` print once.
std::string CreatedOrganizationJson(const CreatedOrganization& created);

}  // namespace gatehouse

#endif  // GATEHOUSE_CLI_INIT_OUTPUT_H_
