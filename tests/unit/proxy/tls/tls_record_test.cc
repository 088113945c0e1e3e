// The TLS transport socket's record path, driven over in-memory buffers (no sockets, no loop):
// how many records a write makes, reads of partial records, the suite negotiated by default,
// and that a failed connection leaves no OpenSSL error behind for the next one on the thread.

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "proxy/tls/tls_transport_socket.h"
#include "tests/unit/proxy/tls/tls_test_util.h"

namespace podproxy::tls {
namespace {

using ReadStatus = network::TransportSocket::ReadStatus;

// One end of an in-memory connection: what arrived, what it decrypted, what it wants to send.
struct End {
  std::unique_ptr<TlsTransportSocket> socket;
  buffer::Buffer raw_in;
  buffer::Buffer plaintext;
  buffer::Buffer raw_out;
  ReadStatus last = ReadStatus::kOk;
};

// Moves bytes both ways until neither side has anything to send; false if a side failed.
bool pump(End& client, End& server) {
  for (int i = 0; i < 20; ++i) {
    if (client.raw_out.empty() && server.raw_out.empty()) return true;
    server.raw_in.move(client.raw_out);
    client.raw_in.move(server.raw_out);
    server.last = server.socket->onRead(server.raw_in, server.plaintext, server.raw_out);
    client.last = client.socket->onRead(client.raw_in, client.plaintext, client.raw_out);
    if (server.last == ReadStatus::kError || client.last == ReadStatus::kError) return false;
  }
  return false;
}

// Appends `text` in a slice of its own (Buffer::add would fill the tail slice first), as
// bodies moved from another buffer often are.
void addInNewSlice(buffer::Buffer& b, const std::string& text) {
  auto space = b.reserve(16 * 1024);
  ASSERT_GE(space.size(), text.size());
  std::memcpy(space.data(), text.data(), text.size());
  b.commit(text.size());
}

// TLS record headers in `wire`: (content type, length) of each.
std::vector<std::pair<int, size_t>> records(const buffer::Buffer& wire) {
  const std::string bytes = wire.toString();
  std::vector<std::pair<int, size_t>> out;
  size_t at = 0;
  while (at + 5 <= bytes.size()) {
    const size_t len =
        (static_cast<uint8_t>(bytes[at + 3]) << 8) | static_cast<uint8_t>(bytes[at + 4]);
    out.emplace_back(static_cast<uint8_t>(bytes[at]), len);
    at += 5 + len;
  }
  EXPECT_EQ(at, bytes.size()) << "trailing partial record";
  return out;
}

class TlsRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_.make("server");
    certs_.make("other");
  }

  TlsContextConfig serverConfig() const {
    TlsContextConfig c;
    c.role = TlsContextConfig::Role::kServer;
    c.name = "record-server";
    c.certificates = {certs_.certificate("server")};
    return c;
  }
  TlsContextConfig clientConfig(const std::string& ca = "server") const {
    TlsContextConfig c;
    c.role = TlsContextConfig::Role::kClient;
    c.name = "record-client";
    c.ca_file = certs_.file(ca, "ca.pem");
    c.sni = "localhost";
    return c;
  }

  // A handshake between fresh sockets; false when it failed.
  bool connect(End& client, End& server, const TlsContextConfig& client_config,
               const TlsContextConfig& server_config) {
    server.socket = TlsTransportSocket::createServer(testing::mustCreate(server_config), &stats_);
    client.socket =
        TlsTransportSocket::createClient(testing::mustCreate(client_config), &stats_, nullptr, "");
    if (!server.socket || !client.socket) return false;
    if (!client.socket->startHandshake(client.raw_out)) return false;
    return pump(client, server) && client.socket->handshakeComplete() &&
           server.socket->handshakeComplete();
  }

  testing::CertDir certs_;
  TlsStats stats_;
};

TEST_F(TlsRecordTest, SmallSlicesLeaveAsOneRecord) {
  End client, server;
  ASSERT_TRUE(connect(client, server, clientConfig(), serverConfig()));
  ASSERT_TRUE(server.raw_out.empty());

  // A response head and body in separate slices, as the HTTP codec hands them over.
  buffer::Buffer response;
  response.add("HTTP/1.1 200 OK\r\ncontent-length: 313\r\n\r\n");
  addInNewSlice(response, "hello, world\n");
  addInNewSlice(response, std::string(300, 'x'));
  ASSERT_EQ(response.sliceCount(), 3u) << "the test needs a multi-slice buffer";
  const std::string expected = response.toString();

  ASSERT_TRUE(server.socket->onWrite(response, server.raw_out));
  EXPECT_TRUE(response.empty());
  const auto recs = records(server.raw_out);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].first, 23);  // application_data
  // 1 content-type byte and a 16-byte AEAD tag around the plaintext (TLS 1.3).
  EXPECT_EQ(recs[0].second, expected.size() + 17);

  client.raw_in.move(server.raw_out);
  ASSERT_EQ(client.socket->onRead(client.raw_in, client.plaintext, client.raw_out),
            ReadStatus::kOk);
  EXPECT_EQ(client.plaintext.toString(), expected);
}

