#pragma once

// Cluster name -> the compact id Istio series keys carry (its index in the configuration), so a
// request's series is found without building label strings.

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "proxy/common/string_hash.h"
#include "proxy/stats/istio_stats.h"

namespace podproxy::telemetry {

class ClusterIndex {
 public:
  explicit ClusterIndex(const std::vector<config::Cluster>& clusters) {
    for (size_t i = 0; i < clusters.size() && i <= stats::kMaxClusterId; ++i) {
      ids_.emplace(clusters[i].name, static_cast<uint16_t>(i));
    }
  }
  // kNoCluster for "" and names not in the configuration.
  uint16_t id(std::string_view name) const {
    if (name.empty()) return stats::kNoCluster;
    const auto it = ids_.find(name);
    return it == ids_.end() ? stats::kNoCluster : it->second;
  }

 private:
  std::unordered_map<std::string, uint16_t, StringViewHash, std::equal_to<>> ids_;
};

}  // namespace podproxy::telemetry
