#ifndef GATEHOUSE_CORE_IDS_H_
#define GATEHOUSE_CORE_IDS_H_

#include <string>

namespace gatehouse {

// A lower-case random UUID v4 from the OpenSSL CSPRNG. Thread-safe.
std::string NewUuid();

// A lower-case random UUID v4 for identifiers that are not secrets and are made on the hot path
// (request record ids): from a per-thread xoshiro256** generator seeded from the OpenSSL CSPRNG
// (again in a forked child), so that an id costs no system call and no lock. Unpredictable
// enough to be unique; never use it for secrets, keys or nonces. Thread-safe.
std::string NewRequestId();

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_IDS_H_
