#include "proxy/http/grpc.h"

#include <gtest/gtest.h>

namespace podproxy::http::grpc {
namespace {

TEST(Grpc, RecognisesGrpcContentTypesOnly) {
  RequestHeaders h;
  EXPECT_FALSE(isGrpcRequest(h));
  h.headers.set("content-type", "application/grpc");
  EXPECT_TRUE(isGrpcRequest(h));
  h.headers.set("content-type", "application/grpc+proto");
  EXPECT_TRUE(isGrpcRequest(h));
  h.headers.set("content-type", "Application/GRPC-web");
  EXPECT_TRUE(isGrpcRequest(h));
  h.headers.set("content-type", "application/grpcx");
  EXPECT_FALSE(isGrpcRequest(h));
  h.headers.set("content-type", "application/json");
  EXPECT_FALSE(isGrpcRequest(h));
}

TEST(Grpc, MapsLocalReplyStatusesToGrpcCodes) {
  EXPECT_EQ(httpToGrpcStatus(503), 14u);
  EXPECT_EQ(httpToGrpcStatus(502), 14u);
  EXPECT_EQ(httpToGrpcStatus(504), 4u);
  EXPECT_EQ(httpToGrpcStatus(404), 12u);
  EXPECT_EQ(httpToGrpcStatus(413), 8u);
  EXPECT_EQ(httpToGrpcStatus(418), 2u);
}

TEST(Grpc, ParsesGrpcTimeoutUnits) {
  EXPECT_EQ(parseTimeout("2S"), std::chrono::milliseconds(2000));
  EXPECT_EQ(parseTimeout("150m"), std::chrono::milliseconds(150));
  EXPECT_EQ(parseTimeout("1M"), std::chrono::milliseconds(60000));
  EXPECT_EQ(parseTimeout("1H"), std::chrono::milliseconds(3600000));
  EXPECT_EQ(parseTimeout("1500u"), std::chrono::milliseconds(2));  // rounds up
  EXPECT_EQ(parseTimeout("1n"), std::chrono::milliseconds(1));
  EXPECT_EQ(parseTimeout("99999999S"), std::chrono::milliseconds(99999999000ull));
  EXPECT_FALSE(parseTimeout("100"));
  EXPECT_FALSE(parseTimeout("S"));
  EXPECT_FALSE(parseTimeout("123456789S"));  // at most 8 digits
  EXPECT_FALSE(parseTimeout("1x"));
  EXPECT_FALSE(parseTimeout("-1S"));
}

TEST(Grpc, PercentEncodesMessages) {
  EXPECT_EQ(encodeMessage("upstream request timeout"), "upstream request timeout");
  EXPECT_EQ(encodeMessage("50% off\n"), "50%25 off%0A");
}

}  // namespace
}  // namespace podproxy::http::grpc
