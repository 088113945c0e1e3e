// LineChecker: the block-at-a-time fast paths must give exactly the verdicts of a plain
// byte-by-byte reading of RFC 9112 line rules, however the bytes are split across feed() calls.

#include "proxy/http/http1/line_checker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace podproxy::http::http1 {
namespace {

using Section = LineChecker::Section;

// The reference: the checker as it was before the fast paths, one step per line.
class ReferenceChecker {
 public:
  explicit ReferenceChecker(Section section) : section_(section) {}

  std::string_view feed(std::string_view bytes) {
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
          for (char c : content) start_line_spaces_ += c == ' ';
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

 private:
  std::string_view endLine() {
    if (!line_empty_) {
      if (section_ == Section::kRequestHead && lines_ == 0 && start_line_spaces_ != 2) {
        return "http1.invalid_request_line";
      }
      ++lines_;
    }
    line_empty_ = true;
    return {};
  }

  Section section_;
  bool prev_cr_ = false;
  bool line_empty_ = true;
  size_t lines_ = 0;
  size_t start_line_spaces_ = 0;
};

// Feeds `input` in pieces ending at `cuts`; the first error, or empty.
template <typename Checker>
std::string run(Checker& checker, std::string_view input, const std::vector<size_t>& cuts) {
  size_t at = 0;
  for (size_t cut : cuts) {
    if (cut <= at || cut > input.size()) continue;
    if (std::string_view err = checker.feed(input.substr(at, cut - at)); !err.empty()) {
      return std::string(err);
    }
    at = cut;
  }
  if (at < input.size()) return std::string(checker.feed(input.substr(at)));
  return {};
}

std::string check(Section section, std::string_view input, std::vector<size_t> cuts = {}) {
  LineChecker checker;
  checker.reset(section);
  return run(checker, input, cuts);
}

TEST(Http1LineChecker, AcceptsAWholeHead) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 09:32:30 GMT\r\n"
      "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n";
  EXPECT_EQ(check(Section::kResponseHead, head), "");
  // llhttp stops a head before its last LF.
  EXPECT_EQ(check(Section::kResponseHead, head.substr(0, head.size() - 1)), "");
  EXPECT_EQ(check(Section::kRequestHead, "GET /small HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n\r"),
            "");
}

TEST(Http1LineChecker, FindsEachFaultPastTheFirstBlock) {
  const std::string prefix = "HTTP/1.1 200 OK\r\nX-Long-Field-Name: 0123456789abcdef0123\r\n";
  EXPECT_EQ(check(Section::kResponseHead, prefix + "A: b\nC: d\r\n\r\n"), "http1.bare_lf");
  EXPECT_EQ(check(Section::kResponseHead, prefix + "A: b\rC: d\r\n\r\n"), "http1.bare_cr");
  EXPECT_EQ(check(Section::kResponseHead, prefix + "A: b" + std::string(1, '\0') + "\r\n\r\n"),
            "http1.nul_character");
  EXPECT_EQ(check(Section::kResponseHead, prefix + "A: b\r\n folded\r\n\r\n"), "http1.obs_fold");
  EXPECT_EQ(check(Section::kResponseHead, prefix + "A: b\r\n\tfolded\r\n\r\n"), "http1.obs_fold");
  EXPECT_EQ(check(Section::kResponseHead, " HTTP/1.1 200 OK\r\nServer: some-server\r\n\r\n"),
            "http1.invalid_start_line");
  EXPECT_EQ(check(Section::kRequestHead, "GET  /a HTTP/1.1\r\nHost: a-long-host-name\r\n\r\n"),
            "http1.invalid_request_line");
}

TEST(Http1LineChecker, MatchesTheByteByByteRulesOnRandomInput) {
  // Mostly well-formed lines with faults sprinkled in, split at random points: any
  // disagreement with the reference is a bug in a fast path.
  std::mt19937 rng(12345);
  const std::string_view pieces[] = {
      "abc", "Header-Name: value",     "0123456789abcdef", "\r\n", "\r\n", "\r\n", " ", "\t", "\r",
      "\n",  std::string_view("\0", 1)};
  const Section sections[] = {Section::kRequestHead, Section::kResponseHead, Section::kTrailers};
  size_t disagreements = 0;
  size_t errors_seen = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    const Section section = sections[round % 3];
    if (section == Section::kRequestHead && rng() % 4 != 0) input = "GET /path HTTP/1.1\r\n";
    const size_t n = rng() % 12;
    for (size_t k = 0; k < n; ++k) {
      // Faults (the last five pieces) one time in eight.
      const size_t pick = rng() % 8 == 0 ? 6 + rng() % 5 : rng() % 6;
      input.append(pieces[pick]);
    }
    if (rng() % 2 == 0) input.append("\r\n\r\n");
    std::vector<size_t> cuts;
    const size_t ncuts = input.empty() ? 0 : rng() % 4;
    for (size_t k = 0; k < ncuts; ++k) cuts.push_back(1 + rng() % input.size());
    std::sort(cuts.begin(), cuts.end());

    LineChecker checker;
    checker.reset(section);
    ReferenceChecker reference(section);
    const std::string got = run(checker, input, cuts);
    const std::string want = run(reference, input, cuts);
    if (!want.empty()) ++errors_seen;
    if (got != want) {
      ++disagreements;
      ADD_FAILURE() << "input " << ::testing::PrintToString(input) << ": got '" << got
                    << "', want '" << want << "'";
      if (disagreements > 5) break;
    }
  }
  EXPECT_EQ(disagreements, 0u);
  EXPECT_GT(errors_seen, 1000u);  // the faults were exercised, not only clean heads
}

}  // namespace
}  // namespace podproxy::http::http1
