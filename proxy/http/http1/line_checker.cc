#include "proxy/http/http1/line_checker.h"

#include <algorithm>
#include <cstdint>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace podproxy::http::http1 {

namespace {

// The first CR, LF or NUL in [p, end), or end. `begin` <= p: bytes before p may be read again
// (never past end), so a short tail costs one overlapping 16-byte load instead of a byte loop.
const char* findCrLfNul(const char* begin, const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i nul = _mm_setzero_si128();
  const auto mask = [&](const char* at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)), _mm_cmpeq_epi8(v, nul))));
  };
  for (; end - p >= 16; p += 16) {
    if (const unsigned m = mask(p); m != 0) return p + __builtin_ctz(m);
  }
  if (p == end) return end;
  if (end - begin >= 16) {
    const char* at = end - 16;
    const unsigned m = mask(at) >> (p - at);
    return m != 0 ? p + __builtin_ctz(m) : end;
  }
#endif
  for (; p < end; ++p) {
    if (*p == '\r' || *p == '\n' || *p == '\0') return p;
  }
  return end;
}

// Checks [p, end), which starts at a line start, in one pass of 64-byte blocks: true when it is
// whole lines, each "content CR LF" with no CR, LF or NUL in the content and no SP or HTAB
// first (empty lines allowed), possibly followed by the CR of one more (llhttp stops a head
// before the final LF). Updates the state as the line-by-line check would. False says nothing
// about where or whether the bytes are wrong, and leaves the state alone.
bool wholeCleanLines(const char* begin, const char* p, const char* end, bool& line_seen,
                     bool& prev_cr, bool& line_empty) {
#ifdef __SSE2__
  constexpr size_t kBlock = 64;  // four 16-byte loads make one 64-bit mask per byte class
  if (static_cast<size_t>(end - begin) < kBlock || p == end ||
      (end[-1] != '\n' && end[-1] != '\r')) {
    return false;
  }
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i sp = _mm_set1_epi8(' ');
  const __m128i ht = _mm_set1_epi8('\t');
  const __m128i nul = _mm_setzero_si128();
  uint64_t carry_cr = 0;  // the byte before the block was a CR
  uint64_t carry_lf = 1;  // the block starts a line
  uint64_t bad = 0;       // faults are rare: collected, tested once at the end
  uint64_t starts = 0;
  unsigned width = kBlock;
  // One block: `shift` drops the leading bytes of an overlapping last block. Returns the CRs
  // that end a non-empty line (a CR that does not start its line).
  const auto block = [&](const char* at, unsigned shift) {
    uint64_t m_cr = 0;
    uint64_t m_lf = 0;
    uint64_t m_nul = 0;
    uint64_t m_ws = 0;
    for (unsigned k = 0; k < kBlock; k += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + k));
      const auto bits = [&](__m128i m) {
        return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(m))) << k;
      };
      m_cr |= bits(_mm_cmpeq_epi8(v, cr));
      m_lf |= bits(_mm_cmpeq_epi8(v, lf));
      m_nul |= bits(_mm_cmpeq_epi8(v, nul));
      m_ws |= bits(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, ht)));
    }
    m_cr >>= shift;
    m_lf >>= shift;
    m_nul >>= shift;
    m_ws >>= shift;
    const uint64_t keep = ~uint64_t{0} >> shift;
    starts = ((m_lf << 1) | carry_lf) & keep;
    // Every LF right after a CR and every CR right before an LF (or the last byte); no NUL;
    // no folded line.
    bad |= m_nul | (m_lf ^ (((m_cr << 1) | carry_cr) & keep)) | (m_ws & starts);
    width = kBlock - shift;
    carry_cr = (m_cr >> (width - 1)) & 1;
    carry_lf = (m_lf >> (width - 1)) & 1;
    return m_cr & ~starts;
  };
  uint64_t ended = 0;  // of the last block
  bool content = false;
  for (; static_cast<size_t>(end - p) >= kBlock; p += kBlock) {
    content |= ended != 0;
    ended = block(p, 0);
  }
  if (p != end) {
    // The last partial block: the bytes ending at `end`, minus those already seen.
    content |= ended != 0;
    ended = block(end - kBlock, static_cast<unsigned>(kBlock - static_cast<size_t>(end - p)));
  }
  if (bad != 0) return false;
  if (carry_cr != 0) {
    // A CR as the last byte: its line is not complete until the LF comes.
    const uint64_t last = uint64_t{1} << (width - 1);
    ended &= ~last;
    prev_cr = true;
    line_empty = (starts & last) != 0;
  }
  if (content || ended != 0) line_seen = true;
  return true;
#else
  return false;
#endif
}

}  // namespace

void LineChecker::reset(Section section) {
  section_ = section;
  prev_cr_ = false;
  line_empty_ = true;
  line_seen_ = false;
  start_line_spaces_ = 0;
}

std::string_view LineChecker::endLine() {
  if (!line_empty_) {
    if (section_ == Section::kRequestHead && !line_seen_ && start_line_spaces_ != 2) {
      return "http1.invalid_request_line";
    }
    line_seen_ = true;
  }
  line_empty_ = true;
  return {};
}

std::string_view LineChecker::feed(std::string_view bytes) {
  // Line by line rather than byte by byte: memchr-based searches keep this off the profile.
  size_t i = 0;
  const char* const begin = bytes.data();
  const char* const end = begin + bytes.size();
  bool tried_whole = false;
  while (i < bytes.size()) {
    if (!tried_whole && !prev_cr_ && line_empty_ &&
        !(section_ == Section::kRequestHead && !line_seen_)) {
      // A whole head or trailer section arrives at once in the common case: check the rest
      // of it in one pass.
      tried_whole = true;
      if (wholeCleanLines(begin, begin + i, end, line_seen_, prev_cr_, line_empty_)) return {};
    }
    if (!prev_cr_ && line_empty_ && bytes[i] != ' ' && bytes[i] != '\t' &&
        !(section_ == Section::kRequestHead && !line_seen_)) {
      // Fast path for a field line: "content CR LF" with no LF or NUL in the content. Anything
      // else (and the request line, which has more rules) takes the byte-exact path below.
      const char* stop = findCrLfNul(begin, begin + i, end);
      if (end - stop >= 2 && stop[0] == '\r' && stop[1] == '\n') {
        if (stop != begin + i) line_seen_ = true;
        i = static_cast<size_t>(stop - begin) + 2;
        continue;
      }
    }
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
      return !line_seen_ && section_ != Section::kTrailers ? "http1.invalid_start_line"
                                                           : "http1.obs_fold";
    }
    const size_t cr = bytes.find('\r', i);
    const size_t end = cr == std::string_view::npos ? bytes.size() : cr;
    const std::string_view content = bytes.substr(i, end - i);
    if (!content.empty()) {
      if (content.find('\n') != std::string_view::npos) return "http1.bare_lf";
      if (content.find('\0') != std::string_view::npos) return "http1.nul_character";
      line_empty_ = false;
      if (section_ == Section::kRequestHead && !line_seen_) {
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
