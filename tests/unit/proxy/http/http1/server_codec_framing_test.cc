// Request smuggling and framing vectors: each must be refused with the right status, and the
// codec must parse nothing after it (the connection closes).

#include <gtest/gtest.h>

#include <string>

#include "proxy/http/http1/server_codec.h"
#include "tests/unit/proxy/http/http1/codec_fakes.h"

namespace podproxy::http::http1 {
namespace {

using namespace std::string_literals;
using testing::FakeServerCallbacks;
using testing::RecordingTransport;

struct Vector {
  const char* name;
  std::string bytes;
  uint16_t status;
  const char* details;
  bool head_delivered = false;  // the error is in the body: the stream had started
};

void PrintTo(const Vector& v, std::ostream* os) {
  *os << v.name;
}

class Http1ServerCodecFraming : public ::testing::TestWithParam<Vector> {};

constexpr const char* kNext = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

TEST_P(Http1ServerCodecFraming, RejectsAndStopsParsing) {
  const Vector& v = GetParam();
  RecordingTransport transport;
  FakeServerCallbacks callbacks;
  ServerCodec codec(transport, callbacks, ServerCodecSettings{});
  buffer::Buffer input;
  input.add(v.bytes);
  input.add(kNext);

  CodecStatus s = codec.dispatch(input);
  ASSERT_FALSE(s) << "accepted " << v.name;
  EXPECT_EQ(s.error().status, v.status);
  EXPECT_EQ(s.error().details, v.details);
  EXPECT_EQ(callbacks.streams.size(), v.head_delivered ? 1u : 0u);
  for (const auto& stream : callbacks.streams) {
    EXPECT_FALSE(stream->end_stream) << "a broken message must never look complete";
  }
  EXPECT_FALSE(codec.keepAlive());
  EXPECT_TRUE(transport.writes.empty());

  // The same error again, and the smuggled request never becomes a stream.
  CodecStatus again = codec.dispatch(input);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().details, v.details);
  EXPECT_EQ(callbacks.streams.size(), v.head_delivered ? 1u : 0u);
}

const std::string kPost = "POST / HTTP/1.1\r\nHost: h\r\n";
const std::string kChunkedPost = kPost + "Transfer-Encoding: chunked\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Smuggling, Http1ServerCodecFraming,
    ::testing::Values(
        Vector{"ContentLengthWithTransferEncoding",
               kPost + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
               "http1.content_length_and_transfer_encoding"},
        Vector{"TransferEncodingWithContentLength",
               kPost + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400,
               "http1.content_length_and_transfer_encoding"},
        Vector{"DuplicateContentLengthDiffering",
               kPost + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
               "http1.duplicate_content_length"},
        // Identical duplicates are refused too (llhttp's choice, kept: no list semantics).
        Vector{"DuplicateContentLengthIdentical",
               kPost + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400,
               "http1.duplicate_content_length"},
        Vector{"ContentLengthList", kPost + "Content-Length: 3, 3\r\n\r\nabc", 400,
               "http1.invalid_content_length"},
        Vector{"ContentLengthNotNumeric", kPost + "Content-Length: 3x\r\n\r\nabc", 400,
               "http1.invalid_content_length"},
        Vector{"ContentLengthSigned", kPost + "Content-Length: +3\r\n\r\nabc", 400,
               "http1.invalid_content_length"},
        Vector{"ContentLengthNegative", kPost + "Content-Length: -1\r\n\r\n", 400,
               "http1.invalid_content_length"},
        Vector{"ContentLengthEmpty", kPost + "Content-Length: \r\n\r\n", 400,
               "http1.invalid_content_length"},
        Vector{"ContentLengthOverflow", kPost + "Content-Length: 99999999999999999999999\r\n\r\n",
               400, "http1.invalid_content_length"},
        Vector{"ChunkSizeNotHex", kChunkedPost + "zz\r\nabc\r\n0\r\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"ChunkSizeTrailingSpace", kChunkedPost + "3 \r\nabc\r\n0\r\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"ChunkSizeOverflow", kChunkedPost + "fffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"ChunkDataLongerThanSize", kChunkedPost + "3\r\nabcd\r\n0\r\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"ChunkSizeBareLf", kChunkedPost + "3\nabc\r\n0\r\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"ChunkDataBareLf", kChunkedPost + "3\r\nabc\n0\r\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"LastChunkBareLf", kChunkedPost + "3\r\nabc\r\n0\n\r\n", 400,
               "http1.invalid_chunk_size", true},
        Vector{"EndOfChunkedBodyBareLf", kChunkedPost + "3\r\nabc\r\n0\r\n\n", 400,
               "http1.bare_lf", true},
        Vector{"TrailerBareLf", kChunkedPost + "0\r\nX-T: v\n\r\n", 400, "http1.invalid_header",
               true},
        Vector{"TrailerSectionEndBareLf", kChunkedPost + "0\r\nX-T: v\r\n\n", 400,
               "http1.bare_lf", true},
        Vector{"TrailerObsFold", kChunkedPost + "0\r\nX-T: v\r\n w\r\n\r\n", 400,
               "http1.obs_fold", true},
        Vector{"TrailerSpaceBeforeColon", kChunkedPost + "0\r\nX-T : v\r\n\r\n", 400,
               "http1.invalid_header_name", true},
        Vector{"ChunkExtensionControlChar", kChunkedPost + "3;a=\x01\r\nabc\r\n0\r\n\r\n", 400,
               "http1.invalid_chunk_extension", true},
        Vector{"TransferEncodingGzipOnly", kPost + "Transfer-Encoding: gzip\r\n\r\nabc", 400,
               "http1.invalid_transfer_encoding"},
        Vector{"TransferEncodingChunkedNotLast",
               kPost + "Transfer-Encoding: chunked, gzip\r\n\r\nabc", 400,
               "http1.invalid_transfer_encoding"},
        Vector{"TransferEncodingUnknownCodingBeforeChunked",
               kPost + "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501,
               "http1.unsupported_transfer_coding"},
        Vector{"TransferEncodingXchunked", kPost + "Transfer-Encoding: xchunked\r\n\r\n", 400,
               "http1.invalid_transfer_encoding"},
        Vector{"TransferEncodingTwice",
               kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
               400, "http1.invalid_transfer_encoding"},
        Vector{"TransferEncodingInHttp10",
               "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400,
               "http1.transfer_encoding_in_http10"},
        Vector{"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n", 400,
               "http1.obs_fold"},
        Vector{"ObsFoldTab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\tc\r\n\r\n", 400,
               "http1.obs_fold"},
        Vector{"BareLfRequestLine", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "http1.bare_lf"},
        Vector{"BareLfHeaderLine", "GET / HTTP/1.1\r\nHost: h\nX: b\r\n\r\n", 400,
               "http1.invalid_header"},
        Vector{"BareLfEndOfHead", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "http1.bare_lf"},
        Vector{"BareCrInHeader", "GET / HTTP/1.1\r\nHost: h\rX: b\r\n\r\n", 400,
               "http1.invalid_line_ending"},
        Vector{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400,
               "http1.invalid_header_name"},
        Vector{"SpaceBeforeColonTransferEncoding",
               kPost + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "http1.invalid_header"},
        Vector{"InvalidHeaderNameChar", "GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n", 400,
               "http1.invalid_header"},
        Vector{"EmptyHeaderName", "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", 400,
               "http1.invalid_header_name"},
        Vector{"NulInValue", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s, 400,
               "http1.invalid_header"},
        Vector{"ControlCharInValue", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400,
               "http1.invalid_header"},
        Vector{"InvalidMethod", "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "http1.invalid_method"},
        Vector{"LowerCaseVersion", "GET / http/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_start_line"},
        Vector{"Http2VersionInRequestLine", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505,
               "http1.unsupported_version"},
        Vector{"Http12", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "http1.unsupported_version"},
        Vector{"Http09", "GET /\r\n\r\n", 400, "http1.invalid_request_line"},
        Vector{"TokenAfterVersion", "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_request_line"},
        Vector{"NonDigitMinorVersion", "GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_request_line"},
        Vector{"DoubleSpaceInRequestLine", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_request_line"},
        Vector{"TabInTarget", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_request_line"},
        Vector{"ControlCharInTarget", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_url"},
        Vector{"WhitespaceBeforeRequestLine", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_method"},
        Vector{"MissingHost", "GET / HTTP/1.1\r\n\r\n", 400, "http1.missing_host"},
        Vector{"MissingHostWithAbsoluteForm", "GET http://h/ HTTP/1.1\r\n\r\n", 400,
               "http1.missing_host"},
        Vector{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
               "http1.multiple_host"},
        Vector{"HostList", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, "http1.invalid_host"},
        Vector{"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400,
               "http1.invalid_host"},
        Vector{"UserinfoInAbsoluteForm", "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_target"},
        Vector{"RelativeTarget", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_url"},
        Vector{"UnknownSchemeInAbsoluteForm", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_target"},
        Vector{"ConnectWithBody",
               "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 3\r\n\r\nabc", 400,
               "http1.connect_with_body"},
        Vector{"ConnectOriginForm", "CONNECT /x HTTP/1.1\r\nHost: h:443\r\n\r\n", 400,
               "http1.invalid_target"},
        Vector{"ConnectWithoutPort", "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", 400,
               "http1.invalid_target"},
        Vector{"ConnectUserinfo", "CONNECT u@h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400,
               "http1.invalid_target"},
        Vector{"HeadersTooLarge",
               "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(61 * 1024, 'a') + "\r\n\r\n",
               431, "http1.headers_too_large"},
        Vector{"TargetTooLarge",
               "GET /" + std::string(61 * 1024, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 431,
               "http1.headers_too_large"},
        Vector{"TooManyHeaders",
               [] {
                 std::string r = "GET / HTTP/1.1\r\nHost: h\r\n";
                 for (int i = 0; i < 100; ++i) r += "x-h" + std::to_string(i) + ": v\r\n";
                 return r + "\r\n";
               }(),
               431, "http1.too_many_headers"}),
    [](const ::testing::TestParamInfo<Vector>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace podproxy::http::http1
