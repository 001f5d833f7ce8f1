#ifndef GATEHOUSE_HTTP_LINGERING_CLOSE_H_
#define GATEHOUSE_HTTP_LINGERING_CLOSE_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>

namespace gatehouse {

class SocketDeadline;

// Bounds of a lingering close (as nginx's lingering_time and lingering_timeout, plus a byte cap).
inline constexpr std::chrono::seconds kLingerTime{5};          // the whole drain
inline constexpr std::chrono::seconds kLingerIdle{2};          // between two reads
inline constexpr std::size_t kLingerBytes = 16 * 1024 * 1024;  // discarded at most

// Closes a connection whose request was refused before its body was read (413, 400) without
// losing the answer: shuts down the write side (the answer, already written, is followed by a
// FIN), then reads and discards what the client still sends until it closes, kLingerIdle passes
// without a byte, kLingerTime passes or kLingerBytes are discarded. Closing at once would make
// the kernel answer the unread bytes with a reset, which destroys the answer in the client's
// receive buffer before a client that sends its whole body first has read it. Runs on the
// stream's loop; the caller closes the socket afterwards. Under TLS `stream` is the TCP layer:
// the records still arriving are discarded undecrypted. `deadline` is `socket`'s, not armed.
boost::asio::awaitable<void> LingeringClose(boost::asio::ip::tcp::socket& socket,
                                            SocketDeadline& deadline);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_LINGERING_CLOSE_H_
