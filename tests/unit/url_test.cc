#include "core/url.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse {
namespace {

TEST(ParseUrl, TakesSchemeHostPortAndTargetApart) {
  const auto url = ParseUrl("https://api.example.com:8443/v1/chat/completions?x=1");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "api.example.com");
  EXPECT_EQ(url->port, "8443");
  EXPECT_EQ(url->target, "/v1/chat/completions?x=1");
}

TEST(ParseUrl, APortLeftOutOrEmptyIsTheSchemes) {
  EXPECT_EQ(ParseUrl("http://h/x").value().port, "80");
  EXPECT_EQ(ParseUrl("https://h/x").value().port, "443");
  EXPECT_EQ(ParseUrl("http://h:/x").value().port, "80");
  EXPECT_FALSE(ParseUrl("http://h:/x").value().tls);
}

TEST(ParseUrl, ATargetAlwaysStartsWithASlashAndNeverCarriesTheFragment) {
  EXPECT_EQ(ParseUrl("http://h").value().target, "/");
  EXPECT_EQ(ParseUrl("http://h?key=1").value().target, "/?key=1");
  EXPECT_EQ(ParseUrl("http://h?key=1").value().host, "h");
  EXPECT_EQ(ParseUrl("http://h#part").value().target, "/");
  EXPECT_EQ(ParseUrl("http://h/a?b=c#part").value().target, "/a?b=c");
}

TEST(ParseUrl, AnIpv6LiteralIsBracketedAndItsZoneIdWrittenPercent25) {
  auto url = ParseUrl("http://[::1]:8080/x");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(ParseUrl("https://[::1]").value().port, "443");

  url = ParseUrl("http://[fe80::1%25eth0]:9000/");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "fe80::1%eth0");  // as the address parser reads it
  EXPECT_EQ(url->name(), "fe80::1");     // as the server is told it

  EXPECT_FALSE(ParseUrl("http://[::1"));            // not closed
  EXPECT_FALSE(ParseUrl("http://[::1]x/"));         // something after the bracket
  EXPECT_FALSE(ParseUrl("http://[fe80::1%25]/"));   // an empty zone id
  EXPECT_FALSE(ParseUrl("http://[%25eth0]/"));      // no address
  EXPECT_FALSE(ParseUrl("http://[example.com]/"));  // brackets hold IPv6 only
  EXPECT_FALSE(ParseUrl("http://[h:x]/"));          // a colon does not make an address
  EXPECT_FALSE(ParseUrl("http://[::1/x]/"));        // nor anything else before the bracket
  EXPECT_FALSE(ParseUrl("http://[::1%25e/0]/"));    // a zone id is unreserved characters
  EXPECT_TRUE(ParseUrl("http://[2001:db8::7]/"));
  EXPECT_TRUE(ParseUrl("http://[::ffff:192.0.2.1]/"));
  EXPECT_FALSE(ParseUrl("http://::1/"));             // IPv6 without brackets
  EXPECT_FALSE(ParseUrl("http://fe80::1%25eth0/"));  // likewise
}

TEST(ParseUrl, APortIsOneTo65535InDigits) {
  EXPECT_EQ(ParseUrl("http://h:1/").value().port, "1");
  EXPECT_EQ(ParseUrl("http://h:65535/").value().port, "65535");
  EXPECT_FALSE(ParseUrl("http://h:0/"));
  EXPECT_FALSE(ParseUrl("http://h:65536/"));
  EXPECT_FALSE(ParseUrl("http://h:123456/"));
  EXPECT_FALSE(ParseUrl("http://h:https/"));  // a service name the resolver would look up
  EXPECT_FALSE(ParseUrl("http://h:-1/"));
  EXPECT_FALSE(ParseUrl("http://h:+80/"));
}

// A port is a number: ":0080" is port 80, so it reaches the pool, the Host header and the origin
// as 80 does (and is left out of the Host header where it is the scheme's).
TEST(ParseUrl, APortWithLeadingZerosIsTheSamePortWithout) {
  EXPECT_EQ(ParseUrl("http://h:0080/").value().port, "80");
  EXPECT_EQ(ParseUrl("http://h:0080/").value().HostHeader(), "h");
  EXPECT_EQ(ParseUrl("https://h:08443/").value().port, "8443");
  EXPECT_EQ(UrlOrigin("https://h:000443/x"), "https://h");
  EXPECT_FALSE(ParseUrl("http://h:00000/"));
}

// A host name is what RFC 3986 lets a reg-name hold, without percent-encoding: nothing that
// could change the Host header's meaning, and a name outside ASCII only in its A-label form.
TEST(ParseUrl, AHostNameHoldsOnlyRegNameCharacters) {
  EXPECT_TRUE(ParseUrl("http://api-1.internal_name.example/"));
  EXPECT_TRUE(ParseUrl("http://xn--caf-dma.example/"));
  EXPECT_TRUE(ParseUrl("http://192.0.2.1:8080/"));
  for (const char* refused :
       {"http://h\"x/", "http://h<x/", "http://h>x/", "http://h\\x/", "http://h^x/", "http://h`x/",
        "http://h{x/", "http://h|x/", "http://h}x/", "http://h%41/", "http://caf\xc3\xa9.example/",
        "http://h]/", "http://h[/"}) {
    EXPECT_FALSE(ParseUrl(refused)) << refused;
  }
}

