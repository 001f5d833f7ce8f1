// How SseAccumulator reads and relays a provider's server-sent events: line breaks of every
// kind and across reads, an event's lines, where the relayed bytes end when a stream finishes
// or breaks, the held bound. What it meters is in metering_test.cc.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/metering.h"

namespace gatehouse {

// A broken stream's error event must reach the client as an event of its own, whatever the cut
// left: an event's end, an event without its blank line, an over-long event dropped, or part
// of a line that is dropped. The client sees what Feed and Abandon relay, in turn.
TEST(SseAccumulator, AbandonEndsWhatWasRelayedSoThatTheErrorEventStandsAlone) {
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n";
  const std::string long_line = "data: " + std::string((1 << 20) + 10, 'y');
  const std::string error = "data: {\"error\":{\"message\":\"Bad Gateway\",\"code\":502}}\n\n";
  struct Case {
    std::string fed;
    std::string seen;
  };
  for (const Case& cut : {Case{event + "\n", event + "\n"}, Case{event, event + "\n"},
                          Case{event + "\n" + long_line, event + "\n"},
                          Case{event + "\ndata: {\"cho", event + "\n"}}) {
    SseAccumulator events;
    std::string relayed = events.Feed(cut.fed);
    relayed += events.Abandon();
    EXPECT_EQ(relayed, cut.seen) << cut.fed.substr(0, 80);
    relayed += error;
    EXPECT_TRUE(relayed.ends_with("\n\n" + error)) << relayed.substr(0, 120);
    EXPECT_EQ(relayed.find("{\"cho\n"), std::string::npos) << "the cut line is dropped";
    EXPECT_EQ(events.Abandon(), "");
  }
}

TEST(SseAccumulator, ALastLineWithoutLineBreakIsMeteredAndEnded) {
  SseAccumulator events;
  std::string relayed = events.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
  relayed += events.Feed("data: [DONE]");
  EXPECT_FALSE(events.done());
  relayed += events.Finish();
  EXPECT_TRUE(events.done());
  EXPECT_TRUE(relayed.ends_with("\n\ndata: [DONE]\n\n"));
  EXPECT_EQ(events.Finish(), "");
}

// A provider's stream may end without the blank line of its last event: [DONE], appended
// after it, must still be an event of its own, not a second line of the provider's.
TEST(SseAccumulator, FinishEndsAnEventTheProviderLeftOpenSoThatDoneStandsAlone) {
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n";
  const std::string long_line = "data: " + std::string((1 << 20) + 10, 'y');
  struct Case {
    std::string fed;
    std::string seen;
  };
  for (const Case& end : {Case{event + "\n", event + "\n"}, Case{event, event + "\n"},
                          Case{event + "\n" + long_line, event + "\n"}}) {
    SseAccumulator events;
    std::string relayed = events.Feed(end.fed);
    relayed += events.Finish();
    EXPECT_EQ(relayed, end.seen) << end.fed.substr(0, 80);
    relayed += "data: [DONE]\n\n";
    EXPECT_TRUE(relayed.ends_with("\n\ndata: [DONE]\n\n")) << relayed.substr(0, 120);
    EXPECT_EQ(events.content(), "x");
  }
}

// The standard's three line breaks: CRLF, LF and CR alone, a CR split from its LF or not
// across reads. Fed one byte at a time, every split is met.
TEST(SseAccumulator, LinesEndWithCrLfLfOrCrAloneAsTheStandardSays) {
  const ModelPrice price{"m", 1.0, 2.0};
  const std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\r\r"
      "data: {\"choices\":[{\"delta\":{\"content\":\"l\"}}]}\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\r"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\r\r"
      "data: [DONE]\r\r";
  SseAccumulator events(&price, {}, /*relay_usage_only=*/false);
  std::string relayed;
  for (char byte : stream) relayed += events.Feed(std::string_view(&byte, 1));
  relayed += events.Finish();
  EXPECT_EQ(events.content(), "Hello");
  ASSERT_TRUE(events.usage());
  EXPECT_EQ(events.usage()->completion, 2);
  EXPECT_TRUE(events.done());
  const std::size_t usage_at = stream.find("data: {\"choices\":[],");
  EXPECT_EQ(relayed, stream.substr(0, usage_at) + "data: [DONE]\r\r")
      << "the rest byte for byte, the usage event the client did not ask for dropped";
}

// The data of each event a client reads from `stream`, as the standard reads it.
std::vector<std::string> StandardEventData(std::string_view stream) {
  std::vector<std::string> events;
  std::optional<std::string> data;
  std::size_t at = 0;
  while (at < stream.size()) {
    std::size_t end = stream.find_first_of("\r\n", at);
    if (end == std::string_view::npos) break;  // an unended line: not read
    const std::string_view line = stream.substr(at, end - at);
    at = end + (stream.substr(end, 2) == "\r\n" ? 2 : 1);
    if (line.empty()) {
      if (data) events.push_back(*std::exchange(data, std::nullopt));
    } else if (line.starts_with("data:")) {
      std::string_view value = line.substr(5);
      if (value.starts_with(' ')) value.remove_prefix(1);
      data = data ? *data + "\n" + std::string(value) : std::string(value);
    }
  }
  return events;
}

// A relayed line that ends in a CR alone: what Finish and Abandon add must not make a CRLF of
// it, or the [DONE] or error event appended would join the provider's event.
TEST(SseAccumulator, WhatEndsARelayedCrStillEndsTheEvent) {
  const std::string error = "data: {\"error\":{\"message\":\"Bad Gateway\",\"code\":502}}\n\n";
  for (const std::string& fed : {std::string("data: {\"choices\":[]}\r"),
                                 std::string("data: {\"choices\":[]}\rdata: {\"cho")}) {
    SseAccumulator finished;
    std::string relayed = finished.Feed(fed);
    relayed += finished.Finish() + "data: [DONE]\n\n";
    auto events = StandardEventData(relayed);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]") << fed.substr(0, 40);

    SseAccumulator broken;
    relayed = broken.Feed(fed);
    relayed += broken.Abandon() + error;
    events = StandardEventData(relayed);
    ASSERT_FALSE(events.empty());
    EXPECT_TRUE(events.back().starts_with("{\"error\"")) << fed.substr(0, 40);
  }
}

