// NameLookups: lookups of different hosts go on side by side, lookups of one host are shared.
#include "http/name_lookups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse {
namespace {

using namespace std::chrono_literals;

// A name server double: answers "host:port" at once, except for the hosts it holds, which
// it answers once let go (or after 10 s, so that no test can hang).
class NameServer {
 public:
  void Hold(const std::string& host) {
    const std::lock_guard lock(mutex_);
    held_[host] = true;
  }
  void LetGo(const std::string& host) {
    {
      const std::lock_guard lock(mutex_);
      held_[host] = false;
    }
    changed_.notify_all();
  }
  std::string Resolve(const std::string& host, const std::string& port) {
    std::unique_lock lock(mutex_);
    ++asked_[host];
    ++busy_;
    busiest_ = std::max(busiest_, busy_);
    changed_.notify_all();
    changed_.wait_for(lock, 10s, [&] { return !held_[host]; });
    --busy_;
    return host + ":" + port;
  }
  int asked(const std::string& host) {
    const std::lock_guard lock(mutex_);
    return asked_[host];
  }
  int busiest() {
    const std::lock_guard lock(mutex_);
    return busiest_;
  }
  // Waits until `count` lookups are inside Resolve at once.
  bool WaitBusy(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return busy_ >= count; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, bool> held_;
  std::map<std::string, int> asked_;
  int busy_ = 0;
  int busiest_ = 0;
};

// Answers as they arrive, with a wait for a number of them.
class Answers {
 public:
  NameLookups<std::string>::Done Collect() {
    return [this](const std::string& answer) {
      // Under the lock, so that a test that saw the answer may end (and destroy this) at once.
      const std::lock_guard lock(mutex_);
      answers_.push_back(answer);
      arrived_.notify_all();
    };
  }
  bool WaitFor(std::size_t count, std::chrono::milliseconds within = 5s) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, within, [&] { return answers_.size() >= count; });
  }
  std::vector<std::string> answers() {
    const std::lock_guard lock(mutex_);
    return answers_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::string> answers_;
};

// The lookups' threads may outlive a test: they hold the name server too.
NameLookups<std::string> LookupsThrough(const std::shared_ptr<NameServer>& server,
                                        std::size_t threads) {
  return NameLookups<std::string>(
      [server](const std::string& host, const std::string& port) {
        return server->Resolve(host, port);
      },
      threads, "failed");
}

TEST(NameLookups, AHostWhoseLookupHangsHoldsUpNoOtherHost) {
  auto server = std::make_shared<NameServer>();
  server->Hold("hanging.test");
  Answers answers;
  {
    auto lookups = LookupsThrough(server, 4);
    lookups.Lookup("hanging.test", "443", answers.Collect());
    ASSERT_TRUE(server->WaitBusy(1));
    lookups.Lookup("fast.test", "443", answers.Collect());
    ASSERT_TRUE(answers.WaitFor(1)) << "the second host waited for the first one's lookup";
    EXPECT_EQ(answers.answers(), std::vector<std::string>{"fast.test:443"});
    server->LetGo("hanging.test");
    ASSERT_TRUE(answers.WaitFor(2));
    EXPECT_EQ(answers.answers().back(), "hanging.test:443");
  }
}

// Two first calls in one turn of a loop: an idle thread is woken for the first host, and the
// second, queued behind it before that thread has run, gets a thread of its own.
TEST(NameLookups, TwoHostsAskedAtOnceBesideOneIdleThreadDoNotWaitForEachOther) {
  auto server = std::make_shared<NameServer>();
  Answers answers;
  auto lookups = LookupsThrough(server, 4);
  lookups.Lookup("warm.test", "80", answers.Collect());  // starts one thread, then idle
  ASSERT_TRUE(answers.WaitFor(1));
  std::this_thread::sleep_for(50ms);
  server->Hold("hanging.test");
  lookups.Lookup("hanging.test", "80", answers.Collect());
  lookups.Lookup("fast.test", "80", answers.Collect());
  ASSERT_TRUE(answers.WaitFor(2)) << "the second host waited for the hanging one";
  EXPECT_EQ(answers.answers()[1], "fast.test:80");
  server->LetGo("hanging.test");
  ASSERT_TRUE(answers.WaitFor(3));
}

TEST(NameLookups, CallsForAHostWhoseLookupIsUnderWayShareThatOneLookup) {
  auto server = std::make_shared<NameServer>();
  server->Hold("slow.test");
  Answers answers;
  auto lookups = LookupsThrough(server, 4);
  for (int i = 0; i < 5; ++i) lookups.Lookup("slow.test", "80", answers.Collect());
  ASSERT_TRUE(server->WaitBusy(1));
  server->LetGo("slow.test");
  ASSERT_TRUE(answers.WaitFor(5));
  EXPECT_EQ(answers.answers(), std::vector<std::string>(5, "slow.test:80"));
  EXPECT_EQ(server->asked("slow.test"), 1);
  // Once answered, the host is looked up again when asked again (caching is the caller's).
  lookups.Lookup("slow.test", "80", answers.Collect());
  ASSERT_TRUE(answers.WaitFor(6));
  EXPECT_EQ(server->asked("slow.test"), 2);
  // The same host for another port is another lookup.
  lookups.Lookup("slow.test", "443", answers.Collect());
  ASSERT_TRUE(answers.WaitFor(7));
  EXPECT_EQ(answers.answers().back(), "slow.test:443");
}

TEST(NameLookups, NoMoreLookupsRunAtOnceThanThereAreThreads) {
  auto server = std::make_shared<NameServer>();
  for (const char* host : {"a.test", "b.test", "c.test"}) server->Hold(host);
  Answers answers;
  auto lookups = LookupsThrough(server, 2);
  for (const char* host : {"a.test", "b.test", "c.test"}) {
    lookups.Lookup(host, "80", answers.Collect());
  }
  ASSERT_TRUE(server->WaitBusy(2));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server->busiest(), 2);
  EXPECT_EQ(server->asked("c.test"), 0) << "a third lookup ran beside two held ones";
  server->LetGo("a.test");
  ASSERT_TRUE(answers.WaitFor(1));
  EXPECT_EQ(answers.answers().front(), "a.test:80");
  server->LetGo("b.test");
  server->LetGo("c.test");
  ASSERT_TRUE(answers.WaitFor(3));
  EXPECT_EQ(server->busiest(), 2);
}

TEST(NameLookups, GoneLookupsDropWhatIsQueuedAndLetTheirThreadsFinishAlone) {
  auto server = std::make_shared<NameServer>();
  server->Hold("held.test");
  std::atomic<int> answered{0};
  {
    auto lookups = LookupsThrough(server, 1);
    lookups.Lookup("held.test", "80", [&](const std::string&) { ++answered; });
    ASSERT_TRUE(server->WaitBusy(1));
    lookups.Lookup("queued.test", "80", [&](const std::string&) { ++answered; });
  }  // does not wait for the held lookup
  server->LetGo("held.test");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(answered.load(), 0);
  EXPECT_EQ(server->asked("queued.test"), 0);
}

}  // namespace
}  // namespace gatehouse
