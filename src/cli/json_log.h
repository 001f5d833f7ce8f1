#ifndef GATEHOUSE_CLI_JSON_LOG_H_
#define GATEHOUSE_CLI_JSON_LOG_H_

namespace gatehouse {

// Makes spdlog's default logger write one JSON object per line to stderr:
// {"time":"…Z","level":"info","msg":"…"}, with the message escaped so that every line stays
// valid JSON whatever it contains (quotes from SQLite errors, control characters, bytes that
// are not UTF-8). Call once at start-up.
void ConfigureJsonLogging();

}  // namespace gatehouse

#endif  // GATEHOUSE_CLI_JSON_LOG_H_
