#include "http/event_loop.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <utility>

namespace gatehouse {
namespace {

thread_local boost::asio::io_context* current_loop = nullptr;

}  // namespace

boost::asio::io_context* CurrentEventLoop() { return current_loop; }

void SetCurrentEventLoop(boost::asio::io_context* loop) { current_loop = loop; }

void PostToEventLoop(boost::asio::io_context& loop, std::function<void()> work) {
  boost::asio::post(loop, std::move(work));
}

void RunEventLoop(const std::function<void()>& start) {
  boost::asio::io_context loop(1);
  boost::asio::io_context* previous = current_loop;
  current_loop = &loop;
  boost::asio::post(loop, start);
  loop.run();
  current_loop = previous;
}

}  // namespace gatehouse
