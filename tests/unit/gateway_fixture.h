// The gateway driven through the upstream seam with a test double: no socket, no event loop
// (the double answers at once). Shared by the gateway's unit tests.
#ifndef GATEHOUSE_TESTS_UNIT_GATEWAY_FIXTURE_H_
#define GATEHOUSE_TESTS_UNIT_GATEWAY_FIXTURE_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "gateway/chat.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {

using HeadResult = std::expected<UpstreamHead, UpstreamError>;
using PieceResult = std::expected<UpstreamBodyPiece, UpstreamError>;

// Answers with a scripted head and body pieces; remembers what it was sent.
class ScriptedExchange final : public UpstreamExchange {
 public:
  HeadResult head = UpstreamHead{200, "application/json", ""};
  std::deque<PieceResult> pieces;
  bool hold_head = false;  // keep the head callback until Cancel()
  UpstreamRequest sent;
  bool cancelled = false;
  bool request_sent = true;  // what RequestSent() tells once started

  bool RequestSent() const override { return started_ && request_sent; }

  void Start(UpstreamRequest request, HeadCallback done) override {
    started_ = true;
    sent = std::move(request);
    if (hold_head) {
      held_ = std::move(done);
      return;
    }
    done(head);
  }
  void Read(BodyCallback done) override {
    if (cancelled) return done(std::unexpected(UpstreamError{UpstreamFailure::kCancelled, ""}));
    if (pieces.empty()) return done(UpstreamBodyPiece{{}, true});
    auto piece = std::move(pieces.front());
    pieces.pop_front();
    done(std::move(piece));
  }
  void Cancel() override {
    cancelled = true;
    if (auto held = std::exchange(held_, nullptr)) {
      held(std::unexpected(UpstreamError{UpstreamFailure::kCancelled, "cancelled"}));
    }
  }

 private:
  HeadCallback held_;
  bool started_ = false;
};

class ScriptedClient final : public UpstreamClient {
 public:
  std::shared_ptr<ScriptedExchange> next = std::make_shared<ScriptedExchange>();
  int opened = 0;
  std::shared_ptr<UpstreamExchange> Open() override {
    ++opened;
    return next;
  }
};

inline UpstreamBodyPiece Whole(std::string body) {
  return UpstreamBodyPiece{std::move(body), true};
}

constexpr char kKeyEnv[] = "GATEHOUSE_UNIT_GATEWAY_KEY";
constexpr char kKey[] = "sk-unit-0123456789abcdefghijklmnop";

class GatewayTest : public ::testing::Test {
 protected:
  GatewayTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("gatehouse-gateway-" + std::to_string(::getpid()) + NewUuid())),
        store_((std::filesystem::create_directories(dir_), dir_ / "gatehouse.db").string()),
        log_(store_),
        gateway_(client_, log_) {
    ::setenv(kKeyEnv, kKey, 1);
    provider_.name = "p";
    provider_.base_url = "http://127.0.0.1:9/v1";
    provider_.api_key_env = kKeyEnv;
    provider_.timeout_ms = 1000;
    provider_.models = {{"m", 1.0, 2.0}};
  }
  ~GatewayTest() override {
    log_.Stop();
    std::filesystem::remove_all(dir_);
  }

  ChatCall Call(bool stream = false) {
    ChatCall call;
    call.origin.organization_id = "org";
    call.origin.project_id = "project";
    call.origin.api_token_id = "token";
    call.origin.api_token_name = "Default";
    call.origin.start_ms = clock_.Now();
    call.origin.clock = &clock_;
    call.body = boost::json::parse(
                    R"({"model":"p/m","messages":[{"role":"user","content":"hello there"}]})")
                    .as_object();
    call.model = ResolvedModel{&provider_, &provider_.models[0], "m"};
    call.model_name = "p/m";
    call.stream = stream;
    return call;
  }

  ChatResult Run(ChatCall call) {
    std::optional<ChatResult> result;
    gateway_.Run(std::move(call), [&](ChatResult answer) { result = std::move(answer); });
    EXPECT_TRUE(result) << "the double answers at once, so the gateway must have answered";
    return result ? std::move(*result) : ChatResult{};
  }

  // Pulls a relayed stream to its end; returns the bytes the client would get.
  std::string Drain(AsyncBodySource& source) {
    std::string all;
    for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore;) {
      bool called = false;
      source.Next([&](BodyPiece next, std::string chunk) {
        piece = next;
        all += chunk;
        called = true;
      });
      EXPECT_TRUE(called);
      if (!called) break;
    }
    return all;
  }

  std::vector<RequestRecord> Records() {
    log_.Stop();
    std::vector<RequestRecord> records;
    auto cursor = store_.OpenRequestCursor(RequestQuery{.organization_id = "org"});
    EXPECT_TRUE(cursor);
    RequestRecord record;
    while (*(*cursor)->Next(record)) records.push_back(record);
    return records;
  }

  RequestRecord OnlyRecord() {
    auto records = Records();
    EXPECT_EQ(records.size(), 1u);
    return records.empty() ? RequestRecord{} : records.front();
  }

  std::shared_ptr<ScriptedExchange> exchange() { return client_.next; }

  ManualClock clock_{1'700'000'000'000};
  std::filesystem::path dir_;
  SqliteStore store_;
  RequestLog log_;
  ScriptedClient client_;
  Gateway gateway_;
  ProviderConfig provider_;
};

inline void ExpectError(const ChatResult& result, ErrorCode code) {
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), code);
}

}  // namespace gatehouse

#endif  // GATEHOUSE_TESTS_UNIT_GATEWAY_FIXTURE_H_
