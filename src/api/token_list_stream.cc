#include "api/token_list_stream.h"

#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "api/render.h"

namespace gatehouse {

Result<std::shared_ptr<TokenListStream>> TokenListStream::Open(std::unique_ptr<TokenCursor> cursor,
                                                               std::size_t chunk_bytes) {
  std::shared_ptr<TokenListStream> stream(new TokenListStream(std::move(cursor), chunk_bytes));
  auto first = stream->cursor_->Next(stream->token_);
  if (!first) return std::unexpected(first.error());
  stream->has_token_ = *first;
  return stream;
}

BodySource::Piece TokenListStream::Next(std::string& chunk) {
  chunk.clear();
  if (!opened_) {
    chunk += "{\"tokens\":[";
    opened_ = true;
  }
  while (has_token_ && chunk.size() < chunk_bytes_) {
    if (!first_) chunk += ',';
    first_ = false;
    chunk += boost::json::serialize(TokenJson(token_));
    auto more = cursor_->Next(token_);
    if (!more) {
      // The status line is gone already: end the body incomplete, never a shorter list.
      spdlog::error("project token listing stopped early: {}", more.error().internal);
      return Piece::kBroken;
    }
    has_token_ = *more;
  }
  if (has_token_) return Piece::kMore;
  chunk += "]}";
  return Piece::kLast;
}

}  // namespace gatehouse
