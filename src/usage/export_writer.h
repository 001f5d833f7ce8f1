#ifndef GATEHOUSE_USAGE_EXPORT_WRITER_H_
#define GATEHOUSE_USAGE_EXPORT_WRITER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/body_source.h"
#include "core/model.h"
#include "store/store.h"
#include "usage/export_slots.h"

namespace gatehouse {

enum class ExportFormat { kJson, kCsv, kNdjson };

std::optional<ExportFormat> ParseExportFormat(std::string_view text);  // case-insensitive
std::string_view ContentTypeOf(ExportFormat format);

// Formats request records as the export of API.md §4: JSON {"items":[…]}, CSV (a header row,
// RFC 4180 quoting, null as an empty field; a text cell starting with '=', '+', '-', '@', tab
// or carriage return is quoted with a leading apostrophe so that no spreadsheet runs it as a
// formula) or NDJSON (one item per line). Field order is the same in all three.
class ExportWriter {
 public:
  // `follows_items`: every item is written as if others came before it (a JSON item starts
  // with its comma), for items that will be placed after other writers' items.
  explicit ExportWriter(ExportFormat format, bool follows_items = false)
      : format_(format), first_(!follows_items) {}

  void Begin(std::string& out);
  void Item(std::string& out, const RequestRecord& record);
  // The same for a record read in place (RequestCursor::Read).
  void Item(std::string& out, const RequestRecordView& record);
  void End(std::string& out);

  // The date text ("YYYY-MM-DDT") of the UTC day of the last timestamp written. Records come in
  // time order, so most rows' dates are copied from it instead of worked out again.
  struct DayText {
    std::int64_t day = -1;  // days since 1970-01-01; -1: none yet
    char text[11] = {};
  };

 private:
  ExportFormat format_;
  bool first_;
  DayText day_;
};

// Streams an export from a store cursor in pieces of about `chunk_bytes`, so that memory stays
// flat however many records match. Holds `slot` (when given) until it is destroyed.
class ExportStream final : public BodySource {
 public:
  ExportStream(std::unique_ptr<RequestCursor> cursor, ExportFormat format,
               std::size_t chunk_bytes = 64 * 1024, ExportSlots::Slot slot = {});

  Piece Next(std::string& chunk) override;
  // Gives back the slot and the store cursor at once, before the stream itself is destroyed.
  void Abort() override;

 private:
  std::unique_ptr<RequestCursor> cursor_;
  ExportWriter writer_;
  std::size_t chunk_bytes_;
  bool begun_ = false;
  ExportSlots::Slot slot_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_EXPORT_WRITER_H_
