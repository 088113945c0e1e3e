#include "filters/http/authz_filter.h"

#include "proxy/network/connection.h"

namespace podproxy::filters {

namespace {
constexpr std::string_view kXfcc = "x-forwarded-client-cert";
}  // namespace

std::string forwardedClientCert(const network::TlsInfo& tls) {
  if (!tls.peer_certificate_presented || !tls.peer_certificate_verified) return {};
  // Appended in place: this runs on every mTLS request, and `"By=" + san` would build temporaries.
  std::string value;
  value.reserve(tls.local_uri_san.size() + tls.peer_cert_sha256.size() + tls.peer_uri_san.size() +
                16);
  if (!tls.local_uri_san.empty()) value.append("By=").append(tls.local_uri_san).append(";");
  value.append("Hash=").append(tls.peer_cert_sha256);
  if (!tls.peer_uri_san.empty()) value.append(";URI=").append(tls.peer_uri_san);
  return value;
}

http::FilterHeadersStatus HttpAuthzFilter::decodeHeaders(http::RequestHeaders& headers, bool) {
  network::Connection& connection = callbacks_->connection();
  const network::TlsInfo* tls = connection.tls();
  if (policy_ != nullptr && !policy_->check(connection.remoteAddress(), tls, &headers).allowed) {
    denied_ = true;
    callbacks_->sendLocalReply(403, "RBAC: access denied", "rbac_access_denied");
    return http::FilterHeadersStatus::kStopIteration;
  }
  // Only we may say who the client is: a client-supplied value never reaches the app.
  headers.headers.remove(kXfcc);
  if (tls != nullptr) {
    if (tls->peer_certificate_verified) {
      http::StreamInfo& info = callbacks_->streamInfo();
      info.downstream_peer_uri_san = tls->peer_uri_san;
      info.downstream_local_uri_san = tls->local_uri_san;
      info.downstream_mtls = tls->peer_certificate_presented;
    }
    if (std::string xfcc = forwardedClientCert(*tls); !xfcc.empty()) {
      headers.headers.set(kXfcc, xfcc);
    }
    headers.headers.set("x-forwarded-proto", "https");
  }
  return http::FilterHeadersStatus::kContinue;
}

}  // namespace podproxy::filters
