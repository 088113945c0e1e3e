#pragma once

// Header translation between podproxy's protocol-neutral messages and HTTP/2 header blocks:
// pseudo-headers, connection-specific fields (RFC 9113 8.2.2) and cookies (8.2.3).

#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/header_map.h"

namespace podproxy::http::http2 {

// A header block for nghttp2_submit_*: nghttp2 copies it, so the strings only need to outlive
// the submit call. Values added by name/value copy are kept here.
class HeaderBlock {
 public:
  // `name` and `value` must outlive the submit call.
  void addRef(std::string_view name, std::string_view value);
  // Copies `value` (synthesised values such as ":status").
  void addCopy(std::string_view name, std::string value);
  // Regular fields of `headers`, minus what HTTP/2 forbids or a proxy must not forward:
  // connection-specific fields and those the Connection header nominates, Host (carried in
  // :authority), pseudo-header look-alikes, and "te" unless it is "trailers" (kept only when
  // `keep_te_trailers`). `skip_content_length` drops Content-Length (204 responses).
  void addRegular(const HeaderMap& headers, bool keep_te_trailers, bool skip_content_length);

  const nghttp2_nv* data();
  size_t size() const { return refs_.size(); }

 private:
  std::vector<std::pair<std::string_view, std::string_view>> refs_;
  std::vector<std::unique_ptr<std::string>> owned_;
  std::vector<nghttp2_nv> nva_;
};

}  // namespace podproxy::http::http2