// A rewritten event leaves its later data lines out: a CR before one and the blank line's
// line feed after it must not meet as one CRLF, or the event would run into the next.
TEST(SseAccumulator, ARewrittenEventWithMixedLineBreaksKeepsItsBlankLine) {
  const ModelPrice price{"m", 1.0, 2.0};
  for (const std::string& usage :
       {std::string("data: {\"choices\":[],\rdata: \"usage\":{\"prompt_tokens\":7,"
                    "\"completion_tokens\":2}}\n\n"),
        std::string("data: {\"choices\":[],\r\nid: 1\rdata: \"usage\":{\"prompt_tokens\":7,"
                    "\"completion_tokens\":2}}\n\n")}) {
    SseAccumulator events(&price);
    const std::string relayed = events.Feed(usage + "data: [DONE]\n\n") + events.Finish();
    const auto data = StandardEventData(relayed);
    ASSERT_EQ(data.size(), 2u) << relayed;
    EXPECT_NE(data[0].find("\"total_cost\""), std::string::npos) << relayed;
    EXPECT_EQ(data[1], "[DONE]");
  }
}

// A body its provider's close ended may have been cut mid-line: Finish(cut) drops an event
// whose data does not parse, as Abandon does, and keeps one that does.
TEST(SseAccumulator, FinishOfABodyTheCloseEndedDropsACutEvent) {
  SseAccumulator cut;
  EXPECT_EQ(cut.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"hel"), "");
  EXPECT_EQ(cut.Finish(/*cut=*/true), "");
  SseAccumulator whole;
  whole.Feed("data: [DONE]");
  EXPECT_EQ(whole.Finish(/*cut=*/true), "data: [DONE]\n\n");
  EXPECT_TRUE(whole.done());
}

// Each held data line costs an entry beside its bytes: short lines reach the bound sooner.
TEST(SseAccumulator, ManyShortDataLinesCountTowardTheHeldBound) {
  SseAccumulator events;
  std::string lines;
  while (lines.size() < SseAccumulator::kMaxHeldEvent / 2) lines += "data: x\n";
  EXPECT_EQ(events.Feed(lines), "");
  EXPECT_TRUE(events.overflowed()) << "half the bound in bytes, more with the entries";
}

