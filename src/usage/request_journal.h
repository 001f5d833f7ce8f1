#ifndef GATEHOUSE_USAGE_REQUEST_JOURNAL_H_
#define GATEHOUSE_USAGE_REQUEST_JOURNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model.h"

namespace gatehouse {

// One journal frame: little-endian u32 payload length, u32 CRC32 of the payload, then the
// payload (every field of `record`, in declaration order).
std::string EncodeJournalFrame(const RequestRecord& record);
// Appends the frame of `record` to `out` (what EncodeJournalFrame returns), growing `out` once.
void AppendJournalFrame(std::string& out, const RequestRecord& record);

// The records of the whole, intact frames at the start of `bytes`, in order. Stops at the first
// frame that is cut short or whose checksum or payload is wrong (a write the crash tore).
std::vector<RequestRecord> DecodeJournalFrames(std::string_view bytes);

// The append-only request journal of a data directory (docs/architecture.md "Request journal"):
// segment files `requests-<generation>.journal`, written with one write() of one or more whole
// frames at a time to the active segment. A record written is in the kernel's page cache, so it
// survives the death of the process (kill -9), not a crash of the machine (nothing is fsync'd).
//
// The request log rotates: it activates a new segment, and removes the old one once every
// record written to it is in the store. Segments found at Open belong to an earlier process;
// their records are read with ReadLeftovers and removed with RemoveLeftovers.
//
// Not thread-safe: the request log calls it under its own lock, except OpenNext.
class RequestJournal {
 public:
  // A segment file opened for appending; closes its descriptor when destroyed.
  class Segment {
   public:
    Segment() = default;
    Segment(int fd, std::uint64_t generation, std::string path)
        : fd_(fd), generation_(generation), path_(std::move(path)) {}
    Segment(Segment&& other) noexcept;
    Segment& operator=(Segment&& other) noexcept;
    Segment(const Segment&) = delete;
    Segment& operator=(const Segment&) = delete;
    ~Segment();

    bool is_open() const { return fd_ >= 0; }
    std::uint64_t generation() const { return generation_; }
    const std::string& path() const { return path_; }

   private:
    friend class RequestJournal;
    int fd_ = -1;
    std::uint64_t generation_ = 0;
    std::string path_;
    std::uint64_t size_ = 0;  // bytes of whole frames written
  };

  explicit RequestJournal(std::string directory) : directory_(std::move(directory)) {}
  RequestJournal(const RequestJournal&) = delete;
  RequestJournal& operator=(const RequestJournal&) = delete;

  // Finds the segments an earlier process left and opens a new active segment after them.
  Status Open();
  // The records of the segments an earlier process left, oldest first.
  Result<std::vector<RequestRecord>> ReadLeftovers() const;
  // Removes those segments (once their records are in the store).
  void RemoveLeftovers();

  // Appends whole frames to the active segment with one write(); false when the write failed or
  // was short (the segment is cut back to its last whole frame).
  bool Append(std::string_view frames);
  // True when the active segment holds a frame, or could not be written to any more: time to
  // activate a new one.
  bool needs_rotation() const { return active_.size_ > 0 || active_.fd_ < 0; }

  // Opens the segment that follows the active one. Touches no state but the generation
  // counter read: safe to call without the request log's lock while only the writer rotates.
  Result<Segment> OpenNext() const;
  // Makes `next` the active segment; the former active segment is returned (still on disk).
  Segment Activate(Segment next);
  // Removes a segment whose records are all in the store.
  static void Remove(Segment segment);

 private:
  std::string directory_;
  Segment active_;
  std::vector<std::string> leftovers_;  // oldest first
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_REQUEST_JOURNAL_H_
