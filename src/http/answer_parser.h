#ifndef GATEHOUSE_HTTP_ANSWER_PARSER_H_
#define GATEHOUSE_HTTP_ANSWER_PARSER_H_

// The parser of an upstream's answer: Beast's HTTP/1.1 response parser (framing, chunks, the
// connection's keep-alive) keeping of the head only what the gateway reads, the status and two
// fields, and of the body the bytes not yet handed over. A message parser would store every
// field the upstream sends (an allocation each) for the gateway to look at two of them. Part of
// http/upstream_client.cc, which alone includes it.

#include <algorithm>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/optional/optional.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse {

class AnswerParser final : public boost::beast::http::basic_parser<false> {
 public:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using field = boost::beast::http::field;

  int status() const { return status_; }
  // The first Content-Type and Retry-After of the head, empty when it has none.
  const std::string& content_type() const { return content_type_; }
  const std::string& retry_after() const { return retry_after_; }
  // The body's bytes parsed since the caller last took them.
  std::string& body() { return body_; }

 private:
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}

  void on_response_impl(int code, string_view, int, error_code&) override { status_ = code; }

  void on_field_impl(field name, string_view, string_view value, error_code&) override {
    // Of a field sent twice the first counts, as a message's operator[] would find it.
    if (name == field::content_type && !content_type_seen_) {
      content_type_.assign(value.data(), value.size());
      content_type_seen_ = true;
    } else if (name == field::retry_after && !retry_after_seen_) {
      retry_after_.assign(value.data(), value.size());
      retry_after_seen_ = true;
    }
  }

  void on_header_impl(error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    // A whole answer arrives at once as a rule: room for it, bounded by what one read brings.
    if (length) body_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, kReserve)));
  }

  std::size_t on_body_impl(string_view bytes, error_code&) override {
    body_.append(bytes.data(), bytes.size());
    return bytes.size();
  }

  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, string_view bytes, error_code&) override {
    body_.append(bytes.data(), bytes.size());
    return bytes.size();
  }

  void on_finish_impl(error_code&) override {}

  static constexpr std::uint64_t kReserve = 64 * 1024;

  int status_ = 0;
  std::string content_type_;
  std::string retry_after_;
  bool content_type_seen_ = false;
  bool retry_after_seen_ = false;
  std::string body_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_ANSWER_PARSER_H_