// A CR that ends the bytes of a break is a whole line break: the event before it is read.
TEST(SseAccumulator, AbandonReadsALineEndedByACrAlone) {
  SseAccumulator events;
  std::string relayed = events.Feed("data: {\"error\":{\"message\":\"overloaded\"}}\r");
  relayed += events.Abandon();
  EXPECT_TRUE(events.failed());
  EXPECT_NE(relayed.find("overloaded"), std::string::npos);
}

// A CR at the end of a read may be the first half of a CRLF: the LF that follows in the next
// read is not a blank line of its own.
TEST(SseAccumulator, ACrLfSplitAcrossReadsIsOneLineBreak) {
  SseAccumulator events;
  std::string relayed = events.Feed("data: {\"choices\":[{\"delta\":\r");
  relayed += events.Feed("\ndata: {\"content\":\"Hi\"}}]}\r\n\r\n");
  EXPECT_EQ(events.content(), "Hi");
  EXPECT_EQ(StandardEventData(relayed).size(), 1u);
}

// A CR that ends a read ends its line at once, as a client reads it: an event whose blank line
// it is goes then, not when the provider sends its next bytes (seconds later, in a slow
// stream). A line feed after it is the second half of that CRLF, relayed straight after it.
TEST(SseAccumulator, AnEventEndedByACrAtTheEndOfAReadGoesAtOnce) {
  SseAccumulator events;
  const std::string first = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r";
  EXPECT_EQ(events.Feed(first), first) << "held until the provider's next bytes";
  EXPECT_EQ(events.content(), "Hi");
  EXPECT_EQ(events.Feed("\n"), "\n") << "the CRLF's line feed, after its CR";
  const std::string cr_only = "data: {\"choices\":[{\"delta\":{\"content\":\"!\"}}]}\r\r";
  EXPECT_EQ(events.Feed(cr_only), cr_only);
  EXPECT_EQ(events.Feed("data: [DONE]\r\n\r\n"), "data: [DONE]\r\n\r\n");
  EXPECT_EQ(events.content(), "Hi!");
  EXPECT_TRUE(events.done());
}

// A data line's CR at the end of a read and its line feed in the next: a rewritten event (the
// usage given costs) relays the whole CRLF after its new data line, not a CR and then a line
// feed that a client would read as the event's end.
TEST(SseAccumulator, ARewrittenDataLineKeepsACrLfSplitAcrossReads) {
  const ModelPrice price{"m", 1.0, 2.0};
  SseAccumulator events(&price);
  std::string relayed = events.Feed("data: {\"choices\":[],\r");
  relayed += events.Feed("\ndata: \"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\r");
  relayed += events.Feed("\n\r\ndata: [DONE]\r\n\r\n");
  const auto data = StandardEventData(relayed);
  ASSERT_EQ(data.size(), 2u) << relayed;
  EXPECT_NE(data[0].find("\"total_cost\""), std::string::npos) << relayed;
  EXPECT_EQ(data[1], "[DONE]");
  EXPECT_TRUE(relayed.ends_with("}\r\n\r\ndata: [DONE]\r\n\r\n")) << relayed;
  EXPECT_EQ(relayed.find("\n\n"), std::string::npos) << "no blank line of a lone line feed";
}

// A dropped event (usage alone, not relayed) whose blank line is a CRLF split across reads,
// after an event that ended with bare CRs: its line feed goes with it, as when read whole.
TEST(SseAccumulator, ADroppedEventTakesItsLineFeedAcrossReads) {
  const ModelPrice price{"m", 1.0, 2.0};
  const std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\r\r"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\r\n\r\n";
  auto run = [&](std::size_t read_size) {
    SseAccumulator events(
        &price, [] { return std::int64_t{9}; }, /*relay_usage_only=*/false);
    std::string relayed;
    for (std::size_t at = 0; at < stream.size(); at += read_size) {
      relayed += events.Feed(std::string_view(stream).substr(at, read_size));
    }
    return relayed + events.Finish();
  };
  const std::string whole = run(stream.size());
  EXPECT_EQ(whole, "data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\r\r");
  EXPECT_EQ(run(1), whole);
}