// A TLS client names the server it wants (SNI) by its host name only: an IP literal is never
// sent as one (RFC 6066 §3).
TEST(ParsedUrl, AnIpLiteralIsAnAddressAndANameIsNot) {
  EXPECT_TRUE(ParseUrl("https://192.0.2.1/").value().IsAddress());
  EXPECT_TRUE(ParseUrl("https://[::1]:8443/").value().IsAddress());
  EXPECT_TRUE(ParseUrl("https://[fe80::1%25eth0]/").value().IsAddress());
  EXPECT_FALSE(ParseUrl("https://api.example.com/").value().IsAddress());
  EXPECT_FALSE(ParseUrl("https://localhost/").value().IsAddress());
  EXPECT_FALSE(ParseUrl("https://192.0.2.1.example/").value().IsAddress());
}

TEST(ParseUrl, OnlyLowerCaseHttpAndHttpsWithAHostAreUrls) {
  EXPECT_FALSE(ParseUrl(""));
  EXPECT_FALSE(ParseUrl("ftp://h/"));
  EXPECT_FALSE(ParseUrl("HTTP://h/"));
  EXPECT_FALSE(ParseUrl("h:80/x"));
  EXPECT_FALSE(ParseUrl("http://"));
  EXPECT_FALSE(ParseUrl("http:///x"));
  EXPECT_FALSE(ParseUrl("http://:80/x"));
}

TEST(ParseUrl, UserInfoIsRefusedNotTakenForAHostOrPort) {
  EXPECT_FALSE(ParseUrl("https://user:secret@h/x"));
  EXPECT_FALSE(ParseUrl("https://user@h/x"));
  EXPECT_TRUE(ParseUrl("https://h/x@y"));  // an @ in the path is the path's
}

TEST(ParseUrl, NoSpaceOrControlCharacterCanEndTheRequestLineOrHostHeader) {
  EXPECT_FALSE(ParseUrl("http://h/x\r\nX-Injected: 1"));
  EXPECT_FALSE(ParseUrl("http://h\r\nX-Injected: 1/"));
  EXPECT_FALSE(ParseUrl("http://h/a b"));
  EXPECT_FALSE(ParseUrl("http://h/a\tb"));
  EXPECT_FALSE(ParseUrl(std::string("http://h/a\0b", 12)));
  EXPECT_FALSE(ParseUrl("http://h/a\x7f"));
}

// A request line carries a target RFC 3986 allows: bytes above ASCII and the characters it
// allows nowhere (" < > \ ^ ` { | }) are percent-encoded, as a browser sends them; a '%' the URL
// already has stays, so an encoded path is not encoded twice.
TEST(ParseUrl, WhatNoTargetMayHoldIsPercentEncodedAndTheRestKept) {
  EXPECT_EQ(ParseUrl("http://h/caf\xc3\xa9").value().target, "/caf%C3%A9");
  EXPECT_EQ(ParseUrl("http://h/a\"b<c>d\\e^f`g{h|i}j").value().target,
            "/a%22b%3Cc%3Ed%5Ce%5Ef%60g%7Bh%7Ci%7Dj");
  EXPECT_EQ(ParseUrl("http://h/a%20b?q=%C3%A9&r=1").value().target, "/a%20b?q=%C3%A9&r=1");
  EXPECT_EQ(ParseUrl("http://h?x=\xff").value().target, "/?x=%FF");
}

TEST(UrlOrigin, ShowsSchemeHostAndPortButNoPathQueryOrUserInfo) {
  EXPECT_EQ(UrlOrigin("https://hooks.example:8443/services/T0/B0/s3cret?key=s3cret#x"),
            "https://hooks.example:8443");
  EXPECT_EQ(UrlOrigin("https://h/p@q?next=https://h2/s3cret"), "https://h");
  EXPECT_EQ(UrlOrigin("http://hooks.example?token=s3cret"), "http://hooks.example");
  EXPECT_EQ(UrlOrigin("http://[::1]:9000/x"), "http://[::1]:9000");
  EXPECT_EQ(UrlOrigin(""), "");
  // What ParseUrl refuses shows nothing of itself: user info and a second "://" cannot mislead.
  for (const char* refused : {"https://user:s3cret@hooks.example/x", "hooks.example/s3cret",
                              "https:/h/x?next=https://h2/s3cret", "https://user:pa/ss@h/x"}) {
    EXPECT_EQ(UrlOrigin(refused), "(not a URL the client can call)") << refused;
  }
}

TEST(ParsedUrl, TheHostHeaderBracketsIpv6DropsTheZoneAndKeepsAPortNotTheSchemes) {
  EXPECT_EQ(ParseUrl("https://hooks.example/x").value().HostHeader(), "hooks.example");
  EXPECT_EQ(ParseUrl("https://hooks.example:443/x").value().HostHeader(), "hooks.example");
  EXPECT_EQ(ParseUrl("http://hooks.example:443/x").value().HostHeader(), "hooks.example:443");
  EXPECT_EQ(ParseUrl("http://[fe80::1%25eth0]:9000/").value().HostHeader(), "[fe80::1]:9000");
}

}  // namespace
}  // namespace gatehouse
