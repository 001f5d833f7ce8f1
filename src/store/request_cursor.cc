#include "store/store.h"

namespace gatehouse {
namespace {

void AssignText(std::optional<std::string>& out, const std::optional<std::string_view>& text) {
  if (!text) {
    out.reset();
  } else if (out) {
    out->assign(*text);
  } else {
    out.emplace(*text);
  }
}

}  // namespace

void AssignRecord(RequestRecord& record, const RequestRecordView& view) {
  record.id.assign(view.id);
  record.organization_id.assign(view.organization_id);
  record.project_id.assign(view.project_id);
  record.api_token_id.assign(view.api_token_id);
  record.api_token_name.assign(view.api_token_name);
  AssignText(record.assistant, view.assistant);
  AssignText(record.intent, view.intent);
  record.module.assign(view.module);
  AssignText(record.session_id, view.session_id);
  record.model.assign(view.model);
  record.status.assign(view.status);
  record.http_status = view.http_status;
  record.start_ms = view.start_ms;
  record.end_ms = view.end_ms;
  record.prompt_tokens = view.prompt_tokens;
  record.completion_tokens = view.completion_tokens;
  record.total_tokens = view.total_tokens;
  record.cost = view.cost;
  AssignText(record.prompt, view.prompt);
  AssignText(record.input_text, view.input_text);
  AssignText(record.output, view.output);
}

Result<bool> RequestCursor::Next(RequestRecord& record) {
  auto read = Read([&record](const RequestRecordView& view) {
    AssignRecord(record, view);
    return false;
  });
  if (!read) return std::unexpected(read.error());
  return *read > 0;
}

}  // namespace gatehouse
