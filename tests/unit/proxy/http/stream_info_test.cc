#include "proxy/http/stream_info.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace podproxy::http {
namespace {

TEST(InlineString, HoldsShortAndLongValuesAndCompares) {
  InlineString<16> s;
  EXPECT_TRUE(s.empty());
  s = "0123456789abcdef";  // exactly the inline capacity
  EXPECT_EQ(s, "0123456789abcdef");
  EXPECT_EQ(s.size(), 16u);
  const std::string long_value(100, 'x');  // a client's own long id still fits, on the heap
  s = long_value;
  EXPECT_EQ(s, long_value);
  EXPECT_EQ(s.view().size(), 100u);
  s = "short";
  EXPECT_EQ(s, std::string_view("short"));
  EXPECT_NE(s, "shorter");

  InlineString<16> copy = s;
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(copy, "short");

  std::ostringstream os;
  os << copy;
  EXPECT_EQ(os.str(), "short");
}

TEST(InlineString, ResizeGivesRoomToFormatInPlace) {
  InlineString<36> s;
  char* p = s.resize(4);
  std::copy_n("abcd", 4, p);
  EXPECT_EQ(s, "abcd");
  p = s.resize(40);  // beyond the inline capacity
  std::fill_n(p, 40, 'z');
  EXPECT_EQ(s, std::string(40, 'z'));
  s.resize(2);
  EXPECT_EQ(s.size(), 2u);
}

}  // namespace
}  // namespace podproxy::http
