#pragma once

// Picks a listener's filter chain by the TLS server name (SNI) the client sent.

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace podproxy::tls {

class ServerNameMatcher {
 public:
  // `names[i]`: chain i's names, exact ("api.example.com") or "*.example.com" (any name under
  // example.com), lower-case, unique across chains.
  explicit ServerNameMatcher(const std::vector<std::vector<std::string>>& names);

  // The chain for `sni` (compared case-insensitively), or -1 (the default chain): exact beats
  // wildcard, the longer wildcard beats the shorter.
  int match(std::string_view sni) const;

 private:
  std::unordered_map<std::string, int> exact_;
  std::vector<std::pair<std::string, int>> suffixes_;  // ".example.com", longest first
};

}  // namespace podproxy::tls
