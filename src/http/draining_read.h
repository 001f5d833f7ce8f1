#ifndef GATEHOUSE_HTTP_DRAINING_READ_H_
#define GATEHOUSE_HTTP_DRAINING_READ_H_

// Reads that skip the system call bound to fail.
//
// Asio's epoll reactor starts every read on a socket by trying it at once (a speculative recv),
// and waits for epoll only when that finds nothing. Between the requests of a keep-alive
// connection, and between sending an upstream request and its answer, the attempt always finds
// nothing: one recv per request that returns EAGAIN, about 1 µs each on the machines we
// measure. The reactor can skip it: it keeps a flag per socket that says whether to try first,
// cleared when a read reports that it emptied the socket, and set again by every readiness
// event epoll delivers (edge-triggered). Asio 1.81 reports that only for a read that returns
// nothing.
//
// A DrainingSocket reads with recvmsg and asks the kernel, with TCP_INQ, how much is still
// queued once the read has taken its part. When nothing is (no data and no end of stream, which
// the kernel counts as one byte), the read reports the socket emptied, and the next read waits
// for epoll directly: anything that arrives later raises a new edge. A short read alone would
// not do: a read can return the last data together with the peer's FIN, which then raises no
// further edge, so the next read would wait for a close that has already happened.
//
// Left as it is: the kernel counts neither a reset nor any other pending socket error in that
// figure (nginx learns of both from EPOLLRDHUP, which Asio's reactor does not pass on). When a
// reset comes in the same epoll event as the data before it, the read takes the data, reports
// the socket empty, and the next read waits for the socket's deadline instead of failing at
// once: a client that sends part of a request and resets holds its connection for the request
// or idle timeout (30 or 60 s), and a provider that resets in the middle of a body is reported
// when its between-reads timeout passes (504 id 100) rather than at once (502). A reset that
// comes after the loop has taken the data's event raises an event of its own and fails the
// read as before. Every read of the server and of the upstream client has a deadline armed.
//
// The reactor hook specializes an internal class of Asio for Boost 1.81 on epoll (Linux).
// Elsewhere (another Boost version, Asio on io_uring, another system) GATEHOUSE_DRAINING_READS
// is 0 and a DrainingSocket reads as a plain socket does; re-check the reactor before extending
// the version test. A socket without TCP_INQ (ReportReceiveQueue not called) also keeps Asio's
// behaviour.

#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/config.hpp>
#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

#if BOOST_VERSION == 108100 && defined(__linux__) && defined(TCP_INQ) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define GATEHOUSE_DRAINING_READS 1
#else
#define GATEHOUSE_DRAINING_READS 0
#endif

namespace gatehouse {

// A buffer whose read reports to Asio's reactor when it has emptied the socket.
class DrainingBuffer : public boost::asio::mutable_buffer {
 public:
  explicit DrainingBuffer(const boost::asio::mutable_buffer& buffer) : mutable_buffer(buffer) {}
};

// A TCP socket whose reads into one contiguous buffer (Beast's flat_buffer, Asio's TLS engine,
// the server's own reads) are DrainingBuffer reads. Call ReportReceiveQueue() once connected.
template <typename Socket>
class DrainingSocket : public Socket {
 public:
  using Socket::Socket;
  explicit DrainingSocket(Socket&& socket) : Socket(std::move(socket)) {}

  // Asks the kernel to report the bytes left after each read (TCP_INQ). Without it (an error
  // here is ignored) every read stays speculative.
  void ReportReceiveQueue() {
#if GATEHOUSE_DRAINING_READS
    boost::system::error_code ignored;
    this->set_option(boost::asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_INQ>(true),
                     ignored);
#endif
  }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if constexpr (GATEHOUSE_DRAINING_READS &&
                  std::is_convertible_v<const MutableBuffers&, boost::asio::mutable_buffer>) {
      return Socket::async_read_some(DrainingBuffer(buffers), std::forward<Token>(token));
    } else {
      return Socket::async_read_some(buffers, std::forward<Token>(token));
    }
  }
};

}  // namespace gatehouse

#if GATEHOUSE_DRAINING_READS
#include <sys/socket.h>

#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/error.hpp>
#include <cerrno>
#include <cstring>

namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<gatehouse::DrainingBuffer> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state,
                               const gatehouse::DrainingBuffer& buffer,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &Perform, complete_func),
        socket_(socket),
        state_(state),
        buffer_(buffer),
        flags_(flags) {}

 private:
  // What Asio's non-blocking read does, with recvmsg instead of recv, and its queue report.
  static status Perform(reactor_op* base) {
    auto* self = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (self->state_ & socket_ops::stream_oriented) != 0;
    iovec part{self->buffer_.data(), self->buffer_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got = 0;
    do {
      got = ::recvmsg(self->socket_, &message, self->flags_);
    } while (got < 0 && errno == EINTR);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return not_done;  // wait for epoll
    self->bytes_transferred_ = got > 0 ? static_cast<std::size_t>(got) : 0;
    if (got < 0) {
      self->ec_.assign(errno, boost::asio::error::get_system_category());
      return done_and_exhausted;  // as Asio's own read reports an empty result
    }
    if (got == 0 && stream) {
      self->ec_ = boost::asio::error::eof;
      return done_and_exhausted;
    }
    for (cmsghdr* item = CMSG_FIRSTHDR(&message); item; item = CMSG_NXTHDR(&message, item)) {
      if (item->cmsg_level == IPPROTO_TCP && item->cmsg_type == TCP_CM_INQ) {
        int queued = -1;
        std::memcpy(&queued, CMSG_DATA(item), sizeof queued);
        if (queued == 0) return done_and_exhausted;
      }
    }
    return done;
  }

  socket_type socket_;
  socket_ops::state_type state_;
  mutable_buffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
#endif

#endif  // GATEHOUSE_HTTP_DRAINING_READ_H_
