// TLS between two Connections over real loopback sockets on one loop: handshake, data both
// ways, ALPN, SNI, SPIFFE IDs, resumption, and each refusal with its reason.

#include "proxy/tls/tls_transport_socket.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/network/connection.h"
#include "proxy/tls/session_cache.h"
#include "proxy/tls/tls_socket_factory.h"
#include "tests/unit/proxy/tls/tls_test_util.h"

namespace podproxy::tls {
namespace {

using namespace std::chrono_literals;
using network::Connection;
using network::ConnectionEvent;

class Recorder : public network::ConnectionCallbacks, public network::ReadFilter {
 public:
  void onEvent(ConnectionEvent event) override { events.push_back(event); }
  network::FilterStatus onNewConnection() override {
    started = true;
    return network::FilterStatus::kContinue;
  }
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override {
    received += data.toString();
    data.clear();
    if (end_stream) saw_end_stream = true;
    return network::FilterStatus::kStopIteration;
  }
  bool has(ConnectionEvent e) const {
    return std::find(events.begin(), events.end(), e) != events.end();
  }
  std::vector<ConnectionEvent> events;
  std::string received;
  bool saw_end_stream = false;
  bool started = false;
};

// A TLS server (accepting on 127.0.0.1:0) and TLS clients on one dispatcher.
class TlsHarness {
 public:
  explicit TlsHarness(std::shared_ptr<const TlsContext> server_context) {
    server_factory_ = std::make_unique<TlsSocketFactory>(std::move(server_context), server_stats);
    listener_ = new uv_tcp_t;
    uv_tcp_init(dispatcher.loop(), listener_);
    listener_->data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 16, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<TlsHarness*>(s->data)->accept();
    });
    sockaddr_storage ss{};
    int len = sizeof(ss);
    uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&ss), &len);
    address = network::Address(reinterpret_cast<sockaddr*>(&ss));
  }
  ~TlsHarness() {
    clients.clear();
    servers.clear();
    event::closeAndDelete(listener_);
    EXPECT_TRUE(dispatcher.shutdown());
  }

  struct Side {
    std::unique_ptr<Connection> connection;
    Recorder* filter = nullptr;
    Recorder callbacks;
  };

  Side& connect(TlsSocketFactory& client_factory) {
    auto side = std::make_unique<Side>();
    side->connection = Connection::connectTo(dispatcher, address, 2000ms,
                                             client_factory.createClientSocket(address));
    auto filter = std::make_unique<Recorder>();
    side->filter = filter.get();
    side->connection->addReadFilter(std::move(filter));
    side->connection->addConnectionCallbacks(side->callbacks);
    side->connection->enableHalfClose(true);
    clients.push_back(std::move(side));
    return *clients.back();
  }

  template <typename Pred>
  bool runUntil(Pred done) {
    auto guard = dispatcher.createTimer([this] { dispatcher.exit(); });
    for (int i = 0; i < 500 && !done(); ++i) {
      guard->enable(10ms);
      dispatcher.run();
    }
    return done();
  }

  void send(Connection& c, const std::string& text, bool end = false) {
    buffer::Buffer b;
    b.add(text);
    c.write(b, end);
  }

  event::Dispatcher dispatcher{"tls-test"};
  network::Address address;
  TlsStats server_stats;
  std::vector<std::unique_ptr<Side>> servers;
  std::vector<std::unique_ptr<Side>> clients;

 private:
  void accept() {
    auto* socket = new network::Socket;
    uv_tcp_init(dispatcher.loop(), &socket->handle);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                  reinterpret_cast<uv_stream_t*>(&socket->handle)) != 0) {
      network::Socket::closeAndDelete(socket);
      return;
    }
    auto side = std::make_unique<Side>();
    side->connection = Connection::fromAccepted(dispatcher, socket);
    side->connection->setTransportSocket(server_factory_->createServerSocket());
    auto filter = std::make_unique<Recorder>();
    side->filter = filter.get();
    side->connection->addReadFilter(std::move(filter));
    side->connection->addConnectionCallbacks(side->callbacks);
    side->connection->enableHalfClose(true);
    side->connection->initializeReadFilters();
    servers.push_back(std::move(side));
  }

  uv_tcp_t* listener_ = nullptr;
  std::unique_ptr<TlsSocketFactory> server_factory_;
};

TlsContextConfig serverConfig(const testing::CertDir& certs, const std::string& name) {
  TlsContextConfig c;
  c.role = TlsContextConfig::Role::kServer;
  c.name = "test-server";
  c.certificates = {certs.certificate(name)};
  c.alpn = {"h2", "http/1.1"};
  return c;
}

