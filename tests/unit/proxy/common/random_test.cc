#include "proxy/common/random.h"

#include <gtest/gtest.h>

#include <set>

namespace podproxy {
namespace {

TEST(Random, SameSeedGivesSameSequenceAndDifferentSeedsDiffer) {
  Random a(123), b(123), c(124);
  for (int i = 0; i < 10; ++i) {
    const uint64_t value = a.next();
    EXPECT_EQ(value, b.next());
    EXPECT_NE(value, c.next());
  }
}

TEST(Random, DefaultSeededGeneratorsDiffer) {
  Random a, b;
  EXPECT_NE(a.next(), b.next());
}

TEST(Random, Uuid4HasRfc4122Format) {
  Random random;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = random.uuid4();
    ASSERT_EQ(id.size(), 36u) << id;
    for (size_t j = 0; j < id.size(); ++j) {
      if (j == 8 || j == 13 || j == 18 || j == 23) {
        ASSERT_EQ(id[j], '-') << id;
      } else {
        ASSERT_TRUE((id[j] >= '0' && id[j] <= '9') || (id[j] >= 'a' && id[j] <= 'f')) << id;
      }
    }
    EXPECT_EQ(id[14], '4') << id;                                          // version
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // variant
  }
}

TEST(Random, Uuid4IsUnique) {
  Random random;
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(random.uuid4());
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(Random, Uuid4IntoABufferMatchesTheStringForm) {
  Random a(7);
  Random b(7);
  char buf[Random::kUuidLength + 1];
  buf[Random::kUuidLength] = '#';
  b.uuid4(buf);
  EXPECT_EQ(std::string(buf, Random::kUuidLength), a.uuid4());
  EXPECT_EQ(buf[Random::kUuidLength], '#');  // exactly 36 characters written
}

}  // namespace
}  // namespace podproxy
