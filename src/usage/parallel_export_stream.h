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

// Streams an export that has no skip and no count with several threads reading at once: the walk
// is cut into parts (RequestParts), and tasks queued on the transport's pool (WorkAheadWith)
// each make a few chunks of about `chunk_bytes`, each of a part no other thread is reading, the
// front part (the one being sent) first, and queue more while there is room; Next() hands out what
// is made in export order, up to two chunks a piece (NextInTwo: in two buffers), and makes the
// front part's next chunk itself when it has nothing to hand out; TryNextInTwo() hands out what is
// made without waiting. The bytes are those ExportStream writes for the same records. Memory stays
// flat however many records match: at most kMaxOpenParts parts are open (each with its own store
// connection, read by one thread at a time), and at most kMaxHeldChunks + 1 chunks are held or
// being made. Holds `slot` (when given) until it is destroyed, or aborted and no thread reads.
// The lock is held only for bookkeeping, never over store work. Without WorkAheadWith, Next()
// makes every chunk itself, one part at a time.
class ParallelExportStream final : public BodySource {
 public:
  // The bounds below were chosen on two cores: larger ones (4 parts, 3 tasks, 6 chunks) were
  // no faster there and held more memory per export (docs/BENCHMARKS.md, 2026-11-30 evening).
  static constexpr std::size_t kMaxOpenParts = 3;
  // Chunks made and not handed out, and chunks being made, together: a part other than the
  // front one is read only below it. The front part's next chunk is made whatever is held, so
  // at most kMaxHeldChunks + 1 are held or being made.
  static constexpr std::size_t kMaxHeldChunks = 4;
  // WorkAhead() tasks queued or running at once: fewer than kMaxOpenParts, so that Next()
  // finds a part to read as well when nothing is made.
  static constexpr std::size_t kAheadTasks = 2;
  // Chunks a WorkAhead() task makes before it queues the next task.
  static constexpr std::size_t kChunksPerTask = 4;
  // The output a part is sized for (NextPartSpan), in chunks: a part ends in a short chunk.
  static constexpr std::size_t kChunksPerPart = 2;

  // `parts` was opened with at most kMaxOpenParts open at once.
  ParallelExportStream(std::unique_ptr<RequestParts> parts, ExportFormat format,
                       std::size_t chunk_bytes = 64 * 1024, ExportSlots::Slot slot = {});
  ~ParallelExportStream() override;

  Piece Next(std::string& chunk) override;
  Piece NextInTwo(std::string& chunk, std::string& rest) override;
  bool WorkAheadWith(QueueTask queue) override;
  std::optional<Piece> TryNextInTwo(std::string& chunk, std::string& rest) override;
  void Abort() override;

 private:
  struct Part;

  // One task queued by QueueAhead(): makes up to kChunksPerTask chunks, then queues more when
  // it made one.
  void WorkAhead();
  // Queues tasks for WorkAhead() while one could make a chunk: up to kAheadTasks, and no more
  // than the held chunks leave room for.
  void QueueAhead();
  // After Abort(): drops the parts, their connections and the slot once no thread is reading
  // or opening a part.
  void DropPartsIfIdle();
  // Opens the next part with `lock` released (one thread at a time), so that the lock is never
  // held over store work. False when none was opened (none is left, the stream failed or was
  // aborted).
  bool OpenPart(std::unique_lock<std::mutex>& lock);

  // Makes one chunk of a part, with `lock` released while it reads: when `front`, of the front
  // part if nothing of it is made or being made; else, while fewer than kMaxHeldChunks wait, of
  // the first part in export order that is neither being read nor finished. Either opens the
  // next part when it found none to make. False when there was nothing it could make.
  bool MakeChunk(std::unique_lock<std::mutex>& lock, bool front);
  // True when HandOut() would hand out a full chunk's worth, or the rest of the export.
  bool ReadyToHandOut() const;
  // Moves made chunks of the front parts in order into `chunk` (the first) and `rest` (the
  // others), dropping finished parts, until one is not made yet or (after one at least) the
  // two hold two chunks' worth.
  void HandOut(std::string& chunk, std::string& rest);
  // How many milliseconds the next part should span: about kChunksPerPart chunks of output at
  // the rate the finished parts made it (0, the store's choice, before any part has finished).
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
  std::size_t reading_ = 0;      // threads making a chunk or opening a part now
  bool opening_ = false;         // a thread is opening a part
  std::size_t ahead_tasks_ = 0;  // WorkAhead() tasks queued or running
  QueueTask queue_;              // empty without WorkAheadWith() and after Abort()
  bool aborted_ = false;
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