TlsContextConfig clientConfig(const testing::CertDir& certs, const std::string& ca) {
  TlsContextConfig c;
  c.role = TlsContextConfig::Role::kClient;
  c.name = "test-client";
  c.ca_file = certs.file(ca, "ca.pem");
  c.sni = "localhost";
  return c;
}

TEST(TlsTransportSocket, HandshakeCarriesDataBothWaysAndReportsAlpnSniAndSpiffeId) {
  testing::CertDir certs;
  const std::string server_id = certs.make("server");
  TlsHarness h(testing::mustCreate(serverConfig(certs, "server")));
  auto client_config = clientConfig(certs, "server");
  client_config.alpn = {"http/1.1"};
  TlsStats client_stats;
  TlsSocketFactory client(testing::mustCreate(client_config), client_stats);

  auto& c = h.connect(client);
  ASSERT_TRUE(h.runUntil([&] { return !c.callbacks.events.empty(); }));
  ASSERT_EQ(c.callbacks.events[0], ConnectionEvent::kConnected) << c.connection->failureReason();
  ASSERT_NE(c.connection->tls(), nullptr);
  EXPECT_EQ(c.connection->tls()->alpn, "http/1.1");
  EXPECT_EQ(c.connection->tls()->peer_uri_san, server_id);
  EXPECT_TRUE(c.connection->tls()->peer_certificate_verified);
  EXPECT_EQ(c.connection->tls()->version, "TLSv1.3");
  c.connection->initializeReadFilters();

  h.send(*c.connection, "ping");
  ASSERT_TRUE(
      h.runUntil([&] { return !h.servers.empty() && h.servers[0]->filter->received == "ping"; }));
  auto& s = *h.servers[0];
  EXPECT_TRUE(s.filter->started);
  ASSERT_NE(s.connection->tls(), nullptr);
  EXPECT_EQ(s.connection->tls()->sni, "localhost");
  EXPECT_EQ(s.connection->tls()->alpn, "http/1.1");
  EXPECT_FALSE(s.connection->tls()->peer_certificate_presented);

  // 1 MiB back, then close_notify + FIN: the client sees all of it and then end_stream.
  const std::string big(1024 * 1024, 'z');
  h.send(*s.connection, big, true);
  ASSERT_TRUE(h.runUntil([&] { return c.filter->saw_end_stream; }));
  EXPECT_EQ(c.filter->received.size(), big.size());
  EXPECT_EQ(c.filter->received, big);
  EXPECT_EQ(h.server_stats.handshakes.load(), 1u);
  EXPECT_EQ(client_stats.handshakes.load(), 1u);
}

TEST(TlsTransportSocket, SecondConnectionResumesTheSession) {
  testing::CertDir certs;
  certs.make("server");
  TlsHarness h(testing::mustCreate(serverConfig(certs, "server")));
  TlsStats client_stats;
  TlsSocketFactory client(testing::mustCreate(clientConfig(certs, "server")), client_stats);

  auto& first = h.connect(client);
  ASSERT_TRUE(h.runUntil([&] { return first.callbacks.has(ConnectionEvent::kConnected); }));
  first.connection->initializeReadFilters();
  // TLS 1.3 tickets arrive after the handshake, with the server's first records.
  h.send(*first.connection, "x");
  ASSERT_TRUE(
      h.runUntil([&] { return !h.servers.empty() && !h.servers[0]->filter->received.empty(); }));
  h.send(*h.servers[0]->connection, "y");
  ASSERT_TRUE(h.runUntil([&] { return first.filter->received == "y"; }));
  EXPECT_FALSE(first.connection->tls()->session_reused);

  auto& second = h.connect(client);
  ASSERT_TRUE(h.runUntil([&] { return !second.callbacks.events.empty(); }));
  ASSERT_EQ(second.callbacks.events[0], ConnectionEvent::kConnected);
  EXPECT_TRUE(second.connection->tls()->session_reused);
  EXPECT_EQ(client_stats.sessions_resumed.load(), 1u);
}

struct Refusal {
  std::unique_ptr<TlsHarness> harness;
  std::string reason;
};

