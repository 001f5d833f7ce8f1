#ifndef GATEHOUSE_CORE_FREE_MEMORY_H_
#define GATEHOUSE_CORE_FREE_MEMORY_H_

namespace gatehouse {

// Gives the pages of freed memory back to the operating system now, whichever allocator the
// binary runs on: jemalloc (the server's, docs/architecture.md "Memory allocator") purges every
// arena; glibc's malloc trims its heaps. For after a burst of large temporary allocations; it
// costs a pass over the allocator's free memory, so never per request.
void ReturnFreeMemory();

// "jemalloc" or "glibc": which allocator serves malloc in this process (logged at start).
const char* AllocatorName();

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_FREE_MEMORY_H_
