#include "usage/parallel_export_stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>

namespace gatehouse {

struct ParallelExportStream::Part {
  Part(RequestPart part, ExportFormat format)
      : cursor(std::move(part.cursor)), span_ms(part.span_ms), writer(format, true) {}

  std::unique_ptr<RequestCursor> cursor;  // reset once the part is read to its end
  TimeMs span_ms;
  ExportWriter writer;             // writes every JSON item with its comma; HandOut drops the first
  std::deque<std::string> chunks;  // made, not yet handed out
  std::size_t bytes = 0;           // made so far
  bool reading = false;            // a thread is making a chunk of it
  bool finished = false;
};

ParallelExportStream::ParallelExportStream(std::unique_ptr<RequestParts> parts, ExportFormat format,
                                           std::size_t chunk_bytes, ExportSlots::Slot slot)
    : format_(format),
      chunk_bytes_(std::max<std::size_t>(1, chunk_bytes)),
      writer_(format),
      parts_source_(std::move(parts)),
      slot_(std::move(slot)) {}

ParallelExportStream::~ParallelExportStream() = default;

TimeMs ParallelExportStream::NextPartSpan() const {
  // Spans double while nothing matches; far below the range of TimeMs.
  constexpr double kLongest = 1e15;
  if (span_made_ms_ == 0) return 0;
  const double span = bytes_made_ > 0 ? static_cast<double>(kChunksPerPart * chunk_bytes_) *
                                            span_made_ms_ / bytes_made_
                                      : 2 * span_made_ms_;
  return static_cast<TimeMs>(std::clamp(span, 1.0, kLongest));
}

bool ParallelExportStream::OpenPart(std::unique_lock<std::mutex>& lock) {
  opening_ = true;
  ++reading_;  // keeps parts_source_ from being dropped meanwhile
  const TimeMs span = NextPartSpan();
  bool opened = false;
  {
    Result<RequestPart> next = RequestPart{};
    lock.unlock();
    try {
      next = parts_source_->Next(span);
    } catch (const std::exception& e) {
      next = std::unexpected(Error(ErrorCode::kInternal, {}, e.what()));
    } catch (...) {
      next = std::unexpected(Error(ErrorCode::kInternal, {}, "opening a request part failed"));
    }
    lock.lock();
    opening_ = false;
    --reading_;
    if (!next) {
      error_ = next.error();
    } else if (!next->cursor) {
      parts_done_ = true;
    } else if (!aborted_) {
      parts_.push_back(std::make_unique<Part>(std::move(*next), format_));
      opened = true;
    }
  }  // a part opened for an aborted stream gives its connection back here
  made_.notify_all();
  if (aborted_) DropPartsIfIdle();
  return opened;
}

bool ParallelExportStream::MakeChunk(std::unique_lock<std::mutex>& lock, bool front) {
  if (error_ || aborted_ || !parts_source_) return false;
  Part* part = nullptr;
  if (front) {
    if (!parts_.empty()) {
      Part& first = *parts_.front();
      if (first.reading || first.finished || !first.chunks.empty()) return false;
      part = &first;
    }
  } else {
    // Chunks being made count against the bound; only the front part's (above) is exempt, so
    // that what Next() waits for is always being made.
    if (held_chunks_ + reading_ >= kMaxHeldChunks) return false;
    for (std::size_t i = 0; i < parts_.size() && !part; ++i) {
      if (!parts_[i]->reading && !parts_[i]->finished) part = parts_[i].get();
    }
  }
  if (!part) {
    if (opening_ || parts_done_ || parts_.size() >= kMaxOpenParts) return false;
    if (!OpenPart(lock)) return false;
    part = parts_.back().get();
  }

  part->reading = true;
  ++reading_;
  std::string made;
  if (!spare_.empty()) {
    made.swap(spare_.back());
    spare_.pop_back();
  }
  lock.unlock();
  std::optional<Error> failed;
  bool ended = false;
  // Nothing may leave this part marked as being read: Next() would wait for it forever.
  try {
    made.reserve(chunk_bytes_ + chunk_bytes_ / 8);
    const RequestCursor::Visitor write = [&](const RequestRecordView& record) {
      part->writer.Item(made, record);
      return made.size() < chunk_bytes_;
    };
    while (made.size() < chunk_bytes_) {
      auto read = part->cursor->Read(write);
      if (!read) {
        failed = read.error();
        break;
      }
      if (*read == 0) {
        ended = true;
        break;
      }
    }
  } catch (const std::exception& e) {
    failed = Error(ErrorCode::kInternal, {}, e.what());
  } catch (...) {
    failed = Error(ErrorCode::kInternal, {}, "reading a request part failed");
  }
  lock.lock();

  part->reading = false;
  --reading_;
  part->bytes += made.size();
  if (failed) error_ = std::move(failed);
  if (!made.empty()) {
    part->chunks.push_back(std::move(made));
    ++held_chunks_;
  } else {
    spare_.push_back(std::move(made));
  }
  if (ended) {
    part->finished = true;
    part->cursor.reset();
    span_made_ms_ += static_cast<double>(part->span_ms);
    bytes_made_ += static_cast<double>(part->bytes);
  }
  made_.notify_all();
  if (aborted_) DropPartsIfIdle();
  return true;
}

void ParallelExportStream::HandOut(std::string& chunk, std::string& rest) {
  for (bool handed = false;
       !parts_.empty() && !(handed && chunk.size() + rest.size() >= 2 * chunk_bytes_);) {
    Part& first = *parts_.front();
    if (first.chunks.empty()) {
      if (!first.finished) return;
      parts_.pop_front();
      continue;
    }
    std::string& made = first.chunks.front();
    // Every item was written with the comma that follows an earlier one: not the first one.
    const std::size_t comma = format_ == ExportFormat::kJson && !items_handed_out_ ? 1 : 0;
    items_handed_out_ = true;
    // The first chunk goes to `chunk`, later ones to `rest`: moved, not copied, where empty.
    std::string& into = handed ? rest : chunk;
    handed = true;
    if (into.empty() && comma == 0) {
      into.swap(made);  // the piece's old buffer is kept for a later chunk
    } else {
      into.append(made, comma);
    }
    made.clear();
    spare_.push_back(std::move(made));
    first.chunks.pop_front();
    --held_chunks_;
  }
}

BodySource::Piece ParallelExportStream::Next(std::string& chunk) {
  std::string rest;
  const Piece piece = NextInTwo(chunk, rest);
  chunk += rest;
  return piece;
}

BodySource::Piece ParallelExportStream::NextInTwo(std::string& chunk, std::string& rest) {
  chunk.clear();
  rest.clear();
  std::unique_lock lock(mutex_);
  if (aborted_ || !parts_source_) return Piece::kBroken;
  if (!begun_) {
    writer_.Begin(chunk);
    begun_ = true;
  }
  const std::size_t opening = chunk.size();
  bool worked = false;
  for (;;) {
    HandOut(chunk, rest);
    QueueAhead();  // into the room handed out
    if (error_) {
      // The status line is gone already: the client must see an incomplete body, never a
      // well-formed export with rows missing.
      spdlog::error("export stopped early: {}", error_->internal);
      return Piece::kBroken;
    }
    if (parts_.empty() && parts_done_) {
      writer_.End(rest.empty() ? chunk : rest);
      return Piece::kLast;
    }
    const bool have = chunk.size() + rest.size() > opening;
    if (have && (worked || chunk.size() + rest.size() >= chunk_bytes_)) return Piece::kMore;
    // Each call makes one chunk when too little is made (the front part's when it needs one).
    if (!worked && (MakeChunk(lock, true) || MakeChunk(lock, false))) {
      worked = true;
      continue;
    }
    if (have) return Piece::kMore;
    if (MakeChunk(lock, true)) continue;
    // Waits only while another thread is making the front part's next chunk or opening the
    // next part: the MakeChunk calls above may have released the lock, and what was seen before
    // them (say, a part still being read) may have changed without a notification to come.
    const bool front_busy = parts_.empty() ? opening_ : parts_.front()->reading;
    if (!front_busy) continue;
    made_.wait(lock);
  }
}

bool ParallelExportStream::WorkAheadWith(QueueTask queue) {
  std::lock_guard lock(mutex_);
  if (aborted_) return false;
  queue_ = std::move(queue);
  QueueAhead();
  return true;
}

bool ParallelExportStream::ReadyToHandOut() const {
  std::size_t made = 0;
  for (const auto& part : parts_) {
    for (const std::string& chunk : part->chunks) made += chunk.size();
    if (made >= chunk_bytes_) return true;
    if (!part->finished) return false;
  }
  return parts_done_;
}

std::optional<BodySource::Piece> ParallelExportStream::TryNextInTwo(std::string& chunk,
                                                                    std::string& rest) {
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock || !begun_ || aborted_ || error_ || !ReadyToHandOut()) return std::nullopt;
  chunk.clear();
  rest.clear();
  HandOut(chunk, rest);
  QueueAhead();  // into the room handed out
  if (parts_.empty() && parts_done_) {
    writer_.End(rest.empty() ? chunk : rest);
    return Piece::kLast;
  }
  return Piece::kMore;
}