// Connects `client_config` to `server_config`; returns the client's failure reason.
std::string clientFailure(const TlsContextConfig& server_config,
                          const TlsContextConfig& client_config, TlsHarness** out = nullptr) {
  TlsHarness h(testing::mustCreate(server_config));
  TlsStats stats;
  auto context = testing::mustCreate(client_config);
  if (!context) return "client context failed";
  TlsSocketFactory client(context, stats);
  auto& c = h.connect(client);
  EXPECT_TRUE(h.runUntil([&] { return !c.callbacks.events.empty(); }));
  if (c.callbacks.events.empty()) return "no event";
  if (c.callbacks.events[0] != ConnectionEvent::kConnectFailed) return "connected";
  EXPECT_EQ(stats.handshake_failures.load(), 1u);
  return c.connection->failureReason();
}

TEST(TlsTransportSocket, RefusesAServerSignedByAnotherCa) {
  testing::CertDir certs;
  certs.make("server");
  certs.make("other");
  const std::string why =
      clientFailure(serverConfig(certs, "server"), clientConfig(certs, "other"));
  EXPECT_TRUE(why.starts_with("tls_handshake_failed: certificate verify failed")) << why;
  EXPECT_NE(why.find("unable to get local issuer certificate"), std::string::npos) << why;
}

TEST(TlsTransportSocket, RefusesAnExpiredCertificate) {
  testing::CertDir certs;
  certs.make("ca");
  certs.make("expired", "ca", "default", -1);
  auto client = clientConfig(certs, "ca");
  const std::string why = clientFailure(serverConfig(certs, "expired"), client);
  EXPECT_NE(why.find("certificate has expired"), std::string::npos) << why;
}

TEST(TlsTransportSocket, RefusesACertificateForAnotherName) {
  testing::CertDir certs;
  certs.make("server");
  auto client = clientConfig(certs, "server");
  client.sni = "api.example.com";
  const std::string why = clientFailure(serverConfig(certs, "server"), client);
  EXPECT_NE(why.find("hostname mismatch"), std::string::npos) << why;
}

TEST(TlsTransportSocket, VerifiesTheExpectedSpiffeId) {
  testing::CertDir certs;
  certs.make("ca");
  certs.make("server", "ca", "payments");
  auto client = clientConfig(certs, "server");
  client.sni.clear();
  client.allowed_spiffe_ids = {"spiffe://cluster.local/ns/default/sa/orders"};
  const std::string why = clientFailure(serverConfig(certs, "server"), client);
  EXPECT_EQ(why,
            "tls_handshake_failed: peer SPIFFE ID spiffe://cluster.local/ns/default/sa/payments is "
            "not allowed (expected spiffe://cluster.local/ns/default/sa/orders)");

  client.allowed_spiffe_ids = {"spiffe://cluster.local/ns/default/sa/payments"};
  EXPECT_EQ(clientFailure(serverConfig(certs, "server"), client), "connected");
  client.allowed_spiffe_ids.clear();
  client.allowed_trust_domains = {"cluster.local"};
  EXPECT_EQ(clientFailure(serverConfig(certs, "server"), client), "connected");
}

TEST(TlsTransportSocket, MutualTlsRequiresAClientCertificate) {
  testing::CertDir certs;
  certs.make("ca");
  certs.make("server", "ca", "server");
  const std::string client_id = certs.make("client", "ca", "client");
  auto server = serverConfig(certs, "server");
  server.ca_file = certs.file("ca", "ca.pem");
  server.require_peer_certificate = true;
  auto client = clientConfig(certs, "ca");

  {
    // No client certificate: the TLS 1.3 client finishes, then the server's alert ends it.
    TlsHarness h(testing::mustCreate(server));
    TlsStats stats;
    TlsSocketFactory factory(testing::mustCreate(client), stats);
    auto& c = h.connect(factory);
    ASSERT_TRUE(h.runUntil([&] {
      return !h.servers.empty() && h.servers[0]->connection->state() == Connection::State::kClosed;
    }));
    EXPECT_NE(h.servers[0]->connection->failureReason().find("certificate"), std::string::npos)
        << h.servers[0]->connection->failureReason();
    EXPECT_FALSE(h.servers[0]->filter->started);
    EXPECT_EQ(h.server_stats.no_certificate.load(), 1u);
    ASSERT_TRUE(h.runUntil([&] {
      return c.callbacks.has(ConnectionEvent::kRemoteClose) ||
             c.callbacks.has(ConnectionEvent::kConnectFailed);
    }));
  }
  {
    client.certificates = {certs.certificate("client")};
    TlsHarness h(testing::mustCreate(server));
    TlsStats stats;
    TlsSocketFactory factory(testing::mustCreate(client), stats);
    auto& c = h.connect(factory);
    ASSERT_TRUE(h.runUntil([&] { return c.callbacks.has(ConnectionEvent::kConnected); }));
    c.connection->initializeReadFilters();
    h.send(*c.connection, "hi");
    ASSERT_TRUE(
        h.runUntil([&] { return !h.servers.empty() && h.servers[0]->filter->received == "hi"; }));
    const network::TlsInfo* info = h.servers[0]->connection->tls();
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->peer_uri_san, client_id);
    EXPECT_TRUE(info->peer_certificate_verified);
    EXPECT_EQ(info->local_uri_san, "spiffe://cluster.local/ns/default/sa/server");
    EXPECT_EQ(info->peer_cert_sha256.size(), 64u);
  }
}

