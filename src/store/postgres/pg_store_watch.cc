#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store/postgres/pg_store.h"

// How a node hears of token changes other nodes commit: NOTIFY inside each writing
// transaction, LISTEN on a connection of the watcher's own.
namespace gatehouse {

namespace {

constexpr const char* kChannel = "gatehouse_tokens";
constexpr int kReconnectMs = 500;
// A wait for notifications ends this often even without one (to notice a dead connection).
constexpr int kPollMs = 1000;

}  // namespace

Status PgStore::NotifyTokenChange(pg::Connection& c) {
  // Delivered at commit, and once per transaction however many tokens it changed.
  return c.Run("SELECT pg_notify($1, '')", pg::Params().Text(kChannel));
}

void PgStore::WatchTokenChanges(std::function<void()> on_change) {
  std::lock_guard lock(watch_mutex_);
  on_change_ = std::move(on_change);
  if (on_change_ && !listener_.joinable()) {
    listen_stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    listener_ = std::thread([this] { ListenForTokenChanges(); });
  }
}

void PgStore::ListenForTokenChanges() {
  std::unique_ptr<pg::Connection> connection;
  auto report = [this] {
    std::lock_guard lock(watch_mutex_);
    if (on_change_) on_change_();
  };
  for (;;) {
    int wait_ms = kPollMs;
    if (!connection) {
      auto opened = pg::Connection::Open(options_.url);
      if (opened && (*opened)->Run(std::string("LISTEN ") + kChannel)) {
        connection = std::move(*opened);
        report();  // whatever was sent while nobody listened
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
    bool changed = false;
    while (PGnotify* note = PQnotifies(conn)) {
      changed = true;
      PQfreemem(note);
    }
    if (changed) report();
  }
}

}  // namespace gatehouse
