#include "proxy/tls/server_name_matcher.h"

#include <algorithm>

namespace podproxy::tls {

ServerNameMatcher::ServerNameMatcher(const std::vector<std::vector<std::string>>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    for (const std::string& name : names[i]) {
      if (name.starts_with("*.")) {
        suffixes_.emplace_back(name.substr(1), static_cast<int>(i));
      } else {
        exact_.emplace(name, static_cast<int>(i));
      }
    }
  }
  std::stable_sort(suffixes_.begin(), suffixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

int ServerNameMatcher::match(std::string_view sni) const {
  if (sni.empty()) return -1;
  std::string name(sni);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  if (name.ends_with('.')) name.pop_back();  // an absolute name is the same name
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  for (const auto& [suffix, chain] : suffixes_) {
    // The wildcard stands for at least one character: "*.example.com" is not "example.com".
    if (name.size() > suffix.size() && name.ends_with(suffix)) return chain;
  }
  return -1;
}

}  // namespace podproxy::tls