TEST(TlsTransportSocket, ServerPicksTheCertificateBySni) {
  testing::CertDir certs;
  certs.make("ca");
  const std::string a = certs.make("a", "ca", "a", 30, {"a.example.com"});
  const std::string b = certs.make("b", "ca", "b", 30, {"b.example.com"});
  TlsContextConfig server;
  server.role = TlsContextConfig::Role::kServer;
  server.certificates = {certs.certificate("a"), certs.certificate("b", {"*.example.com"})};
  TlsHarness h(testing::mustCreate(server));
  for (const auto& [sni, expected] :
       std::vector<std::pair<std::string, std::string>>{{"b.example.com", b}, {"other", a}}) {
    auto client = clientConfig(certs, "ca");
    client.sni = sni;
    client.verify_subject_alt_names = {expected};
    TlsStats stats;
    TlsSocketFactory factory(testing::mustCreate(client), stats);
    auto& c = h.connect(factory);
    ASSERT_TRUE(h.runUntil([&] { return !c.callbacks.events.empty(); }));
    ASSERT_EQ(c.callbacks.events[0], ConnectionEvent::kConnected) << c.connection->failureReason();
    EXPECT_EQ(c.connection->tls()->peer_uri_san, expected) << sni;
  }
}

TEST(TlsContext, RejectsAKeyThatDoesNotMatchTheCertificate) {
  testing::CertDir certs;
  certs.make("a");
  certs.make("b");
  TlsContextConfig config;
  config.certificates = {{certs.file("a", "cert.pem"), certs.file("b", "key.pem"), {}}};
  auto context = TlsContext::create(config);
  ASSERT_FALSE(context.has_value());
  EXPECT_EQ(context.error(), certs.file("b", "key.pem") +
                                 ": the private key does not match the certificate in " +
                                 certs.file("a", "cert.pem"));
}

TEST(TlsContext, RejectsAFileWithoutACertificate) {
  testing::CertDir certs;
  certs.make("a");
  TlsContextConfig config;
  config.certificates = {{certs.file("a", "key.pem"), certs.file("a", "key.pem"), {}}};
  auto context = TlsContext::create(config);
  ASSERT_FALSE(context.has_value());
  EXPECT_EQ(context.error(), certs.file("a", "key.pem") + ": no PEM certificate in the file");
  config.certificates = {{"/nonexistent/cert.pem", certs.file("a", "key.pem"), {}}};
  EXPECT_EQ(TlsContext::create(config).error(),
            "/nonexistent/cert.pem: cannot open: No such file or directory");
}

TEST(TlsContext, ClientsWithoutACaFileShareOneSystemTrustStore) {
  if (!std::filesystem::exists(X509_get_default_cert_file())) {
    GTEST_SKIP() << "no system CA bundle at " << X509_get_default_cert_file();
  }
  TlsContextConfig config;
  config.role = TlsContextConfig::Role::kClient;
  auto first = testing::mustCreate(config);
  config.name = "cluster:other";
  config.alpn = {"h2"};
  auto second = testing::mustCreate(config);
  ASSERT_TRUE(first && second);
  X509_STORE* store = SSL_CTX_get_cert_store(first->sslCtx());
  EXPECT_EQ(store, SSL_CTX_get_cert_store(second->sslCtx()));
  EXPECT_EQ(store, systemTrustStore());
  // The bundle was read into it (Debian's holds over a hundred CAs).
  EXPECT_GT(sk_X509_OBJECT_num(X509_STORE_get0_objects(store)), 10);
  // A client with its own CA keeps a store of its own.
  testing::CertDir certs;
  certs.make("ca");
  config.ca_file = certs.file("ca", "ca.pem");
  auto own = testing::mustCreate(config);
  ASSERT_TRUE(own);
  EXPECT_NE(SSL_CTX_get_cert_store(own->sslCtx()), store);
  EXPECT_EQ(sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(own->sslCtx()))), 1);
}

}  // namespace
}  // namespace podproxy::tls