void ParallelExportStream::QueueAhead() {
  const auto can_read = [this] {
    if (!parts_done_ && !opening_ && parts_.size() < kMaxOpenParts) return true;
    return std::any_of(parts_.begin(), parts_.end(),
                       [](const auto& part) { return !part->reading && !part->finished; });
  };
  // The front part's next chunk is made whatever is held: a task queued for it makes it first.
  const auto front_waits = [this] {
    if (parts_.empty()) return !parts_done_ && !opening_;
    const Part& first = *parts_.front();
    return !first.reading && !first.finished && first.chunks.empty();
  };
  while (queue_ && !error_ && !aborted_ && ahead_tasks_ < kAheadTasks &&
         ((held_chunks_ + ahead_tasks_ < kMaxHeldChunks && can_read()) ||
          (ahead_tasks_ == 0 && front_waits()))) {
    ++ahead_tasks_;
    queue_([this] { WorkAhead(); });
  }
}

void ParallelExportStream::WorkAhead() {
  std::unique_lock lock(mutex_);
  // A few chunks per task, not one: each task costs a wake-up of a pool thread; and not the
  // whole export, which would hold the pool thread from other work for its whole length.
  bool made = false;
  try {
    for (std::size_t i = 0; i < kChunksPerTask && (MakeChunk(lock, true) || MakeChunk(lock, false));
         ++i) {
      made = true;
    }
  } catch (...) {
    // Only MakeChunk's bookkeeping under the lock can throw (out of memory): the export stops
    // with an incomplete body rather than go on without a chunk.
    if (!lock.owns_lock()) lock.lock();
    if (!error_) error_ = Error(ErrorCode::kInternal, {}, "making an export chunk failed");
    made_.notify_all();
    made = false;
  }
  --ahead_tasks_;
  if (made) QueueAhead();
}

void ParallelExportStream::DropPartsIfIdle() {
  if (reading_ > 0) return;
  parts_.clear();
  parts_source_.reset();
  slot_ = {};
}

void ParallelExportStream::Abort() {
  std::lock_guard lock(mutex_);
  aborted_ = true;
  queue_ = nullptr;
  DropPartsIfIdle();
}

}  // namespace gatehouse
