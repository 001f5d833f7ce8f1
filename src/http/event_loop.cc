#include "http/event_loop.h"

namespace gatehouse {
namespace {

thread_local boost::asio::io_context* current_loop = nullptr;

}  // namespace

boost::asio::io_context* CurrentEventLoop() { return current_loop; }

void SetCurrentEventLoop(boost::asio::io_context* loop) { current_loop = loop; }

}  // namespace gatehouse