TEST_F(TlsRecordTest, LargeWritesUseFullRecords) {
  End client, server;
  ASSERT_TRUE(connect(client, server, clientConfig(), serverConfig()));
  buffer::Buffer data;
  data.add("HTTP/1.1 200 OK\r\ncontent-length: 40000\r\n\r\n");
  for (int i = 0; i < 4; ++i) addInNewSlice(data, std::string(10000, 'b'));
  ASSERT_EQ(data.sliceCount(), 5u);
  const size_t total = data.length();
  const std::string expected = data.toString();
  ASSERT_TRUE(server.socket->onWrite(data, server.raw_out));
  const auto recs = records(server.raw_out);
  // ceil(total / 16 KiB) records, every one but the last full.
  ASSERT_EQ(recs.size(), (total + 16383) / 16384);
  for (size_t i = 0; i + 1 < recs.size(); ++i) EXPECT_EQ(recs[i].second, 16384u + 17) << i;
  client.raw_in.move(server.raw_out);
  ASSERT_EQ(client.socket->onRead(client.raw_in, client.plaintext, client.raw_out),
            ReadStatus::kOk);
  EXPECT_EQ(client.plaintext.toString(), expected);
}

TEST_F(TlsRecordTest, ARecordSplitAcrossReadsIsDecryptedWhenComplete) {
  End client, server;
  ASSERT_TRUE(connect(client, server, clientConfig(), serverConfig()));
  buffer::Buffer request;
  request.add("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
  ASSERT_TRUE(client.socket->onWrite(request, client.raw_out));
  const std::string wire = client.raw_out.toString();
  client.raw_out.clear();
  // Header only, then part of the body, then the rest with the start of a close_notify.
  server.raw_in.add(wire.substr(0, 3));
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kOk);
  server.raw_in.add(wire.substr(3, 10));
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kOk);
  EXPECT_TRUE(server.plaintext.empty());
  EXPECT_TRUE(server.raw_in.empty());
  server.raw_in.add(wire.substr(13));
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kOk);
  EXPECT_EQ(server.plaintext.toString(), "GET / HTTP/1.1\r\nhost: x\r\n\r\n");

  // Nothing new: no call into OpenSSL is needed, and nothing changes.
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kOk);
  EXPECT_TRUE(server.raw_out.empty());

  // The client's close_notify, one byte at a time, ends the stream exactly once it is whole.
  client.socket->shutdown(client.raw_out);
  const std::string alert = client.raw_out.toString();
  ASSERT_FALSE(alert.empty());
  for (size_t i = 0; i + 1 < alert.size(); ++i) {
    server.raw_in.add(alert.substr(i, 1));
    ASSERT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
              ReadStatus::kOk)
        << i;
  }
  server.raw_in.add(alert.substr(alert.size() - 1));
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kPeerClosed);
}

TEST_F(TlsRecordTest, NegotiatesAes128GcmByDefaultAndChaChaForClientsThatPreferIt) {
  End client, server;
  ASSERT_TRUE(connect(client, server, clientConfig(), serverConfig()));
  EXPECT_EQ(server.socket->info().cipher, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(server.socket->info().version, "TLSv1.3");

  // A client without AES hardware lists ChaCha20 first and gets it.
  End client2, server2;
  auto chacha = clientConfig();
  chacha.cipher_suites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
  ASSERT_TRUE(connect(client2, server2, chacha, serverConfig()));
  EXPECT_EQ(server2.socket->info().cipher, "TLS_CHACHA20_POLY1305_SHA256");

  // An explicit list still wins.
  End client3, server3;
  auto only256 = serverConfig();
  only256.cipher_suites = "TLS_AES_256_GCM_SHA384";
  ASSERT_TRUE(connect(client3, server3, clientConfig(), only256));
  EXPECT_EQ(server3.socket->info().cipher, "TLS_AES_256_GCM_SHA384");

  // TLS 1.2 keeps the AES-128-GCM-first list.
  End client4, server4;
  auto tls12 = clientConfig();
  tls12.max_version = TlsVersion::kTls12;
  ASSERT_TRUE(connect(client4, server4, tls12, serverConfig()));
  EXPECT_EQ(server4.socket->info().version, "TLSv1.2");
  EXPECT_EQ(server4.socket->info().cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_F(TlsRecordTest, AFailedHandshakeLeavesNoErrorForTheNextConnection) {
  End bad_client, bad_server;
  // The client trusts another CA: its handshake fails with OpenSSL errors queued.
  EXPECT_FALSE(connect(bad_client, bad_server, clientConfig("other"), serverConfig()));
  EXPECT_NE(bad_client.socket->failureReason().find("certificate verify failed"), std::string::npos)
      << bad_client.socket->failureReason();
  EXPECT_EQ(ERR_peek_error(), 0u);

  // The next connection on this thread reads a partial record (SSL_read says WANT_READ, which
  // SSL_get_error would misreport as a failure if stale errors were left queued).
  End client, server;
  ASSERT_TRUE(connect(client, server, clientConfig(), serverConfig()));
  buffer::Buffer request;
  request.add("ping");
  ASSERT_TRUE(client.socket->onWrite(request, client.raw_out));
  const std::string wire = client.raw_out.toString();
  server.raw_in.add(wire.substr(0, wire.size() - 1));
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kOk);
  server.raw_in.add(wire.substr(wire.size() - 1));
  EXPECT_EQ(server.socket->onRead(server.raw_in, server.plaintext, server.raw_out),
            ReadStatus::kOk);
  EXPECT_EQ(server.plaintext.toString(), "ping");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace podproxy::tls
