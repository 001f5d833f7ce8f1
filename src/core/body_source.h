#ifndef GATEHOUSE_CORE_BODY_SOURCE_H_
#define GATEHOUSE_CORE_BODY_SOURCE_H_

#include <functional>
#include <optional>
#include <string>

namespace gatehouse {

// How a piece of a streamed body relates to the rest.
enum class BodyPiece {
  kMore,    // the chunk is one piece; more follow
  kLast,    // the chunk is the last piece; the body is complete
  kBroken,  // the chunk is the last piece that can be sent; the body cannot be completed, so
            // the transport ends it without its end-of-body marker (the client sees it)
};

// A response body produced piece by piece by blocking work (large exports). Next() may block:
// the transport calls it on its small pool for blocking work, never on an event loop thread,
// and never concurrently.
class BodySource {
 public:
  using Piece = BodyPiece;

  virtual ~BodySource() = default;
  // Replaces `chunk` with the next piece (possibly empty).
  virtual Piece Next(std::string& chunk) = 0;
  // The same with the piece in two parts, `chunk` then `rest`, for a source that holds it in
  // two buffers: the transport sends them as one piece without joining them.
  virtual Piece NextInTwo(std::string& chunk, std::string& rest) {
    rest.clear();
    return Next(chunk);
  }
  // The client went away before the end; Next() will not be called again.
  virtual void Abort() {}

  // Queues a task on the transport's pool for blocking work; the queued task keeps the source
  // alive until it has run.
  using QueueTask = std::function<void(std::function<void()> task)>;
  // Called once, before the first Next(), by a transport that lets the source use more threads
  // than the one calling Next(): the source may queue work with `queue` whenever it likes (until
  // Abort()), making later pieces, or parts of them, for Next() to hand out, and bounds what it
  // holds and how much it queues. True when it will: the transport then asks for each piece only
  // once the one before it is written (the source holds what it makes meanwhile), trying
  // TryNextInTwo() first.
  virtual bool WorkAheadWith(QueueTask /*queue*/) { return false; }
  // For a source that works ahead: NextInTwo() when it would not wait (for a lock or for a piece
  // being made), else nullopt and nothing changed. Called on an event loop thread, never
  // concurrently with NextInTwo(), and never for the first piece.
  virtual std::optional<Piece> TryNextInTwo(std::string& /*chunk*/, std::string& /*rest*/) {
    return std::nullopt;
  }
};

// A response body produced piece by piece without blocking (a relayed provider stream). The
// transport asks for the next piece only once the previous one is written to the client, so a
// slow client slows its producer instead of growing a buffer.
class AsyncBodySource {
 public:
  using Piece = BodyPiece;
  // Called exactly once per Next(), on the event loop that called Next() (possibly before Next()
  // returns).
  using Callback = std::function<void(Piece piece, std::string chunk)>;

  virtual ~AsyncBodySource() = default;
  // Starts producing the next piece. Called on the connection's event loop; must not block;
  // never called again before `done` has run.
  virtual void Next(Callback done) = 0;
  // The client went away; Next() will not be called again and an outstanding `done` may be
  // dropped. Called on the connection's event loop.
  virtual void Abort() {}
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_BODY_SOURCE_H_
