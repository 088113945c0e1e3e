#include "proxy/http/header_map.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace podproxy::http {
namespace {

// What the map holds, as owned strings, in order.
std::vector<std::string> fields(const HeaderMap& map) {
  std::vector<std::string> out;
  for (const HeaderMap::Entry& e : map.entries()) {
    out.push_back(std::string(e.name) + "=" + std::string(e.value));
  }
  return out;
}

TEST(HeaderMap, LowerCasesNamesAndFindsThemInAnyCase) {
  HeaderMap map;
  map.add("Content-Type", "Text/Plain");
  map.add("X-A", "1");
  ASSERT_NE(map.get("content-type"), nullptr);
  EXPECT_EQ(*map.get("CONTENT-TYPE"), "Text/Plain");
  EXPECT_EQ(map.entries()[0].name, "content-type");
  EXPECT_EQ(map.get("x-b"), nullptr);
  EXPECT_EQ(map.byteSize(), std::string("content-type: Text/Plain\r\nx-a: 1\r\n").size());
}

TEST(HeaderMap, LowerCasesEveryByteOfNamesOfEveryLengthAndNothingElse) {
  // Names are lower-cased a word at a time with a tail: every length up to three words, and
  // every byte value (the letters' neighbours '@' '[' '`' '{' and bytes past 0x7F unchanged).
  std::string all_bytes;
  for (int c = 1; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  for (size_t length = 1; length <= 24; ++length) {
    for (size_t start = 0; start + length <= all_bytes.size(); start += 7) {
      const std::string name = all_bytes.substr(start, length);
      std::string expected = name;
      for (char& c : expected) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      HeaderMap map;
      map.add(name, "v");
      ASSERT_EQ(map.entries()[0].name, expected) << "start " << start << " length " << length;
      ASSERT_EQ(map.entries()[0].value, "v");
    }
  }
}

TEST(HeaderMap, HoldsManyLargeFieldsPastItsFirstBlock) {
  // 40 entries (the block holds 16) whose bytes (about 12 KiB) need several heap chunks,
  // one value bigger than a chunk: every earlier view must survive the growth.
  HeaderMap map;
  std::vector<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    const std::string name = "X-Field-" + std::to_string(i);
    const std::string value(i == 20 ? 5000 : 150 + i, static_cast<char>('a' + i % 26));
    map.add(name, value);
    expected.push_back("x-field-" + std::to_string(i) + "=" + value);
  }
  EXPECT_EQ(map.size(), 40u);
  EXPECT_EQ(fields(map), expected);
}

TEST(HeaderMap, SetReplacesInPlaceOrGrowsAndDropsLaterDuplicates) {
  HeaderMap map;
  map.add("a", "long original value");
  map.add("b", "keep");
  map.add("a", "duplicate");
  map.set("a", "short");
  EXPECT_EQ(fields(map), (std::vector<std::string>{"a=short", "b=keep"}));
  map.set("a", std::string(700, 'x'));  // larger than the old value and than the block's bytes
  EXPECT_EQ(*map.get("a"), std::string(700, 'x'));
  map.set("c", "new");
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(*map.get("c"), "new");
  EXPECT_EQ(*map.get("b"), "keep");
}

TEST(HeaderMap, AddAndSetAcceptViewsOfTheMapsOwnFields) {
  HeaderMap map;
  map.add("from", "a value worth copying");
  for (int i = 0; i < 20; ++i) map.add("copy", *map.get("from"));  // crosses the block's 16
  EXPECT_EQ(map.size(), 21u);
  for (const HeaderMap::Entry& e : map.entries()) EXPECT_EQ(e.value, "a value worth copying");
  map.set("from", map.get("from")->substr(2));  // overlapping move within the same bytes
  EXPECT_EQ(*map.get("from"), "value worth copying");
}

TEST(HeaderMap, RemoveKeepsTheOthersInOrder) {
  HeaderMap map;
  for (const char* name : {"a", "x", "b", "X", "c"}) map.add(name, name);
  EXPECT_EQ(map.remove("x"), 2u);
  EXPECT_EQ(map.remove("x"), 0u);
  EXPECT_EQ(fields(map), (std::vector<std::string>{"a=a", "b=b", "c=c"}));
  EXPECT_EQ(map.getJoined("a"), "a");
  map.add("a", "again");
  EXPECT_EQ(map.getJoined("a"), "a, again");
  EXPECT_EQ(map.getJoined("zz"), std::nullopt);
}

TEST(HeaderMap, CopiesAreDeepAndMovesKeepTheViews) {
  HeaderMap original;
  for (int i = 0; i < 20; ++i) original.add("k" + std::to_string(i), std::string(100, 'v'));
  HeaderMap copy = original;
  original.set("k0", "changed");
  EXPECT_EQ(*copy.get("k0"), std::string(100, 'v'));
  EXPECT_EQ(copy.size(), 20u);

  const std::string_view* before = copy.get("k19");
  const char* bytes = before->data();
  HeaderMap moved = std::move(copy);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(moved.get("k19")->data(), bytes);  // the same storage, not a copy
  copy = moved;
  EXPECT_EQ(fields(copy), fields(moved));
  moved = std::move(original);
  EXPECT_EQ(*moved.get("k0"), "changed");
  copy = copy;  // NOLINT(clang-diagnostic-self-assign-overloaded): self-assignment is a no-op
  EXPECT_EQ(copy.size(), 20u);
}

TEST(HeaderMap, ClearStartsOverAndTheMapIsReusable) {
  HeaderMap map;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 30; ++i) map.add("n" + std::to_string(i), std::string(64, 'a' + round));
    EXPECT_EQ(map.size(), 30u);
    EXPECT_EQ(*map.get("n29"), std::string(64, 'a' + round));
    map.clear();
    EXPECT_TRUE(map.empty());
    EXPECT_EQ(map.get("n0"), nullptr);
  }
  map.add("", "");  // an empty field is still a field
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(*map.get(""), "");
}

}  // namespace
}  // namespace podproxy::http
