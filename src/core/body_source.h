#ifndef GATEHOUSE_CORE_BODY_SOURCE_H_
#define GATEHOUSE_CORE_BODY_SOURCE_H_

#include <string>

namespace gatehouse {

// A response body produced piece by piece, sent as each piece is ready (server-sent events,
// large exports). Next() may block: the server calls it on its pool for blocking work, never on
// an event loop thread, and never concurrently.
class BodySource {
 public:
  enum class Piece {
    kMore,    // `chunk` is one piece; more follow
    kLast,    // `chunk` is the last piece; the body is complete
    kBroken,  // `chunk` is the last piece that can be sent; the body cannot be completed, so
              // the connection is closed without the end-of-body marker (the client sees it)
  };

  virtual ~BodySource() = default;
  // Replaces `chunk` with the next piece (possibly empty).
  virtual Piece Next(std::string& chunk) = 0;
  // The client went away before the end; Next() will not be called again.
  virtual void Abort() {}
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_BODY_SOURCE_H_
