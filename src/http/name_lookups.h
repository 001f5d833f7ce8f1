#ifndef GATEHOUSE_HTTP_NAME_LOOKUPS_H_
#define GATEHOUSE_HTTP_NAME_LOOKUPS_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace gatehouse {

// Name lookups off the event loops, on a few threads of their own.
//
// getaddrinfo blocks and cannot be interrupted. Asio's resolver runs it on one thread per
// io_context, so a lookup that hangs (a name server that does not answer: seconds per attempt)
// holds up every lookup queued behind it on that loop, other hosts' included. Here each
// host:port is looked up by one thread at a time, on up to `max_threads` threads (started when
// needed, then kept), and calls that want the same host:port while its lookup is under way wait
// for that one lookup instead of queuing another: a host whose name server hangs takes one
// thread, however many calls want it, and the other hosts go on on the others. Only as many
// hanging hosts as there are threads hold up the rest.
//
// `Answer` is what `resolve` returns (endpoints and an error, for the upstream client); `done`
// is called on the lookup thread, so a caller on an event loop posts back to it. A lookup that
// cannot run (no thread could be started, or `resolve` threw) is answered `failed`. Destroying
// the lookups drops the queued ones (their `done` is never called) and lets the threads go: a
// thread inside `resolve` finishes it on its own, without anyone waiting for it. Thread-safe.
template <typename Answer>
class NameLookups {
 public:
  using Resolve = std::function<Answer(const std::string& host, const std::string& port)>;
  using Done = std::function<void(const Answer&)>;

  NameLookups(Resolve resolve, std::size_t max_threads, Answer failed)
      : state_(std::make_shared<State>(std::move(resolve), max_threads < 1 ? 1 : max_threads,
                                       std::move(failed))) {}
  ~NameLookups() {
    {
      const std::lock_guard lock(state_->mutex);
      state_->stopping = true;
      state_->queue.clear();
      state_->waiting.clear();
    }
    state_->ready.notify_all();
  }
  NameLookups(const NameLookups&) = delete;
  NameLookups& operator=(const NameLookups&) = delete;

  // Looks `host` up for `port` and calls `done` with the answer, joining a lookup of the same
  // host:port already under way.
  void Lookup(const std::string& host, const std::string& port, Done done) {
    State& state = *state_;
    std::unique_lock lock(state.mutex);
    if (state.stopping) return;
    const Key key{host, port};
    auto [waiters, first] = state.waiting.try_emplace(key);
    waiters->second.push_back(std::move(done));
    if (!first) return;
    state.queue.push_back(key);
    // Idle threads count down only once they run: a lookup queued behind as many as there are
    // idle threads gets a thread of its own, so that it never waits behind a hanging one.
    if (state.queue.size() <= state.idle || state.threads >= state.max_threads) {
      state.ready.notify_one();
      return;
    }
    ++state.threads;
    try {
      // Detached: it holds the state, and a thread inside getaddrinfo cannot be stopped.
      std::thread([state = state_] { state->Work(); }).detach();
    } catch (const std::system_error&) {
      --state.threads;
      if (state.threads > 0) return;  // the others get to it
      state.queue.pop_back();
      std::vector<Done> waiting = std::move(waiters->second);
      state.waiting.erase(waiters);
      lock.unlock();
      for (const auto& each : waiting) State::Deliver(each, state.failed);
    }
  }

 private:
  using Key = std::pair<std::string, std::string>;  // host, port

  struct State {
    State(Resolve resolve_with, std::size_t threads_at_most, Answer failed_answer)
        : resolve(std::move(resolve_with)),
          max_threads(threads_at_most),
          failed(std::move(failed_answer)) {}

    void Work() {
      std::unique_lock lock(mutex);
      for (;;) {
        ++idle;
        ready.wait(lock, [this] { return stopping || !queue.empty(); });
        --idle;
        if (stopping) {
          --threads;
          return;
        }
        const Key key = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        const Answer answer = Run(key);
        lock.lock();
        auto found = waiting.find(key);
        if (found == waiting.end()) continue;  // dropped by the destructor
        std::vector<Done> waiters = std::move(found->second);
        waiting.erase(found);
        lock.unlock();
        for (const auto& done : waiters) Deliver(done, answer);
        lock.lock();
      }
    }

    Answer Run(const Key& key) {
      try {
        return resolve(key.first, key.second);
      } catch (const std::exception&) {
        return failed;
      }
    }
    // A waiter that throws (out of memory) loses its answer, not the thread.
    static void Deliver(const Done& done, const Answer& answer) {
      try {
        done(answer);
      } catch (const std::exception&) {
      }
    }

    const Resolve resolve;
    const std::size_t max_threads;
    const Answer failed;
    std::mutex mutex;
    std::condition_variable ready;
    // All guarded by mutex.
    std::deque<Key> queue;                     // to be looked up, in order
    std::map<Key, std::vector<Done>> waiting;  // queued or under way, with who waits for them
    std::size_t threads = 0;
    std::size_t idle = 0;
    bool stopping = false;
  };

  std::shared_ptr<State> state_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_NAME_LOOKUPS_H_
