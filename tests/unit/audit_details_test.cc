#include "core/audit_details.h"

#include <gtest/gtest.h>

#include <string_view>

namespace gatehouse {
namespace {

using std::string_view_literals::operator""sv;

TEST(AuditDetails, AChangeIsKeptOnlyWhenItsValuesDiffer) {
  AuditDetails details;
  details.Change("name", "a"sv, "a"sv);
  EXPECT_TRUE(details.empty());
  details.Change("name", "a"sv, "b"sv);
  EXPECT_EQ(details.Json(), R"({"name":{"from":"a","to":"b"}})");
}

TEST(AuditDetails, ASetFieldComesFromNull) {
  AuditDetails details;
  details.Set("status", "Active"sv);
  EXPECT_EQ(details.Json(), R"({"status":{"from":null,"to":"Active"}})");
}

TEST(AuditDetails, ARedactedChangeIsKeptEvenWhenWhatItShowsIsAlike) {
  // Two webhook URLs of one origin: the change happened, though its redacted forms match.
  AuditDetails details;
  details.RedactedChange("limitWebhookUrl", "https://hooks.example", "https://hooks.example");
  EXPECT_EQ(details.Json(),
            R"({"limitWebhookUrl":{"from":"https://hooks.example","to":"https://hooks.example"}})");
}

TEST(AuditDetails, ANoteIsStoredAsGiven) {
  AuditDetails details;
  details.Note("source", boost::json::value("github"));
  EXPECT_EQ(details.Json(), R"({"source":"github"})");
}

}  // namespace
}  // namespace gatehouse
