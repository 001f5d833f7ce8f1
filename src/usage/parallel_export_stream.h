#ifndef GATEHOUSE_USAGE_PARALLEL_EXPORT_STREAM_H_
#define GATEHOUSE_USAGE_PARALLEL_EXPORT_STREAM_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/body_source.h"
#include "core/error.h"
#include "store/store.h"
#include "usage/export_slots.h"
#include "usage/export_writer.h"

namespace gatehouse {

// Streams an export that has no skip and no count with two threads reading at once: the walk
// is cut into parts (RequestParts), and Next() and WorkAhead() each make one chunk of about
// `chunk_bytes` of a part at a time, the front part (the one being sent) first; Next() hands
// out what is made in export order, up to two chunks a piece (NextInTwo: in two buffers). The bytes
// are those ExportStream writes for the same records. Memory stays flat however many records match:
// at most kMaxOpenParts parts are open (each with its own store connection) and kMaxHeldChunks
// chunks wait to be handed out. Holds `slot` (when given) until it is destroyed or aborted. Next()
// and WorkAhead() may run at the same time (BodySource::WorksAhead).
class ParallelExportStream final : public BodySource {
 public:
  static constexpr std::size_t kMaxOpenParts = 2;
  static constexpr std::size_t kMaxHeldChunks = 2;

  // `parts` was opened with at most kMaxOpenParts open at once.
  ParallelExportStream(std::unique_ptr<RequestParts> parts, ExportFormat format,
                       std::size_t chunk_bytes = 64 * 1024, ExportSlots::Slot slot = {});
  ~ParallelExportStream() override;

  Piece Next(std::string& chunk) override;
  Piece NextInTwo(std::string& chunk, std::string& rest) override;
  bool WorksAhead() const override { return true; }
  void WorkAhead() override;
  void Abort() override;

 private:
  struct Part;

  // Makes one chunk of a part, with `lock` released while it reads: of the front part when
  // `front`, else of the first later part that is not being read while fewer than
  // kMaxHeldChunks wait; either opens the next part when it found none to make. False when
  // there was nothing it could make.
  bool MakeChunk(std::unique_lock<std::mutex>& lock, bool front);
  // Moves made chunks of the front parts in order into `chunk` (the first) and `rest` (the
  // others), dropping finished parts, until one is not made yet or (after one at least) the
  // two hold two chunks' worth.
  void HandOut(std::string& chunk, std::string& rest);
  // How many milliseconds the next part should span: about one chunk of output at the rate
  // the finished parts made it (0, the store's choice, before any part has finished).
  TimeMs NextPartSpan() const;

  const ExportFormat format_;
  const std::size_t chunk_bytes_;
  ExportWriter writer_;  // the export's opening and closing text only

  std::mutex mutex_;  // guards everything below
  std::condition_variable made_;
  std::unique_ptr<RequestParts> parts_source_;  // before parts_: their cursors are its
  std::deque<std::unique_ptr<Part>> parts_;     // open parts in export order
  bool parts_done_ = false;                     // the last part has been opened
  std::size_t held_chunks_ = 0;
  std::vector<std::string> spare_;  // emptied chunk buffers, kept for their capacity
  double span_made_ms_ = 0;         // the milliseconds finished parts spanned, for NextPartSpan
  double bytes_made_ = 0;           // and the bytes they made
  std::optional<Error> error_;
  bool begun_ = false;
  bool items_handed_out_ = false;
  ExportSlots::Slot slot_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_PARALLEL_EXPORT_STREAM_H_
