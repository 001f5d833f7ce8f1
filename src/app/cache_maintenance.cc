#include "app/cache_maintenance.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/thread_priority.h"

namespace gatehouse {

CacheMaintenance::CacheMaintenance(TokenDirectory& tokens, std::chrono::milliseconds interval,
                                   ConsoleSignOuts* sign_outs, AssistantDirectory* assistants)
    : tokens_(tokens),
      sign_outs_(sign_outs),
      assistants_(assistants),
      interval_(interval),
      thread_([this] { Run(); }),
      search_thread_([this] { RunSearch(); }) {}

CacheMaintenance::~CacheMaintenance() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  search_thread_.join();
}

void CacheMaintenance::SyncSoon(StoreChange change) {
  {
    std::lock_guard lock(mutex_);
    sync_soon_ = true;
    if (change == StoreChange::kAssistants) assistants_changed_ = true;
  }
  wake_.notify_all();
}

bool CacheMaintenance::Wait(bool* early) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, interval_, [&] { return stopping_ || (early && *early); });
  if (early) *early = false;
  return !stopping_;
}

void CacheMaintenance::RunSearch() {
  YieldToEventLoops();
  // Loaded here rather than at start-up, so that serving does not wait for it; searches run
  // without it meanwhile.
  const auto started = std::chrono::steady_clock::now();
  if (auto refreshed = tokens_.RefreshSearch(); !refreshed) {
    spdlog::error("token search index load failed: {}", refreshed.error().internal);
  } else {
    spdlog::info("token search index loaded in {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
  }
  while (Wait()) {
    if (auto refreshed = tokens_.RefreshSearch(); !refreshed) {
      spdlog::error("token search index refresh failed: {}", refreshed.error().internal);
    }
  }
}

void CacheMaintenance::Run() {
  auto reloaded = std::chrono::steady_clock::now();
  while (Wait(&sync_soon_)) {
    if (assistants_) {
      bool changed;
      {
        std::lock_guard lock(mutex_);
        changed = std::exchange(assistants_changed_, false);
      }
      const auto now = std::chrono::steady_clock::now();
      if (changed || now - reloaded >= kAssistantReload) {
        if (auto loaded = assistants_->Load(); !loaded) {
          spdlog::error("assistant catalog reload failed: {}", loaded.error().internal);
          std::lock_guard lock(mutex_);
          assistants_changed_ = true;  // tried again next round
        } else {
          reloaded = now;
        }
      }
    }
    // Sign-outs first: a token made usable again stores the end of its sessions before its
    // change, so the end is applied here before the token is usable here.
    if (sign_outs_) {
      if (auto synced = sign_outs_->Sync(); !synced) {
        spdlog::error("console sign-out sync failed: {}", synced.error().internal);
      }
    }
    if (auto synced = tokens_.SyncCache(); !synced) {
      spdlog::error("token cache sync failed: {}", synced.error().internal);
    }
    if (auto flushed = tokens_.FlushUsage(); !flushed) {
      spdlog::error("usage flush failed: {}", flushed.error().internal);
    }
  }
}

}  // namespace gatehouse
