#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <string_view>

#include "store/postgres/pg_store.h"

// How a node hears of token changes other nodes commit: NOTIFY inside each writing
// transaction, LISTEN on a connection of the watcher's own.
namespace gatehouse {

namespace {

constexpr const char* kChannel = "gatehouse_tokens";
// The payload of a notification of StoreChange::kAssistants; kTokens has none.
constexpr const char* kAssistantsPayload = "assistants";
constexpr int kReconnectMs = 500;
// A wait for notifications ends this often even without one (to notice a dead connection).
constexpr int kPollMs = 1000;

}  // namespace

Status PgStore::NotifyChange(pg::Connection& c, StoreChange change) {
  // Delivered at commit, and once per transaction and payload however many rows it changed.
  return c.Run("SELECT pg_notify($1, $2)",
               pg::Params().Text(kChannel).Text(
                   change == StoreChange::kAssistants ? kAssistantsPayload : ""));
}

void PgStore::WatchChanges(std::function<void(StoreChange)> on_change) {
  std::lock_guard lock(watch_mutex_);
  on_change_ = std::move(on_change);
  if (on_change_ && !listener_.joinable()) {
    listen_stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    listener_ = std::thread([this] { ListenForChanges(); });
  }
}

void PgStore::ListenForChanges() {
  std::unique_ptr<pg::Connection> connection;
  auto report = [this](StoreChange change) {
    std::lock_guard lock(watch_mutex_);
    if (on_change_) on_change_(change);
  };
  for (;;) {
    int wait_ms = kPollMs;
    if (!connection) {
      auto opened = pg::Connection::Open(options_.url);
      if (opened && (*opened)->Run(std::string("LISTEN ") + kChannel)) {
        connection = std::move(*opened);
        // Whatever was sent while nobody listened.
        report(StoreChange::kTokens);
        report(StoreChange::kAssistants);
      } else {
        wait_ms = kReconnectMs;
      }
    }
    pollfd fds[2] = {{listen_stop_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    if (connection) fds[1].fd = PQsocket(connection->handle());
    ::poll(fds, connection ? 2 : 1, wait_ms);
    if (fds[0].revents & POLLIN) return;
    if (!connection) continue;
    PGconn* conn = connection->handle();
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
      connection.reset();
      continue;
    }
    bool tokens = false;
    bool assistants = false;
    while (PGnotify* note = PQnotifies(conn)) {
      (std::string_view(note->extra) == kAssistantsPayload ? assistants : tokens) = true;
      PQfreemem(note);
    }
    if (tokens) report(StoreChange::kTokens);
    if (assistants) report(StoreChange::kAssistants);
  }
}

}  // namespace gatehouse
