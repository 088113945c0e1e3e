// Certificate reload decisions: a changed pair is published, an unchanged one is not, a bad
// one is refused and the current context stays.

#include "proxy/tls/tls_context_manager.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/proxy/tls/tls_test_util.h"

namespace podproxy::tls {
namespace {

namespace fs = std::filesystem;

config::Bootstrap bootstrapWithTls(const std::string& dir) {
  config::Bootstrap b;
  config::Listener l;
  l.name = "ingress";
  config::DownstreamTls tls;
  tls.certificates.push_back({dir + "/cert.pem", dir + "/key.pem", {}});
  l.tls = tls;
  b.listeners.push_back(l);
  b.listeners.push_back(config::Listener{});  // plaintext
  config::Cluster mesh;
  mesh.name = "mesh";
  mesh.mutual = true;
  b.clusters.push_back(mesh);
  b.workload_identity = {dir + "/cert.pem", dir + "/key.pem", dir + "/ca.pem"};
  return b;
}

void install(const testing::CertDir& certs, const std::string& from, const std::string& to,
             const std::string& key_from = "") {
  fs::copy_file(certs.file(from, "cert.pem"), to + "/cert.pem",
                fs::copy_options::overwrite_existing);
  fs::copy_file(certs.file(key_from.empty() ? from : key_from, "key.pem"), to + "/key.pem",
                fs::copy_options::overwrite_existing);
  fs::copy_file(certs.file(from, "ca.pem"), to + "/ca.pem", fs::copy_options::overwrite_existing);
}

TEST(TlsContextManager, PublishesChangedCertificatesAndKeepsTheOldOnFailure) {
  testing::CertDir certs;
  certs.make("ca");
  certs.make("v1", "ca", "v1");
  certs.make("v2", "ca", "v2");
  const std::string live = certs.path("live");
  fs::create_directories(live);
  install(certs, "v1", live);
  const config::Bootstrap bootstrap = bootstrapWithTls(live);
  TlsContextManager manager(bootstrap);
  ASSERT_TRUE(manager.initialize().has_value());
  ASSERT_EQ(manager.size(), 2u);
  EXPECT_EQ(manager.listenerContext(0), 0);
  EXPECT_EQ(manager.listenerContext(1), -1);
  EXPECT_EQ(manager.clusterContext(0), 1);
  const auto expiry = manager.workloadCertExpirySeconds();
  ASSERT_TRUE(expiry);
  EXPECT_GT(*expiry, 29 * 86400);

  std::vector<int> published;
  auto publish = [&](int id, std::shared_ptr<const TlsContext> c) {
    published.push_back(id);
    EXPECT_EQ(c, manager.context(id));
  };
  EXPECT_EQ(manager.reload(publish), 0u);  // nothing changed
  EXPECT_TRUE(published.empty());

  install(certs, "v2", live);
  EXPECT_EQ(manager.reload(publish), 2u);
  EXPECT_EQ(published, (std::vector<int>{0, 1}));
  EXPECT_EQ(manager.context(0)->localUriSan(), "spiffe://cluster.local/ns/default/sa/v2");

  published.clear();
  install(certs, "v1", live, "v2");  // v1's certificate, v2's key
  EXPECT_EQ(manager.reload(publish), 0u);
  EXPECT_TRUE(published.empty());
  EXPECT_EQ(manager.reloadFailures(), 2u);  // both contexts refused it once
  EXPECT_EQ(manager.reload(publish), 0u);
  EXPECT_EQ(manager.reloadFailures(), 2u);  // the same error is not counted again
  EXPECT_EQ(manager.context(0)->localUriSan(), "spiffe://cluster.local/ns/default/sa/v2");
  EXPECT_NE(manager.plainStats().find("tls.listener:ingress.handshakes: 0\n"), std::string::npos);
  EXPECT_NE(manager.prometheusText().find("podproxy_workload_cert_expiry_seconds "),
            std::string::npos);
}

TEST(TlsContextManager, MeshClustersOfferWhatTheirProtocolSpeaks) {
  // protocol: auto over mesh mTLS offers h2 and http/1.1 as a `tls:` cluster does, so an h2
  // peer (an Istio sidecar) is spoken to in HTTP/2; http1 offers nothing, as before.
  testing::CertDir certs;
  certs.make("ca");
  certs.make("w", "ca", "w");
  const std::string live = certs.path("live");
  fs::create_directories(live);
  install(certs, "w", live);
  config::Bootstrap bootstrap = bootstrapWithTls(live);
  bootstrap.clusters[0].protocol = config::Cluster::Protocol::kAuto;
  config::Cluster h2 = bootstrap.clusters[0];
  h2.name = "mesh-h2";
  h2.protocol = config::Cluster::Protocol::kHttp2;
  config::Cluster h1 = bootstrap.clusters[0];
  h1.name = "mesh-h1";
  h1.protocol = config::Cluster::Protocol::kHttp1;
  bootstrap.clusters.push_back(h2);
  bootstrap.clusters.push_back(h1);
  TlsContextManager manager(bootstrap);
  ASSERT_TRUE(manager.initialize().has_value());
  using Alpn = std::vector<std::string>;
  EXPECT_EQ(manager.context(manager.clusterContext(0))->config().alpn, (Alpn{"h2", "http/1.1"}));
  EXPECT_EQ(manager.context(manager.clusterContext(1))->config().alpn, (Alpn{"h2"}));
  EXPECT_EQ(manager.context(manager.clusterContext(2))->config().alpn, Alpn{});
}

TEST(TlsContextManager, InitializeNamesTheContextAndFile) {
  testing::CertDir certs;
  const std::string live = certs.path("missing");
  const config::Bootstrap bootstrap = bootstrapWithTls(live);
  TlsContextManager manager(bootstrap);
  auto result = manager.initialize();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error(),
            "listener:ingress: " + live + "/cert.pem: cannot open: No such file or directory");
}

}  // namespace
}  // namespace podproxy::tls
