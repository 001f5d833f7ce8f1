#ifndef GATEHOUSE_HTTP_REQUEST_READING_H_
#define GATEHOUSE_HTTP_REQUEST_READING_H_

// How the server reads a request's header off its connection's buffer, and the framing rules
// it holds every request to (RFC 9112; docs/SECURITY.md, "Strict HTTP framing"). Beast's parser
// in a header of its own, included by http/server.cc only: Beast stays in few translation units.

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/optional/optional.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "http/message.h"

namespace gatehouse::request_reading {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

constexpr std::size_t kHeaderLimit = 64 * 1024;
// The most a connection's read buffer holds: a header's worth of unparsed bytes and one read.
// Beyond it a request is refused (400): nothing else bounds a chunk's size line, its
// extensions or a trailer section, which are parsed from the buffer as they come.
constexpr std::size_t kReadBufferLimit = kHeaderLimit + 64 * 1024;

// The parser of a request: Beast's HTTP/1.1 request parser (framing, chunks, the body limit)
// writing straight into the HttpRequest the handlers read, with what the framing rules below
// look at on the side. A message parser would keep each field in a container of its own, to be
// copied into the request once it is whole.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  using error_code = beast::error_code;
  using string_view = beast::string_view;
  using field = bhttp::field;

  int version() const { return request_.version; }
  // Host fields in the header.
  std::size_t hosts() const { return hosts_; }
  bool has_transfer_encoding() const { return transfer_encoding_; }
  // The header's first Expect field is 100-continue.
  bool expects_continue() const { return expects_continue_; }
  // The connection stays open after the answer: no `close` in any Connection field of the
  // header, and for HTTP/1.0 a `keep-alive` in one (RFC 9112 §9.3). Proxy-Connection, which
  // Beast's own reading counts too, is no field of HTTP and is not read.
  bool keeps_alive() const {
    return !connection_close_ && (request_.version >= 11 || connection_keep_alive_);
  }
  // The request read (the parser is spent).
  HttpRequest TakeRequest() { return std::move(request_); }

 private:
  void on_request_impl(bhttp::verb, string_view method, string_view target, int version,
                       error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.version = version;
    const std::string_view text(target.data(), target.size());
    const auto question = text.find('?');
    request_.path.assign(text.substr(0, question));
    if (question != std::string_view::npos) request_.query.assign(text.substr(question + 1));
  }

  void on_response_impl(int, string_view, int, error_code&) override {}

  void on_field_impl(field name, string_view name_text, string_view value, error_code&) override {
    // A chunked body's trailer fields are not headers (RFC 9110 §6.5.1).
    if (header_done_) return;
    if (name == field::host) ++hosts_;
    if (name == field::transfer_encoding) transfer_encoding_ = true;
    if (name == field::connection) {
      for (const auto& option : bhttp::token_list(value)) {
        if (beast::iequals(option, "close")) connection_close_ = true;
        if (beast::iequals(option, "keep-alive")) connection_keep_alive_ = true;
      }
    }
    if (name == field::expect && !expect_seen_) {
      expect_seen_ = true;
      expects_continue_ = beast::iequals(value, "100-continue");
    }
    request_.headers.emplace_back(std::string(name_text.data(), name_text.size()),
                                  std::string(value.data(), value.size()));
  }

  void on_header_impl(error_code&) override { header_done_ = true; }

  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    // The body limit bounds a declared length before this is called.
    if (length) request_.body.reserve(static_cast<std::size_t>(*length));
  }

  std::size_t on_body_impl(string_view bytes, error_code&) override {
    request_.body.append(bytes.data(), bytes.size());
    return bytes.size();
  }

  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, string_view bytes, error_code&) override {
    request_.body.append(bytes.data(), bytes.size());
    return bytes.size();
  }

  void on_finish_impl(error_code&) override {}

  HttpRequest request_;
  std::size_t hosts_ = 0;
  bool transfer_encoding_ = false;
  bool expect_seen_ = false;
  bool expects_continue_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool header_done_ = false;
};

