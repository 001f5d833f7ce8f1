#include "core/free_memory.h"

#include <cstddef>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// jemalloc's control interface, weak so that this file links without jemalloc: the sanitizer
// builds and the unit tests run on the system allocator, where the symbol stays null.
extern "C" int mallctl(const char* name, void* old_value, std::size_t* old_size, void* new_value,
                       std::size_t new_size) __attribute__((weak));

namespace gatehouse {

void ReturnFreeMemory() {
  if (mallctl != nullptr) {
    // MALLCTL_ARENAS_ALL (4096) addresses every arena at once.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

const char* AllocatorName() { return mallctl != nullptr ? "jemalloc" : "glibc"; }

}  // namespace gatehouse
