#include "proxy/http/http1/line_checker.h"

#include <algorithm>

namespace podproxy::http::http1 {

void LineChecker::reset(Section section) {
  section_ = section;
  prev_cr_ = false;
  line_empty_ = true;
  lines_ = 0;
  start_line_spaces_ = 0;
}

std::string_view LineChecker::endLine() {
  if (!line_empty_) {
    if (section_ == Section::kRequestHead && lines_ == 0 && start_line_spaces_ != 2) {
      return "http1.invalid_request_line";
    }
    ++lines_;
  }
  line_empty_ = true;
  return {};
}

std::string_view LineChecker::feed(std::string_view bytes) {
  // Line by line rather than byte by byte: memchr-based searches keep this off the profile.
  size_t i = 0;
  while (i < bytes.size()) {
    if (prev_cr_) {
      if (bytes[i] != '\n') return "http1.bare_cr";
      prev_cr_ = false;
      ++i;
      if (std::string_view err = endLine(); !err.empty()) return err;
      continue;
    }
    if (line_empty_ && (bytes[i] == ' ' || bytes[i] == '\t')) {
      // A line starting with whitespace continues the previous field (obs-fold) or, before
      // the start line, hides it; RFC 9112 lets a server reject both.
      return lines_ == 0 && section_ != Section::kTrailers ? "http1.invalid_start_line"
                                                           : "http1.obs_fold";
    }
    const size_t cr = bytes.find('\r', i);
    const size_t end = cr == std::string_view::npos ? bytes.size() : cr;
    const std::string_view content = bytes.substr(i, end - i);
    if (!content.empty()) {
      if (content.find('\n') != std::string_view::npos) return "http1.bare_lf";
      if (content.find('\0') != std::string_view::npos) return "http1.nul_character";
      line_empty_ = false;
      if (section_ == Section::kRequestHead && lines_ == 0) {
        if (content.find('\t') != std::string_view::npos) return "http1.invalid_request_line";
        start_line_spaces_ += static_cast<size_t>(std::count(content.begin(), content.end(), ' '));
      }
    }
    i = end;
    if (cr != std::string_view::npos) {
      prev_cr_ = true;
      ++i;
    }
  }
  return {};
}

}  // namespace podproxy::http::http1
