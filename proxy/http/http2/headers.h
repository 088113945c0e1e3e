#pragma once

// Header translation between podproxy's protocol-neutral messages and HTTP/2 header blocks:
// pseudo-headers, connection-specific fields (RFC 9113 8.2.2) and cookies (8.2.3).

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http/header_map.h"

namespace podproxy::http::http2 {

// A header block for nghttp2_submit_*: nghttp2 copies it, so the strings only need to outlive
// the submit call. Built on the stack: the usual block fits inline, so a request or response
// costs no allocation here.
class HeaderBlock {
 public:
  HeaderBlock() = default;
  HeaderBlock(const HeaderBlock&) = delete;
  HeaderBlock& operator=(const HeaderBlock&) = delete;

  // `name` and `value` must outlive the submit call.
  void addRef(std::string_view name, std::string_view value);
  // ":status" with `status` (100..999), its digits kept in the block.
  void addStatus(uint16_t status);
  // Regular fields of `headers`, minus what HTTP/2 forbids or a proxy must not forward:
  // connection-specific fields and those the Connection header nominates, Host (carried in
  // :authority), pseudo-header look-alikes, and "te" unless it is "trailers" (kept only when
  // `keep_te_trailers`). `skip_content_length` drops Content-Length (204 responses), and
  // `skip_name` (lower case) one more field by name (RFC 8441's requests drop the RFC 6455 key).
  void addRegular(const HeaderMap& headers, bool keep_te_trailers, bool skip_content_length,
                  std::string_view skip_name = {});

  const nghttp2_nv* data() const { return overflow_.empty() ? inline_.data() : overflow_.data(); }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kInline = 32;
  std::array<nghttp2_nv, kInline> inline_;
  std::vector<nghttp2_nv> overflow_;  // every field, once more than kInline
  size_t size_ = 0;
  char status_[3] = {};
};

}  // namespace podproxy::http::http2
