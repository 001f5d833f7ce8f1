#include "core/ip_address.h"

#include <gtest/gtest.h>

#include <vector>

namespace gatehouse {
namespace {

CidrBlock Block(std::string_view text) {
  auto block = CidrBlock::Parse(text);
  EXPECT_TRUE(block.has_value()) << text;
  return block.value_or(CidrBlock{});
}

bool Contains(std::string_view cidr, std::string_view address) {
  auto parsed = IpAddress::Parse(address);
  EXPECT_TRUE(parsed.has_value()) << address;
  return parsed && Block(cidr).Contains(*parsed);
}

TEST(IpAddressTest, ParsesIpV4IpV6BracketsAndZonesAndRejectsTheRest) {
  EXPECT_TRUE(IpAddress::Parse("192.0.2.1"));
  EXPECT_TRUE(IpAddress::Parse("2001:db8::1"));
  EXPECT_TRUE(IpAddress::Parse("[2001:db8::1]"));
  EXPECT_TRUE(IpAddress::Parse("fe80::1%eth0"));
  EXPECT_EQ(IpAddress::Parse("fe80::1%eth0"), IpAddress::Parse("fe80::1"));
  for (auto bad : {"", "192.0.2", "192.0.2.256", "192.0.2.1:80", "2001:db8:::1", "example.com",
                   "1.2.3.4/8", " ", "::g"}) {
    EXPECT_FALSE(IpAddress::Parse(bad)) << bad;
  }
}

TEST(IpAddressTest, IpV4AndItsMappedIpV6FormAreTheSameAddress) {
  EXPECT_EQ(IpAddress::Parse("10.1.2.3"), IpAddress::Parse("::ffff:10.1.2.3"));
  EXPECT_TRUE(IpAddress::Parse("10.1.2.3")->IsV4Mapped());
  EXPECT_FALSE(IpAddress::Parse("2001:db8::1")->IsV4Mapped());
}

TEST(CidrBlockTest, IpV4BlockContainsExactlyItsRange) {
  EXPECT_TRUE(Contains("10.0.0.0/8", "10.255.255.255"));
  EXPECT_TRUE(Contains("10.0.0.0/8", "10.0.0.0"));
  EXPECT_FALSE(Contains("10.0.0.0/8", "11.0.0.0"));
  EXPECT_FALSE(Contains("10.0.0.0/8", "9.255.255.255"));
  EXPECT_TRUE(Contains("192.0.2.128/25", "192.0.2.200"));
  EXPECT_FALSE(Contains("192.0.2.128/25", "192.0.2.127"));
}

TEST(CidrBlockTest, SlashThirtyTwoAndSlash128MatchOneAddressAndABareAddressIsOne) {
  EXPECT_TRUE(Contains("192.0.2.7/32", "192.0.2.7"));
  EXPECT_FALSE(Contains("192.0.2.7/32", "192.0.2.8"));
  EXPECT_TRUE(Contains("192.0.2.7", "192.0.2.7"));
  EXPECT_FALSE(Contains("192.0.2.7", "192.0.2.6"));
  EXPECT_TRUE(Contains("2001:db8::1/128", "2001:db8::1"));
  EXPECT_FALSE(Contains("2001:db8::1/128", "2001:db8::2"));
  EXPECT_TRUE(Contains("::1", "::1"));
}

TEST(CidrBlockTest, SlashZeroOfIpV4MatchesEveryIpV4AddressOnlyAndOfIpV6Everything) {
  EXPECT_TRUE(Contains("0.0.0.0/0", "203.0.113.9"));
  EXPECT_FALSE(Contains("0.0.0.0/0", "2001:db8::1"));
  EXPECT_TRUE(Contains("::/0", "2001:db8::1"));
  EXPECT_TRUE(Contains("::/0", "203.0.113.9"));
}

TEST(CidrBlockTest, IpV6BlockAndMappedIpV4Blocks) {
  EXPECT_TRUE(Contains("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(Contains("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(Contains("::ffff:10.0.0.0/104", "10.9.9.9"));
  EXPECT_TRUE(Contains("10.0.0.0/8", "::ffff:10.9.9.9"));
  EXPECT_FALSE(Contains("10.0.0.0/8", "::a09:909"));  // IPv4-compatible, not mapped
}

TEST(CidrBlockTest, RejectsBadPrefixesAndCanonicalisesHostBits) {
  for (auto bad : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "2001:db8::/129", "10.0.0.0/8x",
                   "10.0.0.0/0008", "/8", "10.0.0.0/8/8", "host/8"}) {
    EXPECT_FALSE(CidrBlock::Parse(bad)) << bad;
  }
  EXPECT_EQ(Block("10.1.2.3/8").ToString(), "10.0.0.0/8");
  EXPECT_EQ(Block("192.0.2.7").ToString(), "192.0.2.7/32");
  EXPECT_EQ(Block("2001:db8::1/32").ToString(), "2001:db8::/32");
  EXPECT_EQ(Block("::/0").ToString(), "::/0");
  EXPECT_EQ(Block("0.0.0.0/0").ToString(), "0.0.0.0/0");
}

class ClientAddressTest : public ::testing::Test {
 protected:
  std::vector<CidrBlock> proxies{Block("10.0.0.0/8"), Block("::1")};
};

TEST_F(ClientAddressTest, UntrustedPeerIsTheClientWhateverItsForwardedForSays) {
  EXPECT_EQ(ClientAddressOf("203.0.113.5", "198.51.100.1", proxies), "203.0.113.5");
  EXPECT_EQ(ClientAddressOf("127.0.0.1", "198.51.100.1", proxies), "127.0.0.1");
}

TEST_F(ClientAddressTest, NoTrustedProxiesMeansThePeer) {
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "198.51.100.1", {}), "10.0.0.1");
}

TEST_F(ClientAddressTest, TrustedPeerGivesTheRightMostUntrustedForwardedEntry) {
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "198.51.100.1", proxies), "198.51.100.1");
  // A client can prepend anything; only what the proxies appended is believed.
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "1.1.1.1, 198.51.100.1, 10.0.0.2", proxies),
            "198.51.100.1");
  EXPECT_EQ(ClientAddressOf("::1", "2001:db8::5", proxies), "2001:db8::5");
}

TEST_F(ClientAddressTest, TrustedPeerWithoutForwardedForIsItself) {
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "", proxies), "10.0.0.1");
}

TEST_F(ClientAddressTest, AllTrustedEntriesGiveTheLeftMost) {
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "10.0.0.3, 10.0.0.2", proxies), "10.0.0.3");
}

TEST_F(ClientAddressTest, GarbageEndsTheWalkAtTheLastGoodAddress) {
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "198.51.100.1, not-an-ip", proxies), "10.0.0.1");
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "junk, 198.51.100.1", proxies), "198.51.100.1");
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "junk, 10.0.0.9", proxies), "10.0.0.9");
  EXPECT_EQ(ClientAddressOf("10.0.0.1", "[2001:db8::7]", proxies), "2001:db8::7");
}

}  // namespace
}  // namespace gatehouse
