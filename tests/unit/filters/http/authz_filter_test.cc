#include "filters/http/authz_filter.h"

#include <gtest/gtest.h>

#include "proxy/network/transport_socket.h"

namespace podproxy::filters {
namespace {

network::TlsInfo verifiedPeer() {
  network::TlsInfo tls;
  tls.peer_certificate_presented = true;
  tls.peer_certificate_verified = true;
  tls.peer_cert_sha256 = "ab01";
  tls.peer_uri_san = "spiffe://cluster.local/ns/a/sa/client";
  tls.local_uri_san = "spiffe://cluster.local/ns/b/sa/server";
  return tls;
}

TEST(ForwardedClientCert, NamesUsTheHashAndThePeerInEnvoysOrder) {
  EXPECT_EQ(forwardedClientCert(verifiedPeer()),
            "By=spiffe://cluster.local/ns/b/sa/server;Hash=ab01;"
            "URI=spiffe://cluster.local/ns/a/sa/client");
}

TEST(ForwardedClientCert, LeavesOutSansThatAreAbsent) {
  network::TlsInfo tls = verifiedPeer();
  tls.local_uri_san.clear();
  tls.peer_uri_san.clear();
  EXPECT_EQ(forwardedClientCert(tls), "Hash=ab01");
}

TEST(ForwardedClientCert, IsEmptyForAPeerNotVerified) {
  network::TlsInfo tls = verifiedPeer();
  tls.peer_certificate_verified = false;
  EXPECT_EQ(forwardedClientCert(tls), "");
  tls = verifiedPeer();
  tls.peer_certificate_presented = false;
  EXPECT_EQ(forwardedClientCert(tls), "");
}

}  // namespace
}  // namespace podproxy::filters
