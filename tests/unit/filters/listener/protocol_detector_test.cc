#include "filters/listener/protocol_detector.h"

#include <gtest/gtest.h>

namespace podproxy::filters {
namespace {

DetectedProtocol detect(std::string_view bytes) {
  buffer::Buffer b;
  b.add(bytes);
  const DetectedProtocol p = detectProtocol(b);
  EXPECT_EQ(b.length(), bytes.size()) << "detection must not consume";
  return p;
}

TEST(ProtocolDetector, RecognisesHttp1RequestLines) {
  EXPECT_EQ(detect("GET / HTTP/1.1\r\n"), DetectedProtocol::kHttp1);
  EXPECT_EQ(detect("POST /x HTTP/1.0\r\n"), DetectedProtocol::kHttp1);
  EXPECT_EQ(detect("OPTIONS * HTTP/1.1\r\n"), DetectedProtocol::kHttp1);
  EXPECT_EQ(detect("DELETE /a"), DetectedProtocol::kHttp1);
}

TEST(ProtocolDetector, WaitsOnAPrefixOfAMethodOrPreface) {
  EXPECT_EQ(detect("G"), DetectedProtocol::kNeedMoreData);
  EXPECT_EQ(detect("GE"), DetectedProtocol::kNeedMoreData);
  EXPECT_EQ(detect("OPTIO"), DetectedProtocol::kNeedMoreData);
  EXPECT_EQ(detect("PRI * HTTP/2"), DetectedProtocol::kNeedMoreData);
  EXPECT_EQ(detect(""), DetectedProtocol::kNeedMoreData);
}

TEST(ProtocolDetector, RecognisesTheHttp2Preface) {
  EXPECT_EQ(detect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), DetectedProtocol::kHttp2);
}

TEST(ProtocolDetector, RecognisesATlsHandshakeRecord) {
  EXPECT_EQ(detect(std::string_view("\x16\x03\x01\x02\x00", 5)), DetectedProtocol::kTls);
  EXPECT_EQ(detect(std::string_view("\x16\x03", 2)), DetectedProtocol::kNeedMoreData);
  EXPECT_EQ(detect(std::string_view("\x16\x01\x01", 3)), DetectedProtocol::kUnknown);
}

TEST(ProtocolDetector, EverythingElseIsOpaqueTcp) {
  EXPECT_EQ(detect("SSH-2.0-OpenSSH\r\n"), DetectedProtocol::kUnknown);
  EXPECT_EQ(detect("get / HTTP/1.1\r\n"),
            DetectedProtocol::kUnknown);  // methods are case-sensitive
  EXPECT_EQ(detect("GETX / HTTP/1.1"), DetectedProtocol::kUnknown);
  EXPECT_EQ(detect(std::string_view("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8)),
            DetectedProtocol::kUnknown);  // PostgreSQL SSLRequest
}

}  // namespace
}  // namespace podproxy::filters
