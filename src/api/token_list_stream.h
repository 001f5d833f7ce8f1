#ifndef GATEHOUSE_API_TOKEN_LIST_STREAM_H_
#define GATEHOUSE_API_TOKEN_LIST_STREAM_H_

#include <cstddef>
#include <memory>
#include <string>

#include "core/body_source.h"
#include "core/error.h"
#include "core/model.h"
#include "directory/token_directory.h"  // TokenCursor

namespace gatehouse {

// Streams {"tokens":[token, …]} (API.md §4, tokens of a project) from a token cursor in pieces
// of about `chunk_bytes`: each token is rendered by TokenJson and serialized as a whole JSON
// answer is (WriteJson), so the bytes are the same as those of the answer built in memory, which
// never exists. A store failure after the first piece ends the body broken (the client never
// sees a well-formed list with tokens missing) and is logged.
class TokenListStream final : public BodySource {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;

  // Reads the first token before anything is sent, so that a store failure there is an error
  // answer (returned) instead of a broken body.
  static Result<std::shared_ptr<TokenListStream>> Open(std::unique_ptr<TokenCursor> cursor,
                                                       std::size_t chunk_bytes = kChunkBytes);

  Piece Next(std::string& chunk) override;

 private:
  TokenListStream(std::unique_ptr<TokenCursor> cursor, std::size_t chunk_bytes)
      : cursor_(std::move(cursor)), chunk_bytes_(chunk_bytes) {}

  std::unique_ptr<TokenCursor> cursor_;
  const std::size_t chunk_bytes_;
  ApiToken token_;          // the next token to write, when `has_token_`
  bool has_token_ = false;  // false once the cursor has ended
  bool opened_ = false;     // the opening bracket is written
  bool first_ = true;       // no token is written yet
};

}  // namespace gatehouse

#endif  // GATEHOUSE_API_TOKEN_LIST_STREAM_H_
