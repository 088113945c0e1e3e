#include "proxy/http/http2/headers.h"

#include <memory>

#include "proxy/http/http1/header_rules.h"

namespace podproxy::http::http2 {

void HeaderBlock::addRef(std::string_view name, std::string_view value) {
  refs_.emplace_back(name, value);
}

void HeaderBlock::addCopy(std::string_view name, std::string value) {
  owned_.push_back(std::make_unique<std::string>(std::move(value)));
  refs_.emplace_back(name, *owned_.back());
}

void HeaderBlock::addRegular(const HeaderMap& headers, bool keep_te_trailers,
                             bool skip_content_length) {
  const http1::ConnectionOptions connection = http1::parseConnection(headers);
  bool te_trailers = false;
  for (const HeaderMap::Entry& e : headers.entries()) {
    if (e.name.empty() || e.name.front() == ':') continue;
    if (e.name == "te") {
      te_trailers = te_trailers || http1::teOffersTrailers(e.value);
      continue;
    }
    // RFC 9113 8.2.2: connection-specific fields (HTTP/1's hop-by-hop set; "te" is above).
    if (e.name == "host" || http1::isHopByHop(e.name) || http1::isNominated(connection, e.name)) {
      continue;
    }
    if (skip_content_length && e.name == "content-length") continue;
    addRef(e.name, e.value);
  }
  // RFC 9113 8.2.2: "te" may only say "trailers" (gRPC needs it end to end).
  if (keep_te_trailers && te_trailers) addRef("te", "trailers");
}

const nghttp2_nv* HeaderBlock::data() {
  nva_.clear();
  nva_.reserve(refs_.size());
  for (const auto& [name, value] : refs_) {
    nva_.push_back(nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                              const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                              name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nva_.data();
}

}  // namespace podproxy::http::http2
