#pragma once

// The admin listener's only HTTP filter: answers the admin API locally (see README "Admin API")
// and never forwards anything. The same filter, restricted, serves the pod-reachable telemetry
// ports: /stats/prometheus (Istio's 15090) and /healthz/ready (Istio's 15021). Endpoints that
// gather stats from the workers answer asynchronously: the filter holds the request meanwhile.

#include <memory>
#include <string>

#include "proxy/admin/admin_handler.h"
#include "proxy/http/filter.h"

namespace podproxy::admin {

enum class AdminMode {
  kAdmin,   // every endpoint
  kStats,   // GET /stats/prometheus only
  kHealth,  // GET /healthz/ready only
};

class AdminFilter final : public http::StreamDecoderFilter {
 public:
  AdminFilter(AdminHandler& handler, AdminMode mode) : handler_(handler), mode_(mode) {}

  void setDecoderFilterCallbacks(http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& headers, bool end_stream) override;
  http::FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override;
  http::FilterTrailersStatus decodeTrailers(http::TrailerMap&) override {
    return http::FilterTrailersStatus::kContinue;
  }
  void onDestroy() override { *alive_ = false; }

 private:
  void handle();
  void handleAdmin();
  void replyReadiness();
  void reply(uint16_t status, std::string_view content_type, std::string body);
  // A callback that answers this request later, or does nothing if the stream is gone by then.
  AdminCallback later();
  bool localPeer() const;
  // The value of `name` in the query string, or "".
  std::string queryParam(std::string_view name) const;

  AdminHandler& handler_;
  const AdminMode mode_;
  http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string method_;
  std::string path_;
  std::string query_;
};

class AdminFilterFactory final : public http::FilterChainFactory {
 public:
  explicit AdminFilterFactory(AdminHandler& handler, AdminMode mode = AdminMode::kAdmin)
      : handler_(handler), mode_(mode) {}
  void createFilterChain(http::FilterChainFactoryCallbacks& callbacks) override;

 private:
  AdminHandler& handler_;
  const AdminMode mode_;
};

}  // namespace podproxy::admin