// Where a provider's reads happen to split its stream changes nothing a client receives, nor
// what is metered: random streams of every line break, comments, named and error events,
// usage to rewrite and cut lines, fed whole, a byte at a time and in random pieces.
TEST(SseAccumulator, HowAStreamIsSplitIntoReadsChangesNothing) {
  const ModelPrice price{"m", 1.0, 2.0};
  const std::string_view pieces[] = {
      "data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}",
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}",
      "data: {\"choices\":[],",
      "data: \"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}",
      "data: {\"error\":{\"message\":\"sk-abc\"}}",
      "data: [DONE]",
      "event: error",
      "id: 7",
      ": keep-alive",
      "data",
      "\r",
      "\n",
      "\r\n",
      "\r\n",
      "\n",
  };
  // Many short streams: a difference needs a few pieces in a particular order.
  std::mt19937 random(11);
  for (int round = 0; round < 20000; ++round) {
    std::string stream;
    const int count = 1 + static_cast<int>(random() % 24);
    for (int i = 0; i < count; ++i) stream += pieces[random() % std::size(pieces)];
    const bool cut = random() % 2;
    const bool relay_usage_only = random() % 2;
    auto run = [&](auto next_size) {
      SseAccumulator events(
          &price, [] { return std::int64_t{9}; }, relay_usage_only,
          [](std::string_view text) {
            std::string redacted(text);
            if (auto at = redacted.find("sk-"); at != std::string::npos) {
              redacted.replace(at, 3, "***");
            }
            return redacted;
          });
      std::string relayed;
      for (std::size_t at = 0; at < stream.size();) {
        const std::size_t n = std::min(next_size(), stream.size() - at);
        relayed += events.Feed(std::string_view(stream).substr(at, n));
        at += n;
      }
      relayed += cut ? events.Abandon() : events.Finish();
      const auto usage = events.usage();
      return std::make_tuple(relayed, events.content(), events.failed(), events.done(),
                             usage ? usage->prompt : -1, usage ? usage->completion : -1);
    };
    const auto whole = run([&] { return stream.size(); });
    const auto bytes = run([] { return std::size_t{1}; });
    const auto pieces_fed = run([&] { return std::size_t{1 + random() % 9}; });
    EXPECT_EQ(bytes, whole) << "a byte at a time: " << ::testing::PrintToString(stream);
    EXPECT_EQ(pieces_fed, whole) << "in pieces: " << ::testing::PrintToString(stream);
    if (::testing::Test::HasFailure()) break;
  }
}

// A break that leaves an event whose data does not parse drops it: a client could not read it,
// and would then miss the error event that tells why the stream ends.
TEST(SseAccumulator, AbandonDropsACutEventWhoseDataDoesNotParse) {
  SseAccumulator events;
  EXPECT_EQ(events.Feed("data: {\"id\":\"x\",\n"), "");
  EXPECT_EQ(events.Abandon(), "");
  SseAccumulator named;
  EXPECT_EQ(named.Feed("event: chunk\n"), "");
  EXPECT_EQ(named.Abandon(), "") << "a cut event without data dispatches nothing";
}

// An event's data is its data lines joined by line feeds: JSON spread over several is metered,
// and a rewritten event gets one data line where its first was, its other lines kept.
TEST(SseAccumulator, AnEventsDataLinesAreJoinedAndItsOtherLinesKept) {
  const ModelPrice price{"m", 1.0, 2.0};
  SseAccumulator events(&price);
  const std::string text =
      "event: chunk\nid: 1\ndata: {\"choices\":[{\"delta\":\ndata: {\"content\":\"Hi\"}}]}\n\n";
  EXPECT_EQ(events.Feed(text), text) << "nothing to rewrite: as it came";
  EXPECT_EQ(events.content(), "Hi");
  const std::string relayed = events.Feed(
      "event: usage\r\ndata: {\"choices\":[],\r\nid: 2\r\n"
      "data: \"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\r\n: note\r\n\r\n");
  ASSERT_TRUE(events.usage());
  EXPECT_EQ(events.usage()->prompt, 7);
  ASSERT_TRUE(relayed.starts_with("event: usage\r\ndata: {")) << relayed;
  EXPECT_TRUE(relayed.ends_with("}\r\nid: 2\r\n: note\r\n\r\n")) << relayed;
  const std::size_t data_at = relayed.find("data: ") + 6;
  const auto event =
      boost::json::parse(relayed.substr(data_at, relayed.find('\r', data_at) - data_at));
  EXPECT_DOUBLE_EQ(event.at("usage").at("total_cost").as_double(), (7 * 1.0 + 2 * 2.0) / 1e6);
}

