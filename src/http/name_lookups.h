#ifndef GATEHOUSE_HTTP_NAME_LOOKUPS_H_
#define GATEHOUSE_HTTP_NAME_LOOKUPS_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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
// is called on the lookup thread, so a caller on an event loop posts back to it. Destroying the
// lookups drops the queued ones (their `done` is never called) and lets the threads go: a
// thread inside `resolve` finishes it on its own, without anyone waiting for it. Thread-safe.
template <typename Answer>
class NameLookups {
 public:
  using Resolve = std::function<Answer(const std::string& host, const std::string& port)>;
  using Done = std::function<void(const Answer&)>;

  NameLookups(Resolve resolve, std::size_t max_threads)
      : state_(std::make_shared<State>(std::move(resolve), max_threads < 1 ? 1 : max_threads)) {}
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
    const std::lock_guard lock(state.mutex);
    if (state.stopping) return;
    const Key key{host, port};
    auto [waiters, first] = state.waiting.try_emplace(key);
    waiters->second.push_back(std::move(done));
    if (!first) return;
    state.queue.push_back(key);
    if (state.idle == 0 && state.threads < state.max_threads) {
      ++state.threads;
      // Detached: it holds the state, and a thread inside getaddrinfo cannot be stopped.
      std::thread([state = state_] { state->Work(); }).detach();
    } else {
      state.ready.notify_one();
    }
  }

 private:
  using Key = std::pair<std::string, std::string>;  // host, port

  struct State {
    State(Resolve resolve_with, std::size_t threads_at_most)
        : resolve(std::move(resolve_with)), max_threads(threads_at_most) {}

    void Work() {
      std::unique_lock lock(mutex);
      for (;;) {
        ++idle;
        ready.wait(lock, [this] { return stopping || !queue.empty(); });
        --idle;
        if (stopping) return;
        const Key key = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        const Answer answer = resolve(key.first, key.second);
        lock.lock();
        auto found = waiting.find(key);
        if (found == waiting.end()) continue;  // dropped by the destructor
        std::vector<Done> waiters = std::move(found->second);
        waiting.erase(found);
        lock.unlock();
        for (const auto& done : waiters) done(answer);
        lock.lock();
      }
    }

    const Resolve resolve;
    const std::size_t max_threads;
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
