#include "proxy/network/address.h"

#include <gtest/gtest.h>

namespace podproxy::network {
namespace {

std::string formatted(std::string_view ip, uint16_t port) {
  const auto address = Address::fromIp(ip, port);
  EXPECT_TRUE(address.has_value()) << ip;
  return address ? address->toString() : std::string();
}

TEST(Address, FormatsIpv4WithoutLeadingZerosAtEveryWidth) {
  EXPECT_EQ(formatted("0.0.0.0", 0), "0.0.0.0:0");
  EXPECT_EQ(formatted("255.255.255.255", 65535), "255.255.255.255:65535");
  EXPECT_EQ(formatted("10.9.100.7", 8080), "10.9.100.7:8080");
  EXPECT_EQ(Address::fromIp("127.0.0.6", 1)->ip(), "127.0.0.6");
}

TEST(Address, FormatsIpv6InBrackets) {
  EXPECT_EQ(formatted("::1", 80), "[::1]:80");
  EXPECT_EQ(formatted("::ffff:10.0.0.1", 443), "[::ffff:10.0.0.1]:443");
  EXPECT_EQ(Address::fromIp("fd00::a:1", 1)->ip(), "fd00::a:1");
}

TEST(Address, AppendsToWhatTheBufferHolds) {
  std::string out = "for=";
  Address::fromIp("192.168.1.20", 15001)->appendTo(out);
  out += ", ";
  Address::fromIp("::1", 1)->appendIp(out);
  EXPECT_EQ(out, "for=192.168.1.20:15001, ::1");
}

TEST(Address, FormatsAnInvalidAddressAsNothing) {
  std::string out;
  Address().appendIp(out);
  EXPECT_EQ(out, "");
  EXPECT_EQ(Address().ip(), "");
}

TEST(Address, RoundTripsThroughParse) {
  for (const char* text : {"1.2.3.4:5", "[2001:db8::1]:65535", "127.0.0.1:15006"}) {
    const auto address = Address::parse(text);
    ASSERT_TRUE(address.has_value()) << text;
    EXPECT_EQ(address->toString(), text);
  }
}

}  // namespace
}  // namespace podproxy::network