// A keep-alive comment between events is relayed at once, not held for an event to end.
TEST(SseAccumulator, AKeepAliveCommentIsRelayedAtOnce) {
  SseAccumulator events;
  EXPECT_EQ(events.Feed(": ping\n"), ": ping\n");
  EXPECT_EQ(events.Feed("data: {\"choices\":[]}\n"), "") << "an event goes at its blank line";
  EXPECT_EQ(events.Feed("\n"), "data: {\"choices\":[]}\n\n");
}

// An over-long event is never relayed, named error or not: held whole it could be metered and
// its texts redacted, relayed as it came it could be neither. Nothing after it is taken.
TEST(SseAccumulator, AnOverLongEventIsNeverRelayedAndNothingAfterItIsTaken) {
  const std::string before = "data: {\"choices\":[{\"delta\":{\"content\":\"before\"}}]}\n\n";
  SseAccumulator events(nullptr, {}, true, [](std::string_view text) {
    std::string out(text);
    if (auto at = out.find("sk-secret"); at != std::string::npos) out.replace(at, 9, "[x]");
    return out;
  });
  std::string relayed = events.Feed(before);
  EXPECT_EQ(relayed, before);
  relayed += events.Feed("event: error\ndata: {\"error\":{\"message\":\"sk-secret " +
                         std::string(SseAccumulator::kMaxHeldEvent, 'y'));
  EXPECT_TRUE(events.overflowed());
  EXPECT_EQ(relayed, before);
  EXPECT_EQ(events.Feed("\"}}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"after\"}}]}\n\n"),
            "");
  EXPECT_EQ(events.Abandon(), "") << "the bytes relayed ended with an event";
  EXPECT_EQ(events.content(), "before");
  EXPECT_FALSE(events.done());
}

// A byte order mark may open a stream: the standard skips it, and so does the meter, even when
// it comes in two reads. Later in the stream it is part of a line.
TEST(SseAccumulator, AByteOrderMarkIsSkippedOnlyWhereItOpensTheStream) {
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
  SseAccumulator opening;
  std::string relayed = opening.Feed("\xEF\xBB");
  relayed += opening.Feed("\xBF" + event);
  EXPECT_EQ(opening.content(), "hi");
  EXPECT_EQ(relayed, event);
  SseAccumulator later;
  relayed = later.Feed("\n");
  relayed += later.Feed("\xEF\xBB\xBF" + event);
  EXPECT_EQ(relayed, "\n\xEF\xBB\xBF" + event);
  EXPECT_EQ(later.content(), "") << "a data line behind a mark is no data line";
}

// An event just under the bound, its last line without a line break: the break Finish adds
// (and the data line's entry) takes it over, so it is dropped as any longer one is, and the
// caller must look at overflowed() after Finish too.
TEST(SseAccumulator, AnEventTheFinishingLineBreakTakesOverTheBoundIsDropped) {
  SseAccumulator events;
  const std::string last = "data: " + std::string(SseAccumulator::kMaxHeldEvent - 16, 'y');
  EXPECT_EQ(events.Feed(last), "");
  EXPECT_FALSE(events.overflowed());
  EXPECT_EQ(events.Finish(), "");
  EXPECT_TRUE(events.overflowed());
}

// The bound is found however the long event comes (here in reads of 4093 bytes, its lines
// ended by a CR alone); what was relayed before it still ends as an event, so that the error
// event the gateway appends stands on its own.
TEST(SseAccumulator, AnOverLongEventInManyReadsIsDroppedAndWhatWentBeforeEndsAsAnEvent) {
  SseAccumulator events;
  std::string long_event;
  while (long_event.size() <= SseAccumulator::kMaxHeldEvent) long_event += "data: x\r";
  long_event += "\r";
  const std::string opening = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n: ping\r";
  const std::string stream = opening + long_event + "data: [DONE]\n\n";
  std::string relayed;
  for (std::size_t at = 0; at < stream.size() && !events.overflowed(); at += 4093) {
    relayed += events.Feed(std::string_view(stream).substr(at, 4093));
  }
  EXPECT_TRUE(events.overflowed());
  EXPECT_EQ(relayed, opening) << "the comment goes at once, the long event never";
  relayed += events.Abandon() + "data: {\"error\":{\"code\":502}}\n\n";
  const auto data = StandardEventData(relayed);
  ASSERT_EQ(data.size(), 2u) << relayed;
  EXPECT_EQ(data[1], "{\"error\":{\"code\":502}}");
  EXPECT_EQ(events.content(), "hi");
}

}  // namespace gatehouse