// True when `buffer` seems to hold the start of a complete request, so that answering it in
// the same write is worth the wait.
inline bool HoldsCompleteHeader(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  const std::string_view text(static_cast<const char*>(data.data()), data.size());
  return text.find("\r\n\r\n") != std::string_view::npos;
}

// True when the header text `header` (start line to blank line) holds a line folded with
// obs-fold: a line break followed by a space or a tab. Beast joins such lines; nginx and Envoy
// refuse them, since proxies that do not join them would see other headers than we do.
inline bool HasObsFold(std::string_view header) {
  for (auto at = header.find('\n'); at != std::string_view::npos && at + 1 < header.size();
       at = header.find('\n', at + 1)) {
    if (header[at + 1] == ' ' || header[at + 1] == '\t') return true;
  }
  return false;
}

// What ParseHeader has taken of a request's header so far. Until a put leaves three or more
// bytes unparsed (it then waits for the whole rest), Beast takes the start line and each field
// as soon as it is whole (a field once the next line's first byte shows it is not folded), and
// it bounds only the part it has not taken yet: the header's total size is bounded here.
struct HeaderProgress {
  std::size_t consumed = 0;
  bool line_ended = false;  // the last piece taken ended a line
};

// Parses the header of the next request from `buffer` into `parser`, consuming what the parser
// takes: need_more while it is incomplete. What async_read_header does between reads, plus a
// bound on the whole header, taken and not yet taken (kHeaderLimit, as header_limit), and the
// refusal of obs-fold (as bad_value), checked in each piece before it is consumed and where two
// pieces meet.
inline boost::system::error_code ParseHeader(beast::flat_buffer& buffer, RequestParser& parser,
                                             HeaderProgress& progress) {
  boost::system::error_code ec;
  const auto data = buffer.data();
  const std::size_t used = parser.put(data, ec);
  const std::string_view piece(static_cast<const char*>(data.data()), used);
  progress.consumed += used;
  const bool open = ec == bhttp::error::need_more;
  if (!ec || open) {
    const bool folded = HasObsFold(piece) || (progress.line_ended && !piece.empty() &&
                                              (piece[0] == ' ' || piece[0] == '\t'));
    // While the header is open, the buffer holds nothing but the rest of it.
    const std::size_t size = progress.consumed + (open ? data.size() - used : 0);
    if (folded) {
      ec = bhttp::error::bad_value;
    } else if (size > kHeaderLimit) {
      ec = bhttp::error::header_limit;
    }
  }
  if (!piece.empty()) progress.line_ended = piece.back() == '\n';
  buffer.consume(used);
  return ec;
}

// Refuses a request whose body a proxy in front could frame otherwise than we do, which would
// read the rest as a request of its own: a Transfer-Encoding that does not end in chunked (the
// body then has no length) and any Transfer-Encoding in HTTP/1.0, which has none (RFC 9112
// §6.1). Checked once the header is parsed.
inline boost::system::error_code CheckFraming(const RequestParser& parser) {
  if (!parser.has_transfer_encoding()) return {};
  if (parser.chunked() && parser.version() >= 11) return {};
  return bhttp::error::bad_transfer_encoding;
}

// Refuses what RFC 9112 §3.2 asks a server to refuse: an HTTP/1.1 request without a Host
// field, and any request with more than one. Gatehouse reads no Host itself; a proxy or cache
// in front that took another of two would be naming another site than the one we answer for.
inline boost::system::error_code CheckHost(const RequestParser& parser) {
  const std::size_t hosts = parser.hosts();
  if (hosts > 1 || (hosts == 0 && parser.version() >= 11)) return bhttp::error::bad_value;
  return {};
}

}  // namespace gatehouse::request_reading

#endif  // GATEHOUSE_HTTP_REQUEST_READING_H_
