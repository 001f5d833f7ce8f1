#ifndef GATEHOUSE_CORE_IDS_H_
#define GATEHOUSE_CORE_IDS_H_

#include <string>

namespace gatehouse {

// A lower-case random UUID v4 from the OpenSSL CSPRNG. Thread-safe.
std::string NewUuid();

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_IDS_H_
