#pragma once

// Checks the raw bytes of a message head or trailer section for what llhttp 8.1 (loose mode)
// accepts but RFC 9112 forbids, and what request smuggling relies on: bare LF or CR as a line
// end, NUL, obs-fold (line folding), and a request line that is not "method SP target SP
// version". Fed the same bytes llhttp consumed, section by section.

#include <cstddef>
#include <string_view>

namespace podproxy::http::http1 {

class LineChecker {
 public:
  enum class Section { kRequestHead, kResponseHead, kTrailers };

  void reset(Section section);
  // Returns an error detail ("http1.bare_lf"...) or an empty view when the bytes are fine.
  std::string_view feed(std::string_view bytes);

 private:
  std::string_view endLine();

  Section section_ = Section::kRequestHead;
  bool prev_cr_ = false;
  bool line_empty_ = true;
  bool line_seen_ = false;  // a non-empty line was completed
  size_t start_line_spaces_ = 0;
};

}  // namespace podproxy::http::http1
