#ifndef GATEHOUSE_HTTP_EVENT_LOOP_H_
#define GATEHOUSE_HTTP_EVENT_LOOP_H_

#include <functional>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace gatehouse {

// The event loop that runs on the calling thread: set by HttpServer on each of its loop threads
// (and by tests that run their own loop); null on any other thread. Lets asynchronous clients
// (the upstream client) start their work on the loop of the connection they serve.
boost::asio::io_context* CurrentEventLoop();
void SetCurrentEventLoop(boost::asio::io_context* loop);

// Runs `work` on `loop` (from any thread), after the calling code has returned.
void PostToEventLoop(boost::asio::io_context& loop, std::function<void()> work);

// Runs `start` on a fresh event loop on the calling thread (as its CurrentEventLoop()) and
// returns once the loop has no work left. For tools and tests that drive asynchronous clients
// without an HttpServer.
void RunEventLoop(const std::function<void()>& start);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_EVENT_LOOP_H_
