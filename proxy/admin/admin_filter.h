#pragma once

// The admin listener's only HTTP filter: answers /ready, /healthz, /config_dump, /stats and
// /quitquitquit locally. It never forwards anything.

#include "proxy/admin/admin_handler.h"
#include "proxy/http/filter.h"

namespace podproxy::admin {

class AdminFilter final : public http::StreamDecoderFilter {
 public:
  explicit AdminFilter(AdminHandler& handler) : handler_(handler) {}

  void setDecoderFilterCallbacks(http::StreamDecoderFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
  }
  http::FilterHeadersStatus decodeHeaders(http::RequestHeaders& headers, bool end_stream) override;
  http::FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override;
  http::FilterTrailersStatus decodeTrailers(http::TrailerMap&) override {
    return http::FilterTrailersStatus::kContinue;
  }

 private:
  void handle();
  void reply(uint16_t status, std::string_view content_type, std::string body);

  AdminHandler& handler_;
  http::StreamDecoderFilterCallbacks* callbacks_ = nullptr;
  std::string method_;
  std::string path_;
};

class AdminFilterFactory final : public http::FilterChainFactory {
 public:
  explicit AdminFilterFactory(AdminHandler& handler) : handler_(handler) {}
  void createFilterChain(http::FilterChainFactoryCallbacks& callbacks) override;

 private:
  AdminHandler& handler_;
};

}  // namespace podproxy::admin
