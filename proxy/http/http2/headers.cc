#include "proxy/http/http2/headers.h"

#include "proxy/http/http1/header_rules.h"

namespace podproxy::http::http2 {

namespace {
nghttp2_nv makeNv(std::string_view name, std::string_view value) {
  return nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                    const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                    name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}
}  // namespace

void HeaderBlock::addRef(std::string_view name, std::string_view value) {
  if (size_ < kInline) {
    inline_[size_++] = makeNv(name, value);
    return;
  }
  if (overflow_.empty()) overflow_.assign(inline_.begin(), inline_.end());
  overflow_.push_back(makeNv(name, value));
  ++size_;
}

void HeaderBlock::addStatus(uint16_t status) {
  status_[0] = static_cast<char>('0' + status / 100 % 10);
  status_[1] = static_cast<char>('0' + status / 10 % 10);
  status_[2] = static_cast<char>('0' + status % 10);
  addRef(":status", std::string_view(status_, 3));
}

void HeaderBlock::addRegular(const HeaderMap& headers, bool keep_te_trailers,
                             bool skip_content_length, std::string_view skip_name) {
  const http1::ConnectionOptions connection = http1::parseConnection(headers);
  bool te_trailers = false;
  // RFC 9113 8.2.2: connection-specific fields (HTTP/1's hop-by-hop set; "te" is below).
  const uint32_t dropped = http1::kFieldHopByHop | http1::kFieldHost |
                           (skip_content_length ? http1::kFieldContentLength : 0);
  for (const HeaderMap::Entry& e : headers.entries()) {
    if (e.name.empty() || e.name.front() == ':') continue;
    const uint32_t kind = http1::classifyField(e.name);
    if (kind == http1::kFieldTe) {
      te_trailers = te_trailers || http1::teOffersTrailers(e.value);
      continue;
    }
    if ((kind & dropped) != 0 || http1::isNominated(connection, e.name)) continue;
    if (!skip_name.empty() && equalsIgnoreCase(e.name, skip_name)) continue;
    addRef(e.name, e.value);
  }
  // RFC 9113 8.2.2: "te" may only say "trailers" (gRPC needs it end to end).
  if (keep_te_trailers && te_trailers) addRef("te", "trailers");
}

}  // namespace podproxy::http::http2
